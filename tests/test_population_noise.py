"""Shared trial-to-trial variability of the virtual V1 (issue 13): latent factors, loadings, their effect
on noise correlations and single-trial similarity, and the true SNR that includes them."""

import dataclasses

import numpy as np
import pytest

from neuroreg.reliability import oracle as rel
from neuroreg.ingest import virtual_scan as vs
from neuroreg.ingest import virtual_v1 as v1
from neuroreg.ingest.scan import read_scan, write_scan
from neuroreg.similarity.targets import correlations
from test_virtual_v1 import smooth_images


def scan_with(params=None, n_once=20, n_oracle=12, repeats=8, n_neurons=300, seed=3, images=None):
    images = smooth_images(n_once + n_oracle, seed=1) if images is None else images
    is_oracle = np.arange(len(images)) >= n_once
    return vs.simulate_scan(images, np.arange(len(images)), is_oracle, animal=1, session=1, n_neurons=n_neurons,
                            repeats=repeats, seed=seed, params=params)


def oracle_trials(scan):
    return scan.oracle_responses()[1]


def test_latent_shapes_unit_variance_and_autocorrelation():
    rng = np.random.default_rng(0)
    behavior, _ = vs.simulate_behavior(20000, rng)
    x, internal = vs.simulate_latents(behavior, 4, 0.25, 0.5, np.random.default_rng(1))
    assert x.shape == internal.shape == (20000, 4)
    np.testing.assert_allclose(x.std(0), 1, atol=0.05)
    np.testing.assert_allclose(x.mean(0), 0, atol=0.05)
    lag1 = [np.corrcoef(internal[1:, k], internal[:-1, k])[0, 1] for k in range(4)]
    np.testing.assert_allclose(lag1, 0.5, atol=0.05)
    none, none_internal = vs.simulate_latents(behavior, 0, 0.25, 0.5, np.random.default_rng(1))
    assert none.shape == none_internal.shape == (20000, 0)


@pytest.mark.parametrize("share", [0.0, 0.25, 0.7, 1.0])
def test_behaviour_explains_the_configured_share(share):
    behavior, _ = vs.simulate_behavior(20000, np.random.default_rng(2))
    x, internal = vs.simulate_latents(behavior, 3, share, 0.5, np.random.default_rng(3))
    z = np.column_stack([np.ones(len(x)), behavior[:, [0, 2]]])  # pupil size, running speed
    fit = z @ np.linalg.lstsq(z, x, rcond=None)[0]
    r2 = 1 - ((x - fit) ** 2).sum(0) / ((x - x.mean(0)) ** 2).sum(0)
    np.testing.assert_allclose(r2, share, atol=0.04)
    np.testing.assert_allclose(internal.var(0), 1 - share, atol=0.05)


def test_behaviour_share_outside_unit_interval_is_an_error():
    behavior, _ = vs.simulate_behavior(50, np.random.default_rng(0))
    with pytest.raises(ValueError, match="latent_behavior_share"):
        vs.simulate_latents(behavior, 2, 1.5, 0.5, np.random.default_rng(0))


def test_loadings_per_neuron_from_the_population_distribution():
    p = v1.V1Params(latent_factors=3, latent_gain_mean=0.2, latent_gain_sd=0.1, latent_additive_mean=0.15,
                    latent_additive_sd=0.3)
    gain, additive = v1.latent_loadings(20000, p, np.random.default_rng(0))
    assert gain.shape == additive.shape == (20000, 3)
    np.testing.assert_allclose(gain.mean(0), [0.2, 0, 0], atol=0.01)
    np.testing.assert_allclose(additive.mean(0), [0.15, 0, 0], atol=0.01)
    np.testing.assert_allclose(gain.std(0), 0.1, rtol=0.03)
    np.testing.assert_allclose(additive.std(0), 0.3, rtol=0.03)
    # the other neuron parameters do not depend on the latent settings
    a = v1.make_population(50, seed=1, animal=1, session=1, params=p)
    b = v1.make_population(50, seed=1, animal=1, session=1, params=dataclasses.replace(p, latent_factors=0))
    np.testing.assert_array_equal(a.rate, b.rate)
    np.testing.assert_array_equal(a.filters, b.filters)
    assert b.latent_gain.shape == (50, 0)


