"""Reliability of neurons and of the representation, from the repeated (oracle) trials.

Section 2 and 2.1 of Li et al. (2019): the signal-to-noise weight of each neuron
(Eq. 1), the similarity of centred unit population vectors (Eq. 2), the oracle
similarity of the repeated images (Eq. 3), and its fluctuations across scans
(Eq. 4) and across repeats (Eq. 5). Plus two standard per-neuron reliability
metrics: the leave-one-out oracle correlation and the explainable variance.

Every function takes arrays and returns arrays. Oracle responses come either as
a list of ``(repeats_i, neurons)`` arrays, one per oracle image (repeat counts
may differ between images), or as one ``(images, repeats, neurons)`` array.

Estimator choices (fixed here, documented in the README):

* trial variances (noise, Eq. 1 and the explainable variance) use ``ddof=1``
  (unbiased over the repeats of one image);
* the variance over images of the trial means (signal, Eq. 1) also uses
  ``ddof=1`` (the oracle images are a sample of natural images). It is the
  paper's literal definition: it is *not* corrected for the noise left in a mean
  of ``R`` trials (which adds about ``eta^2 / R``);
* the mean over images of the trial variances is unweighted (each image counts
  once, whatever its number of repeats).
"""

from __future__ import annotations

import numpy as np

from ..measures import centered_unit_vectors, pearson

#: A neuron's noise strength counts as zero when ``eta <= NOISE_FLOOR * rms``,
#: with ``rms`` the root mean square of its oracle responses (scale-free).
NOISE_FLOOR = 1e-6


def as_trial_list(oracle_responses) -> list[np.ndarray]:
    """Oracle responses as a list of float64 ``(repeats_i, neurons)`` arrays, one per image.

    Accepts such a list or an ``(images, repeats, neurons)`` array. Every image
    needs at least 2 repeats and every array the same number of neurons.
    """
    if isinstance(oracle_responses, np.ndarray) and oracle_responses.ndim != 3:
        raise ValueError(f"expected (images, repeats, neurons), got shape {oracle_responses.shape}")
    trials = [np.asarray(r, dtype=np.float64) for r in oracle_responses]
    if not trials:
        raise ValueError("no oracle images")
    n_neurons = {r.shape[1] if r.ndim == 2 else None for r in trials}
    if len(n_neurons) != 1 or None in n_neurons:
        raise ValueError("every oracle image needs a (repeats, neurons) array with the same number of neurons")
    fewest = min(len(r) for r in trials)
    if fewest < 2:
        raise ValueError(f"every oracle image needs at least 2 repeats, the fewest is {fewest}")
    return trials


def stack_trials(oracle_responses) -> tuple[np.ndarray, np.ndarray]:
    """All oracle trials in one array.

    Returns ``(responses, image)``: ``responses`` (n_trials, neurons) with the
    trials of image 0 first, then image 1, ...; ``image`` (n_trials,) int64, the
    oracle image (position in the input list) of each trial.
    """
    trials = as_trial_list(oracle_responses)
    image = np.repeat(np.arange(len(trials)), [len(r) for r in trials])
    return np.concatenate(trials, axis=0), image


# ---------------------------------------------------------------- Eq. 1: signal, noise, weights


def signal_strength(oracle_responses) -> np.ndarray:
    """sigma_a = sqrt(Var_i(E_t[r_ait])), (neurons,): SD over images (ddof=1) of the trial means (Eq. 1)."""
    trials = as_trial_list(oracle_responses)
    means = np.stack([r.mean(axis=0) for r in trials])  # (images, neurons)
    if len(trials) < 2:
        return np.zeros(means.shape[1])
    return np.sqrt(means.var(axis=0, ddof=1))


def noise_strength(oracle_responses) -> np.ndarray:
    """eta_a = sqrt(E_i[Var_t(r_ait)]), (neurons,): root of the mean over images of the trial variance (ddof=1) (Eq. 1)."""
    trials = as_trial_list(oracle_responses)
    return np.sqrt(np.mean([r.var(axis=0, ddof=1) for r in trials], axis=0))


