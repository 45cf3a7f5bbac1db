"""The modulator (Sinz et al. 2018): behaviour -> a positive, per-neuron multiplicative gain.

``gain = exp(MLP(behaviour))``; the last layer starts at zero so every gain starts at 1.
Behaviour is (pupil size, its derivative, running speed), z-scored with training statistics,
so behaviour at its mean is the zero vector.
"""

from __future__ import annotations

import torch
from torch import nn


class MLPModulator(nn.Module):
    """Behaviour (batch, 3) -> gain (batch, n_neurons) > 0."""

    def __init__(self, n_neurons: int, hidden: int = 10, in_features: int = 3):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_features, hidden), nn.ELU(), nn.Linear(hidden, n_neurons))
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, behavior: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.mlp(behavior).clamp(max=10.0))
