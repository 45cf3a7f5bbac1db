"""The virtual V1 experiment: neurons, eye shifts, behaviour gain, noise, ground truth and the scan contract."""

import h5py
import numpy as np
import pytest

from neuroreg.ingest import virtual_scan as vs
from neuroreg.ingest import virtual_v1 as v1
from neuroreg.files import InputError
from neuroreg.ingest.scan import read_scan


def smooth_images(n, seed=0, shape=(36, 64)):
    """Natural-ish uint8 images: random noise blurred at several scales."""
    rng = np.random.default_rng(seed)
    f = np.fft.rfft2(rng.standard_normal((n, *shape)))
    fy = np.fft.fftfreq(shape[0])[:, None]
    fx = np.fft.rfftfreq(shape[1])[None, :]
    img = np.fft.irfft2(f / np.maximum(np.hypot(fx, fy), 1 / 64), s=shape)
    img = 128 + 45 * img / img.std(axis=(1, 2), keepdims=True)
    return np.clip(img, 0, 255).astype(np.uint8)


GROUND_TRUTH = ("image_response", "trial_mean", "snr", "latent", "latent_internal", "latent_gain_loading",
                "latent_additive_loading")


def tiny(n_once=20, n_oracle=10, repeats=4, n_neurons=50, animal=1, session=1, seed=7, images=None):
    images = smooth_images(n_once + n_oracle) if images is None else images
    is_oracle = np.arange(len(images)) >= n_once
    return vs.simulate_scan(images, 100 + np.arange(len(images)), is_oracle, animal=animal, session=session,
                            n_neurons=n_neurons, repeats=repeats, seed=seed)


