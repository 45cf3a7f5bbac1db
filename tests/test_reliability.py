"""Stage 2: Eq. 1-5 on hand-computed cases, degenerate neurons, and the files of the reliability rules."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest

from neuroreg.reliability import oracle as rel
from neuroreg.files import InputError
from neuroreg.reliability.results import (fluctuations, read_fluctuations, run_reliability, scan_reliability,
                                     shared_group, write_fluctuations)
from neuroreg.ingest.scan import write_scan

from conftest import make_scan

# 2 neurons x 3 images x 2 repeats, as (images, repeats, neurons).
# neuron 0: image means 2, 5, 8; neuron 1: image means 1, 1, 1 (no signal).
HAND = np.array([[[1, 0], [3, 2]],
                 [[4, 2], [6, 0]],
                 [[7, 1], [9, 1]]], dtype=float)


def test_eq1_by_hand():
    # neuron 0: Var_i(2, 5, 8) ddof=1 = (9 + 0 + 9) / 2 = 9; trial variances (ddof=1) 2, 2, 2
    # neuron 1: means all 1 -> 0;                trial variances 2, 2, 0 -> mean 4/3
    np.testing.assert_allclose(rel.signal_strength(HAND), [3.0, 0.0])
    np.testing.assert_allclose(rel.noise_strength(HAND), [np.sqrt(2.0), np.sqrt(4 / 3)])
    np.testing.assert_allclose(rel.snr_weights(HAND), [3 / np.sqrt(2.0), 0.0])


def test_oracle_correlation_and_explainable_variance_by_hand():
    # neuron 0: trials 1 3 4 6 7 9, leave-one-out means 3 1 6 4 9 7: sum dxdy 30 / sum dx^2 42
    # neuron 1: trials 0 2 2 0 1 1, leave-one-out means 2 0 0 2 1 1: perfectly anti-correlated
    np.testing.assert_allclose(rel.oracle_correlation(HAND), [30 / 42, -1.0])
    # neuron 0: total variance 42 / 5 = 8.4, noise 2 -> 6.4 / 8.4; neuron 1: 0.8 vs noise 4/3 -> negative
    np.testing.assert_allclose(rel.explainable_variance(HAND), [6.4 / 8.4, 0.0])
    np.testing.assert_allclose(rel.explainable_variance(HAND, clip=False), [6.4 / 8.4, (0.8 - 4 / 3) / 0.8])


def test_oracle_similarity_by_hand():
    # w = (3/sqrt2, 0): only neuron 0 counts; centred trials -4 -2 | -1 1 | 2 4 -> unit vectors -1 -1 | -1 1 | 1 1
    s = rel.oracle_similarity(HAND, rel.snr_weights(HAND))
    expected = np.array([[1.0, 0.0, -1.0],
                         [0.0, -1.0, 0.0],   # S_11: the one pair t1 != t2 is (-1)(1); with t = t pairs it would be 0
                         [-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(s, expected, atol=1e-12)


def test_oracle_similarity_excludes_same_trial_pairs():
    # 2 neurons, 2 images x 3 repeats, already centred; image 1 = -image 0
    img0 = np.array([[1.0, 0], [0, 1], [3, 0]])  # unit vectors (1,0) (0,1) (1,0)
    trials = [img0, -img0]
    s = rel.oracle_similarity(trials, np.ones(2))
    # diagonal over the 6 ordered pairs t1 != t2: dot products 0, 1, 0 (twice each) -> 1/3 (with t = t: 5/9)
    # off-diagonal over all 9 pairs: -(3 * 1 + 2 * 1) / 9 = -5/9
    np.testing.assert_allclose(s, [[1 / 3, -5 / 9], [-5 / 9, 1 / 3]], atol=1e-12)
    # Eq. 5: S^data of pairs (0,1), (0,2), (1,2) minus S_ii = 1/3, per image
    np.testing.assert_allclose(rel.delta_repeat(trials, np.ones(2)), [-1 / 3, 2 / 3, -1 / 3] * 2, atol=1e-12)


def test_oracle_similarity_matches_brute_force_with_unequal_repeats():
    rng = np.random.default_rng(0)
    trials = [rng.gamma(2.0, 1.0, (r, 6)) for r in (2, 5, 3, 4)]
    w = rel.snr_weights(trials)
    r, image = rel.stack_trials(trials)
    e = r * w - (r * w).mean(axis=0)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    g = e @ e.T
    brute = np.zeros((4, 4))
    for i in range(4):
        for j in range(4):
            block = g[np.ix_(image == i, image == j)]
            brute[i, j] = block[~np.eye(len(block), dtype=bool)].mean() if i == j else block.mean()
    np.testing.assert_allclose(rel.oracle_similarity(trials, w), brute, atol=1e-12)
    assert rel.delta_repeat(trials, w).shape == (1 + 10 + 3 + 6,)
    # each image's Delta S^repeat averages to 0
    np.testing.assert_allclose(rel.delta_repeat(trials, w)[:1], 0.0, atol=1e-12)


def test_list_and_array_inputs_agree():
    arr = np.random.default_rng(1).gamma(2.0, 1.0, (4, 3, 5))
    for f in (rel.signal_strength, rel.noise_strength, rel.snr_weights, rel.oracle_correlation,
              rel.explainable_variance):
        np.testing.assert_array_equal(f(arr), f(list(arr)))
    w = rel.snr_weights(arr)
    np.testing.assert_array_equal(rel.oracle_similarity(arr, w), rel.oracle_similarity(list(arr), w))


def test_degenerate_neurons_get_finite_zero_weights():
    rng = np.random.default_rng(2)
    arr = rng.gamma(2.0, 1.0, (5, 4, 5))
    arr[..., 0] = 0.0                                   # silent
    arr[..., 1] = 3.7                                   # constant
    arr[..., 2] = np.arange(5)[:, None] * 1.0           # signal, no trial-to-trial noise: a frozen trace
    arr[..., 3] = np.float32(0.1)                       # constant in float32 (round-off variance)
    w = rel.snr_weights(arr.astype(np.float32))
    assert np.isfinite(w).all()
    np.testing.assert_array_equal(w[:4], 0.0)
    assert w[4] > 0
    for f in (rel.oracle_correlation, rel.explainable_variance):
        assert np.isfinite(f(arr)).all()
    s = rel.oracle_similarity(arr, w)
    assert np.isfinite(s).all() and np.allclose(s, s.T)
    # every weight zero: unit vectors are zero, similarity 0 rather than NaN
    np.testing.assert_array_equal(rel.oracle_similarity(arr, np.zeros(5)), 0.0)
    # w_a does not depend on a neuron's units
    np.testing.assert_allclose(rel.snr_weights(arr * [1, 1, 1, 1, 1000.0]), w)


def test_similarity_data_eq2():
    r = np.array([[1.0, 0], [0, 1], [1, 1]])
    e = rel.centered_unit_vectors(r)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0)
    s = rel.similarity_data(r)
    np.testing.assert_allclose(np.diag(s), 1.0)
    # mean row (2/3, 2/3); centred rows (1/3, -2/3), (-2/3, 1/3), (1/3, 1/3), norms sqrt5/3, sqrt5/3, sqrt2/3
    # e0.e1 = (-4/9) / (5/9) = -0.8;  e0.e2 = (-1/9) / (sqrt10/9) = -1/sqrt10
    np.testing.assert_allclose([s[0, 1], s[0, 2]], [-0.8, -1 / np.sqrt(10)], atol=1e-12)
    # weights scale neurons before centring: w = (1, 0) leaves only neuron 0 -> rows 1/3, -2/3, 1/3 -> signs
    np.testing.assert_allclose(rel.similarity_data(r, np.array([1.0, 0.0]))[0], [1, -1, 1], atol=1e-12)


def test_delta_scan_eq4():
    s1 = np.array([[1, .2, .0], [.2, 1, .6], [.0, .6, 1]])
    s2 = np.array([[1, .4, .2], [.4, 1, .6], [.2, .6, 1]])
    d = rel.delta_scan(np.stack([s1, s2]))
    assert d.shape == (2, 3)  # pairs (0,1), (0,2), (1,2)
    np.testing.assert_allclose(d, [[-.1, -.1, 0], [.1, .1, 0]], atol=1e-12)


def test_too_few_repeats_is_an_error():
    with pytest.raises(ValueError, match="at least 2 repeats"):
        rel.snr_weights([np.ones((1, 3)), np.ones((2, 3))])


# ------------------------------------------------------------------ files


def _scan_file(tmp_path, name, seed=0, ground_truth=False, **kw):
    scan = make_scan(seed=seed, **kw)
    if ground_truth:
        scan.ground_truth = {"snr": np.linspace(0.1, 1, scan.n_neurons)}
    path = tmp_path / f"{name}.h5"
    write_scan(scan, path)
    return path


def test_reliability_files(tmp_path):
    path = _scan_file(tmp_path, "s1", ground_truth=True)
    out_h5, out_csv = tmp_path / "rel" / "s1.h5", tmp_path / "rel" / "s1.csv"
    run_reliability(path, out_h5, out_csv, name="s1")
    with h5py.File(out_h5) as f:
        assert {"neuron_id", "signal_strength", "noise_strength", "snr_weight", "oracle_correlation",
                "explainable_variance", "oracle_image_id", "oracle_similarity", "delta_repeat",
                "true_snr"} <= set(f)
        assert f["oracle_similarity"].shape == (4, 4) and f["oracle_image_id"].shape == (4,)
        assert f.attrs["scan"] == "s1"
    df = pd.read_csv(out_csv)
    assert list(df.columns) == ["neuron_id", "signal_strength", "noise_strength", "snr_weight",
                                "oracle_correlation", "explainable_variance", "true_snr"]
    assert len(df) == 5 and np.isfinite(df.to_numpy()).all()
    run_reliability(_scan_file(tmp_path, "s2", seed=1), tmp_path / "s2r.h5", tmp_path / "s2r.csv")
    assert "true_snr" not in pd.read_csv(tmp_path / "s2r.csv")


def test_scan_without_repeats_is_an_input_error(tmp_path):
    scan = make_scan()
    scan.trial_image = np.arange(scan.n_trials)  # every trial its own image: no repeats
    scan.images = np.zeros((scan.n_trials, 6, 8), np.uint8)
    scan.image_id = np.arange(scan.n_trials)
    with pytest.raises(InputError, match="no image is shown more than once"):
        scan_reliability(scan, "my_scan.h5")
    path = _scan_file(tmp_path, "s", repeats=3)
    with pytest.raises(InputError, match="at least 4 repeats"):
        run_reliability(path, tmp_path / "o.h5", tmp_path / "o.csv", min_repeats=4)
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.csv").exists()


def test_fluctuations_group_scans_sharing_images(tmp_path):
    results = {}
    for name, seed in (("a", 0), ("b", 1)):
        results[name] = scan_reliability(make_scan(seed=seed))
    other = make_scan(seed=2)
    other.image_id = other.image_id + 1000  # saw different images
    results["c"] = scan_reliability(other)
    assert shared_group({k: r["oracle_image_id"] for k, r in results.items()})[0] == ["a", "b"]
    fl = fluctuations(results)
    assert fl["status"] == "ok" and fl["delta_scan"].shape == (2, 6)
    write_fluctuations(fl, tmp_path / "fl.h5", tmp_path / "order.csv")
    back = read_fluctuations(tmp_path / "fl.h5")
    assert back["scans"] == ["a", "b"] and set(back["delta_repeat"]) == {"a", "b", "c"}
    assert back["attrs"]["sd_scan"] > 0
    order = pd.read_csv(tmp_path / "order.csv")
    assert list(order.columns) == ["rank", "image_id"] and sorted(order.image_id) == list(fl["image_id"])
    single = fluctuations({"c": results["c"]})
    assert single["status"] == "skipped" and "fewer than 2 scans" in single["reason"]


def test_figures_smoke(tmp_path):
    from neuroreg.figures.reliability import plot_fluctuations, plot_oracle_similarity, plot_snr

    s = np.eye(4) * 0.5
    plot_oracle_similarity([("a", s), ("b", s)], tmp_path / "a.png")
    plot_fluctuations(np.linspace(-.1, .1, 10), np.linspace(-.3, .3, 20), tmp_path / "c.png")
    plot_snr({"a": np.arange(5.0)}, {"a": np.arange(5.0) + 1}, tmp_path / "s.png", repeats=10.0)
    assert all((tmp_path / f).exists() for f in ("a.png", "a.pdf", "c.png", "s.png"))


def test_reliability_comparison_figure(tmp_path):
    from neuroreg.figures.reliability import plot_reliability_comparison

    rng = np.random.default_rng(0)
    loo = {"v1": rng.uniform(-0.1, 0.9, 400), "antolik_region1": rng.uniform(0, 0.8, 100)}
    stats = pd.DataFrame({"name": ["v1", "antolik_region1"], "kind": ["virtual", "antolik2016"],
                          "small_r_data_oracle": [0.4, 0.6], "small_r_data_oracle_sd": [0.05, np.nan],
                          "small_noise_correlation": [0.05, 0.04], "small_noise_correlation_sd": [0.01, np.nan]})
    plot_reliability_comparison(loo, stats, tmp_path / "r.png", paper={"r_data_oracle": 0.39},
                                reference=("published", 0.1))
    assert (tmp_path / "r.png").stat().st_size > 2000 and (tmp_path / "r.pdf").exists()
