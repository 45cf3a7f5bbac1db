"""Statistics shared by several stages (NumPy; the torch ones use only tensor methods, no torch import).

* :func:`pearson`: Pearson correlation per column (per neuron), 0 where a column is constant
  (reliability's oracle correlation, the encoder's test correlations);
* :func:`pearson_r`: one correlation coefficient of two 1-d samples (similarity matrices
  compared over image pairs, Fig. 1D);
* :func:`centered_unit_vectors`: the centred, normalised population vectors of Eq. 2, shared by
  the oracle similarity (stage 2) and the similarity targets (stage 4);
* :func:`centered_cosine_similarity_direct`: Eq. 9 on a network's features (:func:`flat_features`), shared by the
  co-training loss's tests, brain-likeness (stage 6) and the content targets (stage 4);
* :func:`poisson_loss`: the Poisson negative log-likelihood of the encoder (stage 3) and the multi-task readout
  (stage 5).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

#: A correlation's denominator at or below this counts as zero (a constant column): the result is 0.
EPS = 1e-12


def pearson(x: np.ndarray, y: np.ndarray, eps: float = EPS) -> np.ndarray:
    """Pearson correlation of each column of ``x`` with the same column of ``y``.

    x, y: (n, k) arrays (n samples of k variables, e.g. trials x neurons), cast to float64.
    Returns (k,) in [-1, 1]; 0 where either column is constant (undefined correlation).
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    xc = x - x.mean(0)
    yc = y - y.mean(0)
    num = (xc * yc).sum(0)
    den = np.sqrt((xc**2).sum(0) * (yc**2).sum(0))
    return np.where(den > eps, num / np.maximum(den, eps), 0.0)


def pearson_r(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two 1-d samples of equal length (``numpy.corrcoef``)."""
    return float(np.corrcoef(np.ravel(x), np.ravel(y))[0, 1])


def centered_unit_vectors(responses: np.ndarray) -> np.ndarray:
    """e_i = (r_i - r_bar) / ||r_i - r_bar|| (Eq. 2), (stimuli, neurons) float64.

    ``responses`` (stimuli, neurons), already scaled (by w_a, Eq. 1); ``r_bar`` is the mean over
    the stimuli (rows). A row equal to ``r_bar`` becomes the zero vector (similarity 0 with every
    stimulus) instead of NaN.
    """
    centered = np.asarray(responses, dtype=np.float64)
    centered = centered - centered.mean(axis=0, keepdims=True)
    norm = np.linalg.norm(centered, axis=1, keepdims=True)
    return np.divide(centered, norm, out=np.zeros_like(centered), where=norm > 0)


def flat_features(features: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B, H * W * C), channels last, fp32; (B, ...) other shapes -> (B, D).

    The order of the D entries does not change any dot product, so it is chosen to be free for
    channels_last tensors (the layout of the CPU and GPU training paths): a view, not a copy.
    """
    if features.ndim == 4:
        features = features.permute(0, 2, 3, 1)
    return features.reshape(features.shape[0], -1).float()


def centered_cosine_similarity_direct(features: torch.Tensor, mean: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 9 written out on the (B, D) features: subtract f-bar, normalize the rows, multiply.

    The measure of stage 4 (brain-likeness, content targets) and the reference the training loss's Gram-matrix form
    (``cotrain.similarity_loss.centered_cosine_similarity``) is tested against, at several times its cost on a CPU
    (three (B, D) temporaries and their gradients).
    """
    f = features.flatten(1).float()
    f = f - (f.mean(0, keepdim=True) if mean is None else mean.float().unsqueeze(0))
    f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return f @ f.T


def poisson_loss(rate: torch.Tensor, target: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Poisson negative log-likelihood without the log(y!) constant: ``rate - y log(rate)``, elementwise."""
    return rate - target * (rate + eps).log()
