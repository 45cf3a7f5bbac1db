"""The verdict's statistics (neuroreg.effects): hand-computed cases, a brute-force bootstrap, and the coverage of
the interval on simulated data whose answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from neuroreg import effects


def test_accuracy_difference_is_welch():
    a, b = [0.5, 0.6, 0.7], [0.4, 0.5]
    e = effects.accuracy_difference(a, b)
    se = math.sqrt(0.01 / 3 + 0.005 / 2)
    df = (0.01 / 3 + 0.005 / 2) ** 2 / ((0.01 / 3) ** 2 / 2 + (0.005 / 2) ** 2 / 1)
    assert e.estimate == pytest.approx(0.15) and e.se == pytest.approx(se) and e.df == pytest.approx(df)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert (e.lo, e.hi) == pytest.approx((ci.low, ci.high))
    assert (e.n_a, e.n_b) == (3, 2)


def test_accuracy_difference_edge_cases():
    one = effects.accuracy_difference([0.5], [0.4, 0.5])
    assert one.estimate == pytest.approx(0.05) and math.isnan(one.lo) and math.isnan(one.hi)
    same = effects.accuracy_difference([0.5, 0.5], [0.4, 0.4])
    assert (same.lo, same.estimate, same.hi) == pytest.approx((0.1, 0.1, 0.1))
    assert math.isnan(effects.accuracy_difference([], [0.4]).estimate)
    assert effects.accuracy_difference([0.5, np.nan, 0.7], [0.4, 0.5]).n_a == 2


def test_mean_interval_is_the_t_interval():
    v = [0.8, 0.9, 0.95, 0.85]
    e = effects.mean_interval(v)
    ci = stats.t.interval(0.95, 3, loc=np.mean(v), scale=stats.sem(v))
    assert (e.lo, e.hi) == pytest.approx(ci)


def test_median_ratio_by_hand():
    # 2 seeds x 2 seeds x 3 images: the 12 log-ratios are {-1, 0 x3, 1 x4, 2 x3, 3} x log 2, median log 2
    da = np.array([[1.0, 2.0, 4.0], [2.0, 4.0, 8.0]])
    db = np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])
    v, s, t, i = effects.pair_log_ratios(da, db)
    assert sorted(np.round(v / math.log(2)).astype(int).tolist()) == [-1, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 3]
    e = effects.median_ratio(da, db, n_boot=200)
    assert e.estimate == pytest.approx(2.0) and e.n_images == 3 and e.scale == "ratio"
    assert e.lo < 2.0 < e.hi


def test_median_ratio_leaves_out_misclassified_and_keeps_failed_attacks():
    # NaN: the model misclassifies the image (not compared); inf: no adversarial found (more robust than any)
    da = np.array([[np.nan, 2.0, np.inf], [1.0, 2.0, 2.0]])
    db = np.array([[1.0, 1.0, 1.0], [1.0, np.nan, np.inf]])
    v, s, t, i = effects.pair_log_ratios(da, db)
    cells = {(a, b, c): x for x, a, b, c in zip(v, s, t, i)}
    assert (0, 0, 0) not in cells and (0, 1, 1) not in cells and (0, 1, 2) not in cells  # NaN, NaN, inf / inf
    assert cells[(0, 0, 2)] == np.inf and cells[(1, 1, 2)] == -np.inf
    assert cells[(1, 0, 0)] == pytest.approx(0.0) and cells[(0, 0, 1)] == pytest.approx(math.log(2))


def test_bootstrap_medians_equal_the_expanded_multisets():
    rng = np.random.default_rng(0)
    da, db = rng.lognormal(size=(3, 7)), rng.lognormal(size=(4, 7))
    da[0, 2] = np.nan
    v, s, t, i = effects.pair_log_ratios(da, db)
    got = effects.bootstrap_medians(v, s, t, i, (3, 4, 7), n_boot=5, seed=3, chunk=5)
    # the same draws, by brute force: expand every cell by its multiplicity, take the lower median
    g = np.random.default_rng(3)
    wa = g.multinomial(3, np.full(3, 1 / 3), size=5)
    wb = g.multinomial(4, np.full(4, 1 / 4), size=5)
    wi = g.multinomial(7, np.full(7, 1 / 7), size=5)
    for k in range(5):
        w = (wa[k, s] * wb[k, t] * wi[k, i]).astype(int)
        expanded = np.sort(np.repeat(v, w))
        want = expanded[(len(expanded) - 1) // 2] if len(expanded) else np.nan
        assert got[k] == pytest.approx(want)


def test_median_ratio_interval_collapses_without_variation():
    da = np.full((3, 10), 2.0)
    db = np.full((4, 10), 1.0)
    e = effects.median_ratio(da, db, n_boot=100)
    assert (e.lo, e.estimate, e.hi) == pytest.approx((2.0, 2.0, 2.0))


def test_median_ratio_covers_a_known_effect():
    """Simulated designs of 5 + 5 seeds x 300 images whose population median ratio is exp(0.3): per-image log
    distances shared by every model, a per-seed offset (seed variance) and per-cell noise, 40 % of the images
    misclassified at random. The 95 % interval must cover the truth in at least 90 % of the datasets whether the
    seeds or the cells dominate (measured: 0.96-1.0 over 200 datasets each; conservative when seeds matter little)."""
    rng = np.random.default_rng(1)
    for s_seed, s_cell in ((0.3, 0.2), (0.05, 0.5)):
        cover = 0
        reps = 60
        for r in range(reps):
            mu = rng.normal(-3, 1.0, 300)
            la = mu + rng.normal(0, s_seed, (5, 1)) + rng.normal(0, s_cell, (5, 300)) + 0.3
            lb = mu + rng.normal(0, s_seed, (5, 1)) + rng.normal(0, s_cell, (5, 300))
            da, db = np.exp(la), np.exp(lb)
            da[rng.random(da.shape) > 0.6] = np.nan
            db[rng.random(db.shape) > 0.6] = np.nan
            e = effects.median_ratio(da, db, n_boot=300, seed=r)
            cover += e.lo <= math.exp(0.3) <= e.hi
        assert cover / reps >= 0.9, (s_seed, s_cell, cover / reps)


@pytest.mark.parametrize("lo,hi,paper,null,word", [
    (0.01, 0.05, 0.30, 0.0, "holds"),            # the interval lies above 0, the paper's side
    (-0.02, 0.05, 0.30, 0.0, "does not hold"),   # reaches 0 and excludes the paper's +0.30
    (-0.02, 0.40, 0.30, 0.0, "inconclusive"),    # holds both 0 and +0.30
    (-0.30, -0.10, 0.30, 0.0, "does not hold"),  # the other side
    (-0.02, 0.05, math.nan, 0.0, "inconclusive"),  # no size stated: only the other side refutes
    (-0.08, -0.06, math.nan, -0.05, "does not hold"),  # clean cost beyond the 5-point margin
    (-0.04, 0.02, math.nan, -0.05, "holds"),     # clean cost within it
    (-0.6, 0.2, -0.5, 0.0, "inconclusive"),      # a paper effect below the null: its side is below
    (-0.3, 0.2, -0.5, 0.0, "does not hold"),
    (-0.8, -0.6, -0.5, 0.0, "holds"),
    (math.nan, math.nan, 0.3, 0.0, "inconclusive"),
])
def test_verdict(lo, hi, paper, null, word):
    assert effects.verdict(lo, hi, paper, null) == word


def test_detectable_effect():
    assert effects.detectable_effect(1.0, 1e6) == pytest.approx(1.95996 + 0.84162, rel=1e-4)
    assert effects.detectable_effect(0.01, 8) == pytest.approx((stats.t.ppf(0.975, 8) + stats.t.ppf(0.8, 8)) * 0.01)
    assert math.isnan(effects.detectable_effect(math.nan, 8))
