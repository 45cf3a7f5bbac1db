"""The virtual V1 experiment: one simulated scan with behaviour, eye movements, noise and ground truth.

Generative model of the response of neuron ``a`` on trial ``t`` (image ``i_t``)::

    x_t  = sqrt(beta) B_t + sqrt(1 - beta) xi_t       K latent factors (ground_truth/latent), unit variance
    m_at = max(0, g_at h_at f_a(i_t, eye_t) + A_a L_a . x_t)   expected response (ground_truth/trial_mean)
    g_at = exp(b_a . z_t)                          behavioural gain; z_t = z-scored (pupil, d pupil, running)
    h_at = exp(M_a . x_t)                          shared gain fluctuation
    lambda ~ Gamma(k_a, m_at / k_a)                private trial-to-trial excitability (overdispersion)
    N ~ Poisson(lambda)                            calcium events
    r_at = sum of N Gamma(c, 1/c) amplitudes       deconvolved-trace-like, >= 0, exact zeros

Shared variability: ``x_t`` (K factors per trial) is the animal's internal state.
``B_t`` (K,) are linear mixtures of the z-scored running speed and pupil size
(per-scan random mixing, each standardised over the trials), so behaviour
explains the fraction ``beta`` (``latent_behavior_share``) of each factor's
variance; ``xi_t`` is the unobserved rest, AR(1) over trials (lag-1 correlation
``latent_rho``, unit variance). Each neuron has loadings ``M_a`` (log gain,
multiplicative) and ``L_a`` (additive input in units of its rate scale ``A_a``)
on the factors (:func:`neuroreg.virtual_v1.latent_loadings`); the rate cannot go
below 0. Because ``x_t`` is common to all neurons, this part of the noise does
not average away over the population (noise correlations), unlike the private
gamma-Poisson part.

Given the trial state ``s_t = (eye_t, z_t, x_t)``, ``E[r | m] = m`` and
``Var[r | m] = m (1 + 1/c) + m^2 / k_a``: the Fano factor is ``1 + 1/c + m / k_a > 1``.
``f_a`` is :mod:`neuroreg.virtual_v1`; the eye position (rounded to integer
pixels) moves the receptive fields. The noise-free response
(``ground_truth/image_response``) is ``f_a(i)``: behaviour at its mean
(``z = 0``, ``g = 1``), eye centred, latent state at its mean (``x = 0``).
"""

from __future__ import annotations

import logging
import time

import numpy as np

from . import virtual_v1 as v1
from ..files import InputError
from .scan import Scan, write_scan
from .stimuli import read_stimuli

log = logging.getLogger(__name__)

__all__ = ["simulate_behavior", "trial_order", "trial_tiers", "behavior_gain", "simulate_latents", "latent_modulation",
           "expected_response", "sample_responses", "oracle_rates", "true_snr", "simulate_scan", "simulate_scan_file"]

VALIDATION_FRACTION = 0.1


def _ar1(rng, n, rho, sd=1.0):
    """Stationary AR(1) series (n,), lag-1 correlation ``rho``, marginal sd ``sd``."""
    e = rng.standard_normal(n)
    out = np.empty(n)
    out[0] = e[0]
    k = np.sqrt(1 - rho**2)
    for t in range(1, n):
        out[t] = rho * out[t - 1] + k * e[t]
    return sd * out


def simulate_behavior(n_trials: int, rng: np.random.Generator, *, eye_sd: float = 1.0):
    """Behaviour over consecutive trials: (behavior (n, 3), pupil_center (n, 2)) float32.

    * running speed (cm/s): bouts from a two-state Markov chain (start 3%, stop 8% per
      trial, ~27% of trials running), log-speed AR(1) around 15 cm/s while running,
      |N(0, 0.5)| jitter while still;
    * pupil size (eye-camera pixels): slow AR(1) plus dilation that follows running;
    * its derivative: the difference to the previous trial;
    * pupil_center (x, y), pixels relative to the centre: AR(1), lag-1 correlation 0.8, sd ``eye_sd``.
    """
    state = np.empty(n_trials, bool)
    u = rng.random(n_trials)
    state[0] = u[0] < 0.27
    for t in range(1, n_trials):
        state[t] = (u[t] >= 0.08) if state[t - 1] else (u[t] < 0.03)
    speed = np.where(state, 15 * np.exp(0.35 * _ar1(rng, n_trials, 0.9)), np.abs(0.5 * rng.standard_normal(n_trials)))
    arousal = np.empty(n_trials)  # running-driven dilation, exponential filter (5 trials)
    arousal[0] = state[0]
    for t in range(1, n_trials):
        arousal[t] = 0.8 * arousal[t - 1] + 0.2 * state[t]
    pupil = 20 + 3 * _ar1(rng, n_trials, 0.97) + 5 * arousal + 0.3 * rng.standard_normal(n_trials)
    dpupil = np.diff(pupil, prepend=pupil[0])
    eye = np.stack([_ar1(rng, n_trials, 0.8, eye_sd), _ar1(rng, n_trials, 0.8, eye_sd)], 1)
    eye = np.clip(eye, -3 * eye_sd, 3 * eye_sd)
    return np.stack([pupil, dpupil, speed], 1).astype(np.float32), eye.astype(np.float32)


