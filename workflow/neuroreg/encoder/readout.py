"""Per-neuron Gaussian readout (neuralpredictors' ``FullGaussian2d``, Lurz et al. 2021).

Each neuron ``a`` has a position ``mu_a`` in grid coordinates ([-1, 1]^2, x = width
axis, y = height axis, as in ``torch.nn.functional.grid_sample``), a spread
``sigma_a``, a feature vector ``w_a`` (one weight per core channel) and a bias ``b_a``.
During training the position is sampled, ``p = mu_a + sigma_a * N(0, 1)``; in
evaluation it is ``mu_a``. The shifter's output (one 2-vector per trial) is added to
every neuron's position. The output is ``w_a . F(p) + b_a`` with ``F(p)`` the
bilinearly interpolated core feature vector at ``p``.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class GaussianReadout(nn.Module):
    """Features (batch, C, H, W) [+ shift (batch, 2)] -> (batch, n_neurons), linear (before the nonlinearity)."""

    def __init__(self, in_channels: int, n_neurons: int, init_mu_range: float = 0.3, init_sigma: float = 0.1,
                 generator: torch.Generator | None = None):
        super().__init__()
        self.n_neurons = n_neurons
        self.mu = nn.Parameter(torch.rand(n_neurons, 2, generator=generator) * 2 * init_mu_range - init_mu_range)
        self.sigma = nn.Parameter(torch.full((n_neurons, 2), float(init_sigma)))
        self.features = nn.Parameter(torch.full((in_channels, n_neurons), 1.0 / in_channels))
        self.bias = nn.Parameter(torch.zeros(n_neurons))

    def grid(self, batch: int, sample: bool) -> torch.Tensor:
        """Sampling positions (batch, n_neurons, 2) in [-1, 1]."""
        mu = self.mu.clamp(-1, 1)[None].expand(batch, -1, -1)
        if sample:
            noise = torch.randn(batch, self.n_neurons, 2, device=mu.device, dtype=mu.dtype)
            mu = mu + noise * self.sigma.clamp_min(0)[None]
        return mu.clamp(-1, 1)

    def forward(self, x: torch.Tensor, shift: torch.Tensor | None = None, sample: bool | None = None) -> torch.Tensor:
        sample = self.training if sample is None else sample
        grid = self.grid(x.shape[0], sample)
        if shift is not None:
            grid = grid + shift[:, None, :]
        y = F.grid_sample(x, grid[:, :, None, :], mode="bilinear", padding_mode="border", align_corners=True)
        y = y[..., 0]  # (batch, C, n_neurons)
        return (y * self.features[None]).sum(1) + self.bias

    def feature_l1(self) -> torch.Tensor:
        """L1 norm of the feature weights (sparsity regularizer, ``gamma_readout``)."""
        return self.features.abs().sum()
