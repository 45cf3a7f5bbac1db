"""The encoder of section 2.2: core -> shifted Gaussian readout -> ELU + 1 -> x modulator gain.

``rate_a = (ELU(w_a . F(mu_a + shift(eye)) + b_a) + 1) * gain_a(behaviour)``, in units of the
normalized responses (response / per-neuron training std).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .core import Stacked2dCore
from .modulator import MLPModulator
from .readout import GaussianReadout
from .shifter import MLPShifter


class Encoder(nn.Module):
    """(images (B, 1, H, W), behaviour (B, 3), pupil centre (B, 2)) -> rates (B, n_neurons) > 0."""

    def __init__(self, n_neurons: int, hidden_channels: int = 32, layers: int = 3, input_kernel: int = 9,
                 hidden_kernel: int = 7, skip: int = 0, depth_separable: bool = False, init_mu_range: float = 0.3,
                 init_sigma: float = 0.1, shifter: bool = True, modulator: bool = True, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)  # parameter initialization is part of "deterministic for a seed"
        self.core = Stacked2dCore(1, hidden_channels, layers, input_kernel, hidden_kernel, skip, depth_separable)
        self.readout = GaussianReadout(self.core.out_channels, n_neurons, init_mu_range, init_sigma)
        self.shifter = MLPShifter() if shifter else None
        self.modulator = MLPModulator(n_neurons) if modulator else None

    def forward(self, images, behavior=None, pupil_center=None, sample: bool | None = None) -> torch.Tensor:
        features = self.core(images)
        shift = self.shifter(pupil_center) if (self.shifter is not None and pupil_center is not None) else None
        out = F.elu(self.readout(features, shift=shift, sample=sample)) + 1
        if self.modulator is not None and behavior is not None:
            out = out * self.modulator(behavior)
        return out

    def regularizer(self, gamma_input: float, gamma_readout: float) -> torch.Tensor:
        return gamma_input * self.core.laplace_penalty() + gamma_readout * self.readout.feature_l1()