def trial_order(is_oracle: np.ndarray, repeats: int, rng: np.random.Generator) -> np.ndarray:
    """(n_trials,) image index per trial: once-shown images once, oracle images ``repeats`` times, shuffled."""
    is_oracle = np.asarray(is_oracle, bool)
    trials = np.concatenate([np.flatnonzero(~is_oracle), np.repeat(np.flatnonzero(is_oracle), repeats)])
    return rng.permutation(trials).astype(np.int64)


def trial_tiers(trial_image, is_oracle, rng: np.random.Generator) -> np.ndarray:
    """Oracle trials 'test'; the trials of 10% of the once-shown images 'validation'; the rest 'train'."""
    once = np.flatnonzero(~np.asarray(is_oracle, bool))
    val = rng.choice(once, size=int(round(VALIDATION_FRACTION * len(once))), replace=False)
    tier = np.full(len(trial_image), "train", dtype="<U10")
    tier[np.isin(trial_image, val)] = "validation"
    tier[np.asarray(is_oracle, bool)[trial_image]] = "test"
    return tier


def behavior_gain(pop: v1.Population, behavior: np.ndarray) -> np.ndarray:
    """g (n_trials, n_neurons) = exp(b_a . z_t), z = behaviour z-scored over the scan's trials."""
    b = behavior.astype(np.float64)
    z = (b - b.mean(0)) / np.maximum(b.std(0), 1e-9)
    return np.exp(z @ pop.b_behavior.T).astype(np.float32)


