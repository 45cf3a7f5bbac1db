"""Evaluation of an encoder, pure NumPy (section 2.2 and Sinz et al. 2018's measures).

All functions are per neuron: arrays are (samples, neurons), results (neurons,).
"""

from __future__ import annotations

import numpy as np

from ..measures import pearson


def test_correlation(predictions: np.ndarray, responses: np.ndarray) -> np.ndarray:
    """v_a (section 2.2): correlation of prediction and single-trial response over the test trials.

    predictions, responses: (n_test_trials, n_neurons).
    """
    return pearson(predictions, responses)


def _group(trial_image: np.ndarray):
    images = np.unique(trial_image)
    return images, [np.flatnonzero(trial_image == i) for i in images]


def oracle_mean_correlation(predictions: np.ndarray, responses: np.ndarray, trial_image: np.ndarray) -> np.ndarray:
    """Correlation over the oracle images of the trial-averaged prediction with the trial-averaged response."""
    _, groups = _group(np.asarray(trial_image))
    p = np.stack([predictions[g].mean(0) for g in groups])
    r = np.stack([responses[g].mean(0) for g in groups])
    return pearson(p, r)


def fraction_explainable_variance_explained(predictions: np.ndarray, responses: np.ndarray,
                                            trial_image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FEVE and the fraction of explainable variance (FEV) of the test (oracle) trials, per neuron.

    ``noise_var`` = mean over images of the across-repeat variance (ddof 1),
    ``total_var`` = variance over all test trials (ddof 1),
    ``FEV = (total_var - noise_var) / total_var``,
    ``FEVE = 1 - (MSE - noise_var) / (total_var - noise_var)`` with MSE between prediction and single
    trials, averaged per image, then over images (each image weighs the same). sinzlab's
    ``compute_FEV`` (neuralpredictors) pools the squared error over all trials instead, so images with
    more repeats weigh more: the two agree only when every image has the same number of repeats (as in
    the virtual experiment). Neurons without explainable variance get NaN FEVE.
    Returns ``(feve, fev)``, each (n_neurons,).
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    responses = np.asarray(responses, dtype=np.float64)
    _, groups = _group(np.asarray(trial_image))
    groups = [g for g in groups if len(g) > 1]
    total_var = responses[np.concatenate(groups)].var(0, ddof=1)
    noise_var = np.mean([responses[g].var(0, ddof=1) for g in groups], axis=0)
    mse = np.mean([((responses[g] - predictions[g]) ** 2).mean(0) for g in groups], axis=0)
    explainable = total_var - noise_var
    with np.errstate(divide="ignore", invalid="ignore"):
        fev = np.where(total_var > 0, explainable / total_var, np.nan)
        feve = np.where(explainable > 0, 1 - (mse - noise_var) / explainable, np.nan)
    return feve, fev


def summarize(per_neuron: dict) -> dict:
    """Means (NaN-aware) of each per-neuron list: {"mean_<name>": float}."""
    return {f"mean_{k}": float(np.nanmean(v)) if np.size(v) and np.isfinite(v).any() else float("nan")
            for k, v in per_neuron.items()}
