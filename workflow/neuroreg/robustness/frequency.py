"""How much a model relies on low spatial frequencies (Li et al. 2023, PLOS Comput. Biol.: robust models rely on low
frequency information in natural images).

The test images are filtered in the Fourier domain with an ideal radial filter at each cutoff ``c`` (cycles per
image; the 32 x 32 images carry radii up to 16 sqrt(2)):

* low-pass: every frequency of radius <= c kept, the rest set to 0;
* high-pass: the frequencies of radius > c kept, plus the mean (radius 0), so the image keeps its brightness;

both clipped to [0, 1] and quantised to uint8 as the models' inputs are. Accuracy on each is a curve over the
cutoffs. One number per model, its **low-frequency reliance**:

    LFR = mean_c acc_low(c) / acc_clean  -  mean_c acc_high(c) / acc_clean,

in [-1, 1] (chance aside): how much more of its clean accuracy a model keeps from the low frequencies than from
the high ones. A model that reads only low frequencies scores near its low-pass share minus 0; one that reads
only fine texture, negative. ``frequency.csv`` per run: filter (clean, low, high), cutoff (0 for clean),
accuracy, n_images.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..noise import predict

FILTERS = ("low", "high")


def radius(h: int, w: int) -> np.ndarray:
    """(h, w) the radius of each 2-D DFT frequency in cycles per image (``numpy.fft.fftfreq`` x size)."""
    fy = np.fft.fftfreq(h) * h
    fx = np.fft.fftfreq(w) * w
    return np.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)


def filtered(images_u8: np.ndarray, cutoff: float, kind: str) -> np.ndarray:
    """(N, H, W) uint8 -> the same filtered (module doc), uint8."""
    if kind not in FILTERS:
        raise ValueError(f"filter {kind!r} is not one of {FILTERS}")
    if cutoff <= 0:
        raise ValueError(f"cutoff {cutoff!r}: must be > 0 cycles per image")
    x = np.asarray(images_u8, dtype=np.float64) / 255.0
    r = radius(*x.shape[-2:])
    keep = r <= cutoff if kind == "low" else (r > cutoff) | (r == 0)
    y = np.fft.ifft2(np.fft.fft2(x) * keep).real
    return np.round(np.clip(y, 0.0, 1.0) * 255.0).astype(np.uint8)


def frequency_accuracy(model, images_u8: torch.Tensor, labels, cutoffs, *, batch_size=500, device="cpu"):
    """frequency.csv of one model (module doc) on images (N, 1, H, W) uint8 and their labels."""
    labels = torch.as_tensor(labels).cpu()
    cutoffs = [float(c) for c in cutoffs]
    if not cutoffs or min(cutoffs) <= 0:
        raise ValueError(f"robustness.frequency.cutoffs: {cutoffs}: give cutoffs > 0 (cycles per image)")

    def acc(x_u8):
        pred = predict(model, x_u8, batch_size=batch_size, device=device)
        return float((pred == labels).float().mean())

    rows = [{"filter": "clean", "cutoff": 0.0, "accuracy": acc(images_u8), "n_images": len(labels)}]
    raw = images_u8[:, 0].numpy()
    for kind in FILTERS:
        for c in cutoffs:
            x = torch.from_numpy(filtered(raw, c, kind)[:, None])
            rows.append({"filter": kind, "cutoff": c, "accuracy": acc(x), "n_images": len(labels)})
    return pd.DataFrame(rows, columns=["filter", "cutoff", "accuracy", "n_images"])


def low_frequency_reliance(table: pd.DataFrame) -> float:
    """LFR (module doc) of one model's frequency.csv; NaN where its clean accuracy is 0."""
    clean = table.loc[table["filter"] == "clean", "accuracy"]
    if len(clean) != 1:
        raise ValueError("frequency table: expected one clean row")
    clean = float(clean.iloc[0])
    if clean <= 0:
        return float("nan")
    low = table.loc[table["filter"] == "low", "accuracy"].mean()
    high = table.loc[table["filter"] == "high", "accuracy"].mean()
    return float((low - high) / clean)
