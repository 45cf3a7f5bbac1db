"""Effects of one condition over another, with 95 % confidence intervals, and the verdict on a claim.

Pure NumPy (and scipy's t quantiles): arrays in, numbers out. Two conditions A and B are compared on the
same test images; each has its own seeds (independent trainings), so seeds are the top level of the design
and images, shared by every model, the second.

* :func:`accuracy_difference`: mean over A's seeds minus mean over B's seeds of one accuracy (clean, or
  under noise), Welch's t interval over seeds (unequal variances, Welch-Satterthwaite degrees of freedom).
* :func:`median_ratio`: minimal adversarial distances, per image. For every pair (seed s of A, seed t of B)
  and every image i that both models classify correctly, the ratio d_A(s, i) / d_B(t, i) on the same image;
  the effect is the median of these ratios over all pairs and images. Its confidence interval comes from a
  hierarchical bootstrap: each replicate resamples A's seeds, B's seeds and the images (one draw of images
  shared by all models, as the images are shared; Owen 2007's bootstrap for crossed factors), and the
  replicate's statistic is the weighted median with those multiplicities. The interval is
  log effect +- t(df) x SE x sqrt(n / (n - 1)) on the log scale, with SE the bootstrap's standard deviation,
  df = n_A + n_B - 2 and n the mean number of seeds: with 5 seeds a percentile interval would cover about
  80 % (a bootstrap over n units has variance (n - 1) / n of the truth, and 1.96 is not t(8) = 2.31);
  ``tests/test_effects.py`` measures the coverage of this one on simulated data with a known answer.
* :func:`mean_interval`: a mean over seeds with its t interval (the final gamma).
* :func:`verdict`: holds / does not hold / inconclusive from an interval, the null value and the paper's
  effect (docs/RESULTS.md, "The verdict").
* :func:`detectable_effect`: the smallest effect a design with this standard error detects at 5 %
  two-sided with 80 % power, (t(0.975, df) + t(0.8, df)) x SE.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
LEVEL = 0.95


@dataclass(frozen=True)
class Effect:
    """An estimate with its 95 % interval. ``scale``: 'difference' (lo, hi around estimate) or 'ratio'
    (estimate, lo and hi are ratios; ``se`` is on the log scale). n_a, n_b: seeds; n_images: images used."""

    estimate: float
    lo: float
    hi: float
    se: float
    df: float
    n_a: int
    n_b: int
    n_images: int = 0
    scale: str = "difference"

    def as_dict(self) -> dict:
        return asdict(self)


NAN_EFFECT = dict(estimate=math.nan, lo=math.nan, hi=math.nan, se=math.nan, df=math.nan)


def _t(df: float, q: float = 0.5 + LEVEL / 2) -> float:
    return float(stats.t.ppf(q, df)) if df > 0 and math.isfinite(df) else math.nan


def accuracy_difference(a, b) -> Effect:
    """mean(a) - mean(b) of per-seed values (fractions), Welch's 95 % t interval over seeds.

    a: (n_a,), b: (n_b,) one value per seed (NaN ignored). With fewer than 2 seeds in either the interval is NaN.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    na, nb = len(a), len(b)
    if na == 0 or nb == 0:
        return Effect(**NAN_EFFECT, n_a=na, n_b=nb)
    est = float(a.mean() - b.mean())
    if na < 2 or nb < 2:
        return Effect(est, math.nan, math.nan, math.nan, math.nan, na, nb)
    va, vb = a.var(ddof=1) / na, b.var(ddof=1) / nb
    se = math.sqrt(va + vb)
    if se == 0:
        return Effect(est, est, est, 0.0, float(na + nb - 2), na, nb)
    df = (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))
    h = _t(df) * se
    return Effect(est, est - h, est + h, se, float(df), na, nb)


