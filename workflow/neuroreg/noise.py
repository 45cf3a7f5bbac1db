"""Accuracy under additive Gaussian noise (section 4.1, Fig. 4 and Fig. 6).

Images are in pixel scale [0, 1]; noise ``level`` is the standard deviation of i.i.d.
Gaussian noise added to every pixel, and the noisy image is clipped to [0, 1]
(CIFAR-10-C's Gaussian-noise severities 1-5 are 0.04, 0.06, 0.08, 0.09, 0.10).
The noise of one level is drawn once for the whole test set on the CPU from a
``torch.Generator`` seeded with ``noise_seed`` and the level, so every model sees the
very same noisy images, whatever its device or batch size.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch


def level_seed(noise_seed: int, level: float) -> int:
    """Seed of the noise of one level: fixed by (noise_seed, level), not by the order of the levels."""
    return int(np.random.SeedSequence([int(noise_seed), int(round(float(level) * 1e6))]).generate_state(1)[0])


def draw_noise(shape, level: float, noise_seed: int) -> torch.Tensor:
    """float32 CPU tensor of ``shape``: N(0, level^2) per pixel, seeded by (noise_seed, level)."""
    g = torch.Generator().manual_seed(level_seed(noise_seed, level))
    return torch.randn(tuple(shape), generator=g, dtype=torch.float32).mul_(float(level))


def add_noise(images: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """clip(images + noise, 0, 1); images float in [0, 1], same shape as noise."""
    return (images + noise.to(images.device)).clamp_(0.0, 1.0)


@torch.no_grad()
def predict(model, images_u8: torch.Tensor, *, noise: torch.Tensor | None = None, batch_size=500, device="cpu"):
    """Predicted classes (N,) int64 of uint8 images (N, 1, H, W), with optional noise (N, 1, H, W)."""
    model.eval()
    out = []
    for start in range(0, len(images_u8), batch_size):
        x = images_u8[start : start + batch_size].to(device).float().div_(255.0)
        if noise is not None:
            x = add_noise(x, noise[start : start + batch_size])
        out.append(model(x).argmax(1).cpu())
    return torch.cat(out) if out else torch.empty(0, dtype=torch.int64)


def noise_accuracy(model, images_u8, labels, levels, noise_seed: int, *, batch_size=500, device="cpu") -> pd.DataFrame:
    """Accuracy per noise level on all given images.

    images_u8: (N, 1, H, W) uint8 tensor; labels: (N,) int64. Returns a DataFrame with
    columns level, accuracy (fraction correct), n_images, noise_seed; level 0 is the
    clean accuracy (no noise drawn).
    """
    labels = torch.as_tensor(labels).cpu()
    rows = []
    for level in levels:
        level = float(level)
        if level < 0:
            raise ValueError(f"robustness.noise_levels: {level} is negative")
        noise = draw_noise(images_u8.shape, level, noise_seed) if level > 0 else None
        pred = predict(model, images_u8, noise=noise, batch_size=batch_size, device=device)
        rows.append({"level": level, "accuracy": float((pred == labels).float().mean()), "n_images": len(labels),
                     "noise_seed": int(noise_seed)})
    return pd.DataFrame(rows, columns=["level", "accuracy", "n_images", "noise_seed"])
