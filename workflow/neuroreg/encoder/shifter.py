"""The shifter (Sinz et al. 2018): pupil centre -> readout shift, shared over the neurons of a scan.

An MLP with tanh nonlinearities, tanh on the output too, so a shift lies in
(-1, 1) grid units (the readout's coordinates: 1 = half the image width/height).
"""

from __future__ import annotations

import torch
from torch import nn


class MLPShifter(nn.Module):
    """Pupil centre (batch, 2), z-scored -> shift (batch, 2) in grid units."""

    def __init__(self, hidden: int = 5, layers: int = 3, in_features: int = 2):
        super().__init__()
        mods, n_in = [], in_features
        for _ in range(layers - 1):
            mods += [nn.Linear(n_in, hidden), nn.Tanh()]
            n_in = hidden
        mods += [nn.Linear(n_in, 2), nn.Tanh()]
        self.mlp = nn.Sequential(*mods)

    def forward(self, pupil_center: torch.Tensor) -> torch.Tensor:
        return self.mlp(pupil_center)
