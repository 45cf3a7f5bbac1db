"""The convolutional core of the encoder (section 2.2: "a simple 3-layer CNN with skip connection").

Follows neuralpredictors' ``Stacked2dCore`` (Sinz et al. 2018): layer 1 is a
``input_kernel`` x ``input_kernel`` convolution, the others ``hidden_kernel`` x
``hidden_kernel``; each layer is conv -> batch norm -> ELU. With skip connections
(``skip=0`` means all) layer ``l`` sees the channel-concatenation of the outputs of
the previous ``skip`` layers, and the core returns the concatenation of all layer
outputs, so the readout can read features of every depth.
All convolutions are zero-padded ("same"), so the feature map keeps the image size.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class DepthSeparableConv2d(nn.Sequential):
    """1x1 channel mixing followed by a per-channel (depthwise) k x k convolution."""

    def __init__(self, in_channels: int, out_channels: int, kernel: int):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, 1, bias=False),
            nn.Conv2d(out_channels, out_channels, kernel, padding=kernel // 2, groups=out_channels, bias=False),
        )


class Stacked2dCore(nn.Module):
    """Images (batch, 1, H, W) -> features (batch, layers * hidden_channels, H, W)."""

    def __init__(self, in_channels: int = 1, hidden_channels: int = 32, layers: int = 3, input_kernel: int = 9,
                 hidden_kernel: int = 7, skip: int = 0, depth_separable: bool = False, momentum: float = 0.1):
        super().__init__()
        self.skip = skip
        self.hidden_channels = hidden_channels
        self.layers = nn.ModuleList()
        for k in range(layers):
            if k == 0:
                conv = nn.Conv2d(in_channels, hidden_channels, input_kernel, padding=input_kernel // 2, bias=False)
            else:
                n_in = hidden_channels * (k if skip == 0 else min(skip, k))
                if depth_separable:
                    conv = DepthSeparableConv2d(n_in, hidden_channels, hidden_kernel)
                else:
                    conv = nn.Conv2d(n_in, hidden_channels, hidden_kernel, padding=hidden_kernel // 2, bias=False)
            self.layers.append(nn.Sequential(conv, nn.BatchNorm2d(hidden_channels, momentum=momentum), nn.ELU()))

    @property
    def out_channels(self) -> int:
        return self.hidden_channels * len(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs = []
        for k, layer in enumerate(self.layers):
            if k == 0:
                inp = x
            else:
                keep = k if self.skip == 0 else min(self.skip, k)
                inp = torch.cat(outputs[-keep:], dim=1)
            outputs.append(layer(inp))
        return torch.cat(outputs, dim=1)

    def laplace_penalty(self) -> torch.Tensor:
        """Smoothness of the first-layer kernels: sum of squared 3x3 Laplacians over the summed squared weights
        (neuralpredictors' ``LaplaceL2norm``)."""
        w = self.layers[0][0].weight  # (out, in, k, k)
        lap = w.new_tensor([[0.0, -1.0, 0.0], [-1.0, 4.0, -1.0], [0.0, -1.0, 0.0]])[None, None]
        oc, ic, k1, k2 = w.shape
        conv = F.conv2d(w.reshape(oc * ic, 1, k1, k2), lap, padding=1)
        return conv.pow(2).sum() / w.pow(2).sum().clamp_min(1e-12)