def mean_interval(v) -> Effect:
    """The mean of per-seed values with its 95 % t interval (n - 1 degrees of freedom)."""
    v = np.asarray(v, dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return Effect(**NAN_EFFECT, n_a=0, n_b=0)
    m = float(v.mean())
    if n < 2:
        return Effect(m, math.nan, math.nan, math.nan, math.nan, n, 0)
    se = float(v.std(ddof=1) / math.sqrt(n))
    h = _t(n - 1) * se
    return Effect(m, m - h, m + h, se, float(n - 1), n, 0)


def pair_log_ratios(da: np.ndarray, db: np.ndarray):
    """The cells of :func:`median_ratio`: log d_A(s, i) - log d_B(t, i) for every seed pair and image.

    da: (n_a, N), db: (n_b, N) minimal distances on the same N images, NaN where that model misclassifies
    the image (it is not compared), inf where its attacks found no adversarial (the image counts as more robust
    than any distance found). Returns (values (M,), s (M,), t (M,), i (M,)) of the M cells where both are
    compared (inf / inf, 0 and negative distances are left out).
    """
    da = np.asarray(da, dtype=np.float64)
    db = np.asarray(db, dtype=np.float64)
    if da.ndim != 2 or db.ndim != 2 or da.shape[1] != db.shape[1]:
        raise ValueError(f"median_ratio: need (seeds, images) arrays on the same images, got {da.shape} and {db.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        la = np.where(da > 0, np.log(da), np.nan)
        lb = np.where(db > 0, np.log(db), np.nan)
        cells = la[:, None, :] - lb[None, :, :]  # (n_a, n_b, N)
    ok = ~np.isnan(cells)
    s, t, i = np.nonzero(ok)
    return cells[ok], s, t, i


def median_ratio(da, db, *, n_boot: int = 2000, seed: int = 0) -> Effect:
    """Median over seed pairs and images of d_A / d_B, with the hierarchical-bootstrap interval (module doc).

    da: (n_a, N), db: (n_b, N) as :func:`pair_log_ratios`. Returns an Effect on the ratio scale
    (``se`` on the log scale); NaN when no image is compared, a NaN interval with one seed in either.
    """
    da = np.atleast_2d(np.asarray(da, dtype=np.float64))
    db = np.atleast_2d(np.asarray(db, dtype=np.float64))
    v, s, t, i = pair_log_ratios(da, db)
    na, nb, n_img = da.shape[0], db.shape[0], len(np.unique(i))
    if len(v) == 0:
        return Effect(**NAN_EFFECT, n_a=na, n_b=nb, n_images=0, scale="ratio")
    est = float(np.median(v))
    if na < 2 or nb < 2:
        return Effect(math.exp(est), math.nan, math.nan, math.nan, math.nan, na, nb, n_img, "ratio")
    boot = bootstrap_medians(v, s, t, i, (na, nb, da.shape[1]), n_boot=n_boot, seed=seed)
    boot = boot[np.isfinite(boot)]
    se = float(boot.std(ddof=1)) if len(boot) > 1 else math.nan
    n = (na + nb) / 2
    df = float(na + nb - 2)
    h = _t(df) * se * math.sqrt(n / (n - 1))
    if not math.isfinite(est):
        return Effect(math.exp(est), math.nan, math.nan, se, df, na, nb, n_img, "ratio")
    return Effect(math.exp(est), math.exp(est - h), math.exp(est + h), se, df, na, nb, n_img, "ratio")


def bootstrap_medians(v, s, t, i, shape, *, n_boot: int = 2000, seed: int = 0, chunk: int = 250) -> np.ndarray:
    """(n_boot,) weighted medians of the cells ``v`` (seed of A ``s``, seed of B ``t``, image ``i``) when A's
    seeds, B's seeds and the images (shape = (n_a, n_b, N)) are each resampled with replacement; a replicate
    whose resampled cells are all empty gives NaN. The cells are sorted once; each replicate is a cumulative
    sum of its multiplicities in that order (the lower weighted median)."""
    na, nb, n_images = shape
    order = np.argsort(v, kind="stable")
    v, s, t, i = v[order], s[order], t[order], i[order]
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for start in range(0, n_boot, chunk):
        k = min(chunk, n_boot - start)
        wa = rng.multinomial(na, np.full(na, 1 / na), size=k).astype(np.float64)
        wb = rng.multinomial(nb, np.full(nb, 1 / nb), size=k).astype(np.float64)
        wi = rng.multinomial(n_images, np.full(n_images, 1 / n_images), size=k).astype(np.float64)
        w = wa[:, s] * wb[:, t] * wi[:, i]  # (k, M) in sorted order
        c = np.cumsum(w, axis=1)
        total = c[:, -1]
        pos = (c < (total / 2)[:, None]).sum(1)
        pos = np.minimum(pos, len(v) - 1)
        out[start : start + k] = np.where(total > 0, v[pos], np.nan)
    return out


def verdict(lo: float, hi: float, paper: float, null: float = 0.0) -> str:
    """One word for a claim from its 95 % interval [lo, hi] (docs/RESULTS.md, "The verdict").

    The paper's side is the side of ``null`` where ``paper`` lies (above when the paper gives no size,
    ``paper`` NaN). holds: the interval lies on the paper's side of ``null``. does not hold: it excludes the
    paper's effect and reaches ``null`` or the other side (without a stated size: it lies wholly on the other
    side). inconclusive: it holds both ``null`` and the paper's effect (or its interval is undefined).
    Ratios are judged on the log scale by the caller (null 0 = ratio 1).
    """
    if not (math.isfinite(lo) and math.isfinite(hi)) and not (math.isinf(hi) and math.isfinite(lo)):
        return INCONCLUSIVE
    sign = 1.0 if not math.isfinite(paper) or paper >= null else -1.0
    lo_s, hi_s = sorted(((lo - null) * sign, (hi - null) * sign))
    if lo_s > 0:
        return HOLDS
    if math.isfinite(paper):
        return FAILS if hi_s < (paper - null) * sign else INCONCLUSIVE
    return FAILS if hi_s < 0 else INCONCLUSIVE


def detectable_effect(se: float, df: float, power: float = 0.8) -> float:
    """The smallest true effect found significant (5 %, two-sided) with probability ``power``:
    (t(0.975, df) + t(power, df)) x se, on the scale of ``se``."""
    if not (math.isfinite(se) and df > 0):
        return math.nan
    return (_t(df) + _t(df, power)) * se