def snr_weights(oracle_responses, *, noise_floor: float = NOISE_FLOOR) -> np.ndarray:
    """w_a = sigma_a / eta_a (Eq. 1), (neurons,), finite and >= 0.

    A neuron whose noise strength is zero (``eta_a <= noise_floor * rms_a``,
    ``rms_a`` the root mean square of its oracle responses) gets ``w_a = 0``: a
    trace that does not vary from repeat to repeat is a dead or constant trace
    in calcium data, not an infinitely reliable neuron. A neuron without signal
    (sigma_a = 0) gets 0 as Eq. 1 says.
    """
    responses, _ = stack_trials(oracle_responses)
    sigma, eta = signal_strength(oracle_responses), noise_strength(oracle_responses)
    rms = np.sqrt(np.mean(responses**2, axis=0))
    usable = eta > noise_floor * rms
    return np.where(usable, sigma / np.where(usable, eta, 1.0), 0.0)


# ---------------------------------------------------------------- per-neuron reliability metrics


def oracle_correlation(oracle_responses) -> np.ndarray:
    """Leave-one-out oracle correlation, (neurons,) in [-1, 1].

    Each trial is paired with the mean of the *other* repeats of its image; the
    Pearson correlation of the pairs, pooled over all oracle trials, per neuron
    (the sinzlab "oracle" metric). 0 for a neuron whose trials or
    leave-one-out means do not vary (undefined correlation).
    """
    trials = as_trial_list(oracle_responses)
    loo = [(r.sum(axis=0, keepdims=True) - r) / (len(r) - 1) for r in trials]
    return pearson(np.concatenate(trials), np.concatenate(loo))


def explainable_variance(oracle_responses, *, clip: bool = True) -> np.ndarray:
    """Fraction of variance that is stimulus-driven, (neurons,).

    ``(total - noise) / total`` with ``total`` the variance (ddof=1) of all oracle
    trials pooled and ``noise`` the mean over images of the trial variance
    (ddof=1). 0 when the total variance is 0. With ``clip`` (default) negative
    estimates (noise above total, from sampling error) are set to 0.
    """
    responses, _ = stack_trials(oracle_responses)
    total = responses.var(axis=0, ddof=1)
    noise = noise_strength(oracle_responses) ** 2
    ok = total > 0
    ev = np.where(ok, (total - noise) / np.where(ok, total, 1.0), 0.0)
    return np.clip(ev, 0.0, 1.0) if clip else ev


def noise_correlations(oracle_responses) -> np.ndarray:
    """Pairwise noise correlations, (neurons, neurons): Pearson r of the residuals around each image's mean.

    Residuals ``r_ait - mean_t r_ait`` of every oracle trial, pooled over images (the standard
    "noise correlation" of repeated stimuli). Diagonal 1; 0 for pairs with a constant neuron.
    """
    trials = as_trial_list(oracle_responses)
    res = np.concatenate([r - r.mean(axis=0, keepdims=True) for r in trials])
    sd = np.sqrt((res**2).sum(axis=0))
    z = np.divide(res, sd, out=np.zeros_like(res), where=sd > 0)
    c = z.T @ z
    np.fill_diagonal(c, 1.0)
    return c


# ---------------------------------------------------------------- Eq. 2-3: similarity