def test_determinism_bit_identical():
    a, b = tiny(), tiny()
    for key in ("responses", "trial_image", "behavior", "pupil_center", "neuron_id"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    np.testing.assert_array_equal(a.tier, b.tier)
    assert set(a.ground_truth) == set(b.ground_truth) == set(GROUND_TRUTH)
    for key in GROUND_TRUTH:
        np.testing.assert_array_equal(a.ground_truth[key], b.ground_truth[key])
    other = tiny(seed=8)
    assert not np.array_equal(a.ground_truth["latent"], other.ground_truth["latent"])
    assert not np.array_equal(a.ground_truth["latent_additive_loading"], other.ground_truth["latent_additive_loading"])


def test_different_scans_differ():
    a, b, c = tiny(), tiny(session=2), tiny(animal=2)
    for other in (b, c):
        assert not set(a.neuron_id) & set(other.neuron_id)
        assert not np.array_equal(a.responses, other.responses)
        assert not np.allclose(a.ground_truth["image_response"], other.ground_truth["image_response"])
    assert a.neuron_id[0] == 1 * 10**6 + 1 * 10**4 and b.neuron_id[0] == 1 * 10**6 + 2 * 10**4


def test_nonnegative_and_finite():
    s = tiny()
    for arr in (s.responses, s.ground_truth["trial_mean"], s.ground_truth["image_response"]):
        assert np.isfinite(arr).all() and (arr >= 0).all()
    assert (s.responses == 0).any()  # deconvolved-trace-like exact zeros


def test_fano_factor_above_one():
    s = tiny()
    pop = v1.make_population(50, seed=7, animal=1, session=1)
    mean = s.ground_truth["trial_mean"][:3]  # (3, 50)
    reps = vs.sample_responses(np.repeat(mean, 4000, axis=0), pop.noise_k, 2.0, np.random.default_rng(0))
    reps = reps.reshape(3, 4000, -1)
    m, v = reps.mean(1), reps.var(1)
    ok = mean > 0.05
    assert ok.sum() > 20
    np.testing.assert_allclose(m[ok], mean[ok], rtol=0.35)
    assert (v[ok] / m[ok] > 1).all()


def test_empirical_snr_tracks_true_snr():
    s = tiny(n_once=10, n_oracle=20, repeats=40, n_neurons=50)
    _, oracle = s.oracle_responses()
    r = np.stack(oracle)  # (images, repeats, neurons)
    sigma2 = r.mean(1).var(0, ddof=1)  # Eq. 1: Var_i E_t
    eta2 = r.var(1, ddof=1).mean(0)  # E_i Var_t
    empirical = np.sqrt(sigma2 / eta2)
    true = s.ground_truth["snr"]
    assert np.corrcoef(empirical, true)[0, 1] > 0.8
    assert true.min() > 0 and true.max() / true.min() > 5  # a real range of reliabilities


def one_neuron(centre, orientation=0.0, phase=0.0, period=12.0, sigma=4.0, is_complex=False):
    pop = v1.make_population(1, seed=0, animal=1, session=1)
    pop.centre = np.array([centre], float)
    pop.is_complex = np.array([is_complex])
    args = ((36, 64), pop.centre, np.array([orientation]), np.array([period]), np.array([sigma]), np.array([1.0]))
    pop.filters, pop.quadrature = v1.gabor_pair(*args, np.array([phase]))
    pop.threshold = np.array([0.0])
    return pop


def edge_image():
    img = np.full((1, 36, 64), 60, np.uint8)
    img[:, :, 32:] = 200  # vertical edge at x = 32
    return img


def test_eye_shift_moves_receptive_field():
    img = edge_image()
    pop = v1.calibrate(one_neuron((30.0, 18.0), phase=np.pi / 2), smooth_images(40))
    d = np.array([[-2, 1]])
    centred, shifted = v1.rates(pop, img), v1.rates(pop, img, d)
    assert shifted[0, 0] > 2 * centred[0, 0] + 0.1  # the edge now falls on the RF's preferred side
    # the eye at d == the image translated by -d
    np.testing.assert_allclose(shifted, v1.rates(pop, v1.shift_images(img, -d[0])), rtol=1e-6)
    # ... == the receptive field moved to centre + d (filters rebuilt analytically)
    moved = one_neuron((28.0, 19.0), phase=np.pi / 2)
    moved.drive_mean, moved.drive_std = pop.drive_mean, pop.drive_std
    np.testing.assert_allclose(shifted, v1.rates(moved, img), rtol=1e-3, atol=1e-4)


def test_shift_images_convention():
    x = np.zeros((1, 4, 5), np.float32)
    x[0, 1, 1] = 1
    y = v1.shift_images(x, (2, 1))
    assert y[0, 2, 3] == 1 and y.sum() == 1


def test_running_raises_gain():
    pop = v1.make_population(2, seed=0, animal=1, session=1)
    pop.b_behavior = np.array([[0.0, 0.0, 0.4], [0.0, 0.0, -0.4]])
    rng = np.random.default_rng(0)
    behavior = np.stack([20 + rng.standard_normal(50), rng.standard_normal(50), np.linspace(0, 30, 50)], 1)
    g = vs.behavior_gain(pop, behavior)
    assert (np.diff(g[:, 0]) > 0).all() and (np.diff(g[:, 1]) < 0).all()
    # behaviour at its mean gives gain 1 (z = 0)
    np.testing.assert_allclose(vs.behavior_gain(pop, np.vstack([behavior, behavior.mean(0)]))[-1], 1, atol=1e-2)


def test_ground_truth_consistent_with_model():
    images = smooth_images(30)
    s = tiny(images=images)
    pop = v1.calibrate(v1.make_population(50, seed=7, animal=1, session=1), images)
    np.testing.assert_allclose(s.ground_truth["image_response"], v1.rates(pop, images), rtol=1e-5)
    np.testing.assert_array_equal(s.ground_truth["latent_gain_loading"], pop.latent_gain)
    np.testing.assert_array_equal(s.ground_truth["latent_additive_loading"], pop.latent_additive)
    x = s.ground_truth["latent"]
    gain = vs.behavior_gain(pop, s.behavior) * np.exp(x @ pop.latent_gain.T)
    offset = pop.rate * (x @ pop.latent_additive.T)
    shifts = np.rint(s.pupil_center).astype(int)
    expected = np.maximum(gain * v1.rates(pop, images[s.trial_image], shifts) + offset, 0)
    np.testing.assert_allclose(s.ground_truth["trial_mean"], expected, rtol=1e-4, atol=1e-5)
    assert (s.ground_truth["trial_mean"] == 0).any()  # the additive input can silence a neuron
    assert (np.abs(s.pupil_center) > 0.5).any()  # the eye does move


def test_trials_and_tiers_follow_contract():
    n_once, n_oracle, repeats = 40, 6, 5
    s = tiny(n_once=n_once, n_oracle=n_oracle, repeats=repeats)
    assert s.n_trials == n_once + n_oracle * repeats
    counts = s.repeats_per_image()
    assert (counts[:n_once] == 1).all() and (counts[n_once:] == repeats).all()
    is_oracle_trial = s.trial_image >= n_once
    assert (s.tier[is_oracle_trial] == "test").all() and (s.tier[~is_oracle_trial] != "test").all()
    assert (s.tier == "validation").sum() == round(0.1 * n_once)
    assert not np.array_equal(s.trial_image, np.sort(s.trial_image))  # shuffled
    assert s.behavior.shape == (s.n_trials, 3) and s.pupil_center.shape == (s.n_trials, 2)
    assert s.ground_truth["trial_mean"].shape == s.responses.shape
    assert s.ground_truth["image_response"].shape == (n_once + n_oracle, 50)


def write_stimuli(path, n_once=20, n_oracle=5, drop=None):
    images = smooth_images(n_once + n_oracle)
    data = {"images": images, "image_id": np.arange(len(images), dtype=np.int64) * 3,
            "is_oracle": np.arange(len(images)) >= n_once,
            "name": np.array([f"p{i}.jpg".encode() for i in range(len(images))])}
    with h5py.File(path, "w") as f:
        for k, v in data.items():
            if k != drop:
                f[k] = v
    return data


def test_written_scan_reads_back(tmp_path):
    stim = write_stimuli(tmp_path / "stimuli.h5")
    out = tmp_path / "scans" / "v1_a1_s1.h5"
    vs.simulate_scan_file(tmp_path / "stimuli.h5", out, scan_name="v1_a1_s1", animal=1, session=1,
                          virtual_v1={"n_neurons": 30, "complex_fraction": 0.4, "scans": {}}, repeats=3, seed=1)
    scan = read_scan(out)
    assert scan.attrs["source"] == "virtual_v1" and scan.attrs["scan"] == "v1_a1_s1"
    assert scan.attrs["animal"] == 1 and scan.attrs["session"] == 1
    np.testing.assert_array_equal(scan.images, stim["images"])
    np.testing.assert_array_equal(scan.image_id, stim["image_id"])
    assert set(scan.ground_truth) == set(GROUND_TRUTH)
    assert scan.ground_truth["snr"].shape == (30,)
    k = v1.V1Params().latent_factors
    assert scan.ground_truth["latent"].shape == scan.ground_truth["latent_internal"].shape == (scan.n_trials, k)
    assert scan.ground_truth["latent_gain_loading"].shape == scan.ground_truth["latent_additive_loading"].shape \
        == (30, k)


def test_bad_stimuli_raise_and_leave_no_output(tmp_path):
    write_stimuli(tmp_path / "stimuli.h5", drop="is_oracle")
    out = tmp_path / "scan.h5"
    with pytest.raises(InputError, match="is_oracle"):
        vs.simulate_scan_file(tmp_path / "stimuli.h5", out, scan_name="x", animal=1, session=1,
                              virtual_v1={"n_neurons": 5}, repeats=3, seed=1)
    assert not out.exists() and not list(tmp_path.glob(".scan*"))


def test_unknown_config_key_is_an_error():
    assert v1.V1Params.from_config({"n_neurons": 3, "scans": {}, "eye_sd_px": 2}).eye_sd_px == 2
    with pytest.raises(ValueError, match="eye_sd"):
        v1.V1Params.from_config({"eye_sd": 2})