def test_no_latent_factors_is_the_private_noise_model(tmp_path):
    images = smooth_images(30, seed=4)
    s = scan_with(v1.V1Params(latent_factors=0), n_neurons=40, images=images)
    pop = v1.calibrate(v1.make_population(40, seed=3, animal=1, session=1), images)
    shifts = np.rint(s.pupil_center).astype(int)
    expected = vs.behavior_gain(pop, s.behavior) * v1.rates(pop, images[s.trial_image], shifts)
    np.testing.assert_allclose(s.ground_truth["trial_mean"], expected, rtol=1e-5)
    assert s.ground_truth["latent"].shape == (s.n_trials, 0)
    write_scan(s, tmp_path / "k0.h5")  # empty (n, 0) ground-truth arrays round-trip
    back = read_scan(tmp_path / "k0.h5")
    assert back.ground_truth["latent"].shape == (s.n_trials, 0)
    assert back.ground_truth["latent_additive_loading"].shape == (40, 0)


def test_shared_noise_raises_noise_correlations_and_lowers_single_trial_similarity():
    images = smooth_images(32, seed=1)
    shared = scan_with(images=images)  # the defaults: shared noise
    private = scan_with(v1.V1Params(latent_factors=0), images=images)
    stats = {}
    for name, s in (("shared", shared), ("private", private)):
        trials = oracle_trials(s)
        nc = rel.noise_correlations(trials)
        iu = np.triu_indices(len(nc), 1)
        stats[name] = (nc[iu].mean(), rel.single_trial_similarity_correlation(trials, rel.snr_weights(trials)))
    assert stats["shared"][0] > stats["private"][0] + 0.02
    assert stats["shared"][1] < stats["private"][1] - 0.1


def test_noise_correlations_by_hand():
    # two images x 3 repeats, 3 neurons: residuals of neuron 1 = - those of neuron 0, neuron 2 constant
    a = np.array([[1.0, 5.0, 2.0], [2.0, 4.0, 2.0], [3.0, 3.0, 2.0]])
    trials = [a, a + 10]
    c = rel.noise_correlations(trials)
    np.testing.assert_allclose(c, [[1, -1, 0], [-1, 1, 0], [0, 0, 1]], atol=1e-12)


def test_single_trial_similarity_correlation_is_fig1d_r():
    s = scan_with(n_neurons=60, n_oracle=8, repeats=4)
    trials = oracle_trials(s)
    w = rel.snr_weights(trials)
    e, image = rel.trial_unit_vectors(trials, w)
    so = rel.oracle_similarity(trials, w)
    comp = {"oracle_image_id": np.arange(len(so)), "oracle": so, "model": so, "data_trials": e @ e.T,
            "trial_oracle": image}
    assert rel.single_trial_similarity_correlation(trials, w) == pytest.approx(correlations(comp)["r_data_oracle"],
                                                                               abs=1e-12)


def test_true_snr_includes_the_shared_variance_monte_carlo():
    """The saved true SNR against a Monte Carlo estimate of Eq. 1 over the scan's trial states."""
    images = smooth_images(26, seed=5)
    params = v1.V1Params()
    s = scan_with(params, n_once=16, n_oracle=10, repeats=6, n_neurons=25, images=images)
    pop = v1.calibrate(v1.make_population(25, seed=3, animal=1, session=1, params=params), images)
    oracle = s.oracle_images()
    shifts = np.rint(s.pupil_center).astype(np.int64)
    _, shift_index, f_oracle = vs.oracle_rates(pop, images[oracle], shifts)
    gain, offset = vs.latent_modulation(pop, s.ground_truth["latent"])
    gain *= vs.behavior_gain(pop, s.behavior)
    snr = vs.true_snr(pop, f_oracle, shift_index, gain, offset, params.event_amplitude_shape)
    np.testing.assert_allclose(s.ground_truth["snr"], snr, rtol=1e-6)

    rng = np.random.default_rng(0)
    n_draws = 40000
    means, variances = [], []
    for i in range(len(oracle)):
        state = rng.integers(0, s.n_trials, n_draws)  # a trial state drawn from the scan's trials
        m = vs.expected_response(f_oracle[i][shift_index[state]], gain[state], offset[state])
        r = vs.sample_responses(m, pop.noise_k, params.event_amplitude_shape, rng)
        means.append(r.mean(0))
        variances.append(r.var(0))
    mc = np.sqrt(np.var(means, axis=0) / np.mean(variances, axis=0))
    np.testing.assert_allclose(snr, mc, rtol=0.05)

    # without the shared part (the same neurons, trial states of eye and behaviour only) the SNR is higher:
    # the saved value is not the private-noise SNR
    private = vs.true_snr(pop, f_oracle, shift_index, vs.behavior_gain(pop, s.behavior), np.zeros_like(offset),
                          params.event_amplitude_shape)
    assert np.median(private / snr) > 1.2