def _zscore(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return (x - x.mean(0)) / np.maximum(x.std(0), 1e-9)


def simulate_latents(behavior: np.ndarray, n_factors: int, behavior_share: float, rho: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The internal state over consecutive trials: ``(x (n_trials, K), internal (n_trials, K))`` float64.

    ``x = sqrt(beta) B + sqrt(1 - beta) xi`` (module docstring): ``B`` mixes the z-scored pupil size and
    running speed (columns 0 and 2 of ``behavior``) with random weights and is standardised per factor;
    ``xi`` are independent stationary AR(1) series (lag-1 correlation ``rho``, unit variance).
    ``internal = sqrt(1 - beta) xi`` is the part that no recorded behaviour explains.
    """
    n = len(behavior)
    k = int(n_factors)
    if not 0 <= behavior_share <= 1:
        raise ValueError(f"virtual_v1.latent_behavior_share must lie in [0, 1], got {behavior_share}")
    mixing = rng.standard_normal((2, k))
    driven = _zscore(_zscore(np.asarray(behavior)[:, [0, 2]]) @ mixing) if k else np.zeros((n, 0))
    internal = np.stack([_ar1(rng, n, rho) for _ in range(k)], 1) if k else np.zeros((n, 0))
    internal *= np.sqrt(1 - behavior_share)
    return np.sqrt(behavior_share) * driven + internal, internal


def latent_modulation(pop: v1.Population, latent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(h, o)``, each (n_trials, n_neurons) float32: shared gain exp(M_a . x_t) and additive input A_a L_a . x_t."""
    x = np.asarray(latent, np.float64)
    if x.shape[1] == 0:
        shape = (len(x), pop.n_neurons)
        return np.ones(shape, np.float32), np.zeros(shape, np.float32)
    gain = np.exp(x @ pop.latent_gain.T).astype(np.float32)
    offset = ((x @ pop.latent_additive.T) * pop.rate).astype(np.float32)
    return gain, offset


def expected_response(rate: np.ndarray, gain: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """m = max(0, gain * rate + offset), elementwise (float32; ``rate`` is overwritten when it is float32)."""
    m = np.asarray(rate, np.float32)
    m *= gain
    m += offset
    return np.maximum(m, 0, out=m)


def sample_responses(mean: np.ndarray, noise_k: np.ndarray, amplitude_shape: float,
                     rng: np.random.Generator) -> np.ndarray:
    """Noisy responses (n, n_neurons) float32 >= 0 with expectation ``mean`` (see module docstring)."""
    m = np.asarray(mean, np.float64)
    k = np.broadcast_to(np.asarray(noise_k, np.float64), m.shape)
    lam = rng.gamma(k, m / k)
    events = rng.poisson(lam)
    return (rng.gamma(events * amplitude_shape, 1.0 / amplitude_shape)).astype(np.float32)


def oracle_rates(pop, oracle_images, shifts):
    """Rates of the oracle images at every eye shift that occurs.

    Returns ``(unique_shifts (n_shifts, 2), shift_index (n_trials,), rates (n_oracle, n_shifts, n_neurons))``.
    """
    uniq, inv = np.unique(shifts, axis=0, return_inverse=True)
    f = np.empty((len(oracle_images), len(uniq), pop.n_neurons), np.float32)
    for c, d in enumerate(uniq):
        f[:, c] = v1.rates(pop, oracle_images, np.tile(d, (len(oracle_images), 1)))
    return uniq, inv.ravel(), f


def true_snr(pop, f_oracle, shift_index, gain, offset, amplitude_shape):
    """True w_a = sigma_a / eta_a (Eq. 1) on the oracle images, (n_neurons,) float64.

    Exact given the trial states, no Monte Carlo over the noise: the private noise enters analytically
    and the trial state (integer eye shift, total gain g h, additive input o) is averaged over the empirical
    distribution of this scan's trials, i.e. each oracle image is imagined shown in every trial's state
    (``shift_index`` into the shifts of ``f_oracle`` (n_oracle, n_shifts, n) from :func:`oracle_rates`;
    ``gain``, ``offset`` (n_trials, n)). With m_s = max(0, g_s f_i(shift_s) + o_s):
    E[r|i] = E_s[m], Var[r|i] = (1 + 1/c) E_s[m] + (1 + 1/k) E_s[m^2] - E_s[m]^2 (the shared noise is the
    spread of m over states); sigma_a^2 = Var_i E[r|i] (ddof 0), eta_a^2 = E_i Var[r|i].
    """
    n_oracle = f_oracle.shape[0]
    em = np.empty((n_oracle, pop.n_neurons))
    em2 = np.empty_like(em)
    for i in range(n_oracle):
        m = expected_response(f_oracle[i][shift_index], gain, offset)
        em[i] = m.mean(0, dtype=np.float64)
        m *= m
        em2[i] = m.mean(0, dtype=np.float64)
    var_r = (1 + 1 / amplitude_shape) * em + (1 + 1 / pop.noise_k) * em2 - em**2
    return np.sqrt(em.var(0) / var_r.mean(0))


def simulate_scan(images, image_id, is_oracle, *, animal: int, session: int, n_neurons: int, repeats: int,
                  seed: int, params: v1.V1Params | None = None, scan_name: str = "",
                  chunk: int = 1024) -> Scan:
    """Simulate one scan on the stimulus bank.

    ``images`` (n_images, H, W) uint8, ``image_id`` (n_images,) int64, ``is_oracle``
    (n_images,) bool. Returns a :class:`neuroreg.scan.Scan` with ``ground_truth``:
    image_response (n_images, n), trial_mean (n_trials, n), snr (n,), latent (n_trials, K) the
    factors x_t, latent_internal (n_trials, K) their unobserved part, latent_gain_loading and
    latent_additive_loading (n, K) the loadings M_a and L_a. Every random draw depends on
    (seed, animal, session) only; the validation images on seed only.
    """
    params = params or v1.V1Params()
    images = np.asarray(images, np.uint8)
    is_oracle = np.asarray(is_oracle, bool)
    pop = v1.make_population(n_neurons, seed=seed, animal=animal, session=session,
                             shape=images.shape[1:], params=params)
    u = v1.drives(pop, v1.normalize_images(images), chunk)
    v1.calibrate(pop, images, u)
    image_response = v1.nonlinearity(pop, u)
    del u
    trial_image = trial_order(is_oracle, repeats, np.random.default_rng([seed, animal, session, 2]))
    tier = trial_tiers(trial_image, is_oracle, np.random.default_rng([seed, 5]))
    behavior, eye = simulate_behavior(len(trial_image), np.random.default_rng([seed, animal, session, 3]),
                                      eye_sd=params.eye_sd_px)
    shifts = np.rint(eye).astype(np.int64)
    latent, internal = simulate_latents(behavior, params.latent_factors, params.latent_behavior_share,
                                        params.latent_rho, np.random.default_rng([seed, animal, session, 7]))
    gain, offset = latent_modulation(pop, latent)
    gain *= behavior_gain(pop, behavior)  # total gain g h

    # oracle images at every occurring eye shift: the oracle trials and the true SNR
    oracle_idx = np.flatnonzero(is_oracle)
    _, shift_index, f_oracle = oracle_rates(pop, images[oracle_idx], shifts)
    snr = true_snr(pop, f_oracle, shift_index, gain, offset, params.event_amplitude_shape)
    oracle_pos = np.full(len(images), -1)
    oracle_pos[oracle_idx] = np.arange(len(oracle_idx))

    trial_mean = np.empty((len(trial_image), n_neurons), np.float32)
    tpos = oracle_pos[trial_image]
    on = tpos >= 0
    trial_mean[on] = f_oracle[tpos[on], shift_index[on]]
    off = np.flatnonzero(~on)
    for s in range(0, len(off), chunk):
        t = off[s:s + chunk]
        trial_mean[t] = v1.rates(pop, images[trial_image[t]], shifts[t], chunk)
    del f_oracle
    expected_response(trial_mean, gain, offset)
    del gain, offset
    responses = np.empty_like(trial_mean)
    noise_rng = np.random.default_rng([seed, animal, session, 4])
    for s in range(0, len(trial_image), chunk):
        responses[s:s + chunk] = sample_responses(trial_mean[s:s + chunk], pop.noise_k,
                                                  params.event_amplitude_shape, noise_rng)

    return Scan(
        images=images, image_id=np.asarray(image_id, np.int64), responses=responses, trial_image=trial_image,
        behavior=behavior, pupil_center=eye, tier=tier, neuron_id=pop.neuron_id,
        attrs={"source": "virtual_v1", "animal": int(animal), "session": int(session), "scan": scan_name,
               "source_path": "", "has_behavior": True, "seed": int(seed)},
        ground_truth={"image_response": image_response, "trial_mean": trial_mean, "snr": snr.astype(np.float32),
                      "latent": latent, "latent_internal": internal, "latent_gain_loading": pop.latent_gain,
                      "latent_additive_loading": pop.latent_additive},
    )


def simulate_scan_file(stimuli_path, output, *, scan_name: str, animal: int, session: int, virtual_v1: dict,
                       repeats: int, seed: int) -> Scan:
    """Read ``results/data/stimuli.h5``, simulate scan ``scan_name`` and write it (atomically, validated)."""
    bank = read_stimuli(stimuli_path)
    if bank["images"].dtype != np.uint8:
        raise InputError(stimuli_path, "images", f"expected uint8 grayscale images, got dtype {bank['images'].dtype}")
    n_oracle = int(np.sum(bank["is_oracle"]))
    if n_oracle < 2 or n_oracle == len(bank["is_oracle"]):
        raise InputError(stimuli_path, "is_oracle", f"need >= 2 oracle and >= 1 once-shown images, got {n_oracle} "
                         f"oracle of {len(bank['is_oracle'])}")
    if int(repeats) < 2:
        raise InputError(None, "stimuli.repeats", f"oracle images need >= 2 repeats, got {repeats}")
    params = v1.V1Params.from_config(virtual_v1)
    t0 = time.perf_counter()
    scan = simulate_scan(bank["images"], bank["image_id"], bank["is_oracle"], animal=int(animal),
                         session=int(session), n_neurons=int(virtual_v1["n_neurons"]), repeats=int(repeats),
                         seed=int(seed), params=params, scan_name=scan_name)
    scan.attrs["source_path"] = str(stimuli_path)
    snr = scan.ground_truth["snr"]
    log.info("%s: %d neurons x %d trials simulated in %.1f s; true SNR quantiles 5/50/95%%: %.2f %.2f %.2f",
             scan_name, scan.n_neurons, scan.n_trials, time.perf_counter() - t0, *np.percentile(snr, [5, 50, 95]))
    write_scan(scan, output)
    log.info("wrote %s in %.1f s total", output, time.perf_counter() - t0)
    return scan