def similarity_data(responses: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """S^data_ij = e_i . e_j (Eq. 2), (stimuli, stimuli).

    ``responses`` (stimuli, neurons) raw responses rho; ``weights`` (neurons,)
    the w_a of Eq. 1 (None: unscaled).
    """
    r = np.asarray(responses, dtype=np.float64)
    if weights is not None:
        r = r * np.asarray(weights, dtype=np.float64)
    e = centered_unit_vectors(r)
    return e @ e.T


def trial_unit_vectors(oracle_responses, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every oracle trial as its own stimulus (Eq. 3): unit vectors and their image.

    Responses are scaled by ``weights`` (neurons,) and centred over *all* oracle
    trials (r_bar = mean over every trial of every oracle image). Returns
    ``(e, image)``: (n_trials, neurons) and (n_trials,) as in :func:`stack_trials`.
    """
    responses, image = stack_trials(oracle_responses)
    return centered_unit_vectors(responses * np.asarray(weights, dtype=np.float64)), image


def oracle_similarity(oracle_responses, weights: np.ndarray) -> np.ndarray:
    """S^oracle_ij = E_{t_i, t_j}[S^data_{i t_i, j t_j}] (Eq. 3), (images, images).

    Trials are stimuli of Eq. 2 (see :func:`trial_unit_vectors`). Off the
    diagonal the mean runs over all R_i * R_j trial pairs; on the diagonal over
    the R_i (R_i - 1) pairs of *different* repeats (the t_i = t_j pairs, which
    are 1, are excluded). Computed from per-image sums of unit vectors, so no
    (n_trials, n_trials) matrix is formed.
    """
    e, image = trial_unit_vectors(oracle_responses, weights)
    n_images = image.max() + 1
    repeats = np.bincount(image, minlength=n_images).astype(np.float64)
    sums = np.zeros((n_images, e.shape[1]))
    np.add.at(sums, image, e)
    pair_sums = sums @ sums.T  # sum over all (t_i, t_j) pairs, t_i = t_j included
    self_sums = np.bincount(image, weights=(e**2).sum(axis=1), minlength=n_images)  # the t_i = t_j terms
    s = pair_sums / np.outer(repeats, repeats)
    s[np.diag_indices(n_images)] = (np.diag(pair_sums) - self_sums) / (repeats * (repeats - 1))
    return s


def single_trial_similarity_correlation(oracle_responses, weights: np.ndarray) -> float:
    """r(S^data, S^oracle) (Fig. 1D, the paper: 0.39): how well single trials give the similarity.

    Pearson r over all pairs of trials of *different* oracle images between their single-trial
    similarity S^data (Eq. 2, trials as stimuli as in Eq. 3) and the S^oracle (Eq. 3) of their images.
    """
    e, image = trial_unit_vectors(oracle_responses, weights)
    s_oracle = oracle_similarity(oracle_responses, weights)
    mask = image[:, None] < image[None, :]
    return float(np.corrcoef((e @ e.T)[mask], s_oracle[image[:, None], image[None, :]][mask])[0, 1])


# ---------------------------------------------------------------- Eq. 4-5: fluctuations


def delta_scan(s_oracle_per_scan: np.ndarray) -> np.ndarray:
    """Delta S^scan_{h,i,j} = S^oracle-h_ij - E_h[S^oracle-h_ij] (Eq. 4), (scans, pairs).

    ``s_oracle_per_scan`` (scans, n, n): S^oracle of each scan over the *same*
    images in the same order. Only the off-diagonal pairs i < j are returned
    (``pairs = n (n - 1) / 2``, in ``numpy.triu_indices(n, 1)`` order).
    """
    s = np.asarray(s_oracle_per_scan, dtype=np.float64)
    if s.ndim != 3 or s.shape[1] != s.shape[2]:
        raise ValueError(f"expected (scans, n, n), got shape {s.shape}")
    iu = np.triu_indices(s.shape[1], 1)
    return (s - s.mean(axis=0, keepdims=True))[:, iu[0], iu[1]]


def delta_repeat(oracle_responses, weights: np.ndarray) -> np.ndarray:
    """Delta S^repeat_{i,t1,t2} = S^data_{i t1, i t2} - S^oracle_ii (Eq. 5) for one scan, (pairs,).

    All pairs of different repeats t1 < t2 of the same oracle image (each
    unordered pair once: S^data is symmetric), image by image. S^data is the
    trial similarity of Eq. 3 (same weights, same centring). The values of one
    image average to 0 by construction.
    """
    e, image = trial_unit_vectors(oracle_responses, weights)
    s_oracle = oracle_similarity(oracle_responses, weights)
    out = []
    for i in range(image.max() + 1):
        ei = e[image == i]
        t1, t2 = np.triu_indices(len(ei), 1)
        out.append((ei @ ei.T)[t1, t2] - s_oracle[i, i])
    return np.concatenate(out)
