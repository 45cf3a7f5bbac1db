"""CIFAR ResNet18/34 (3x3 stem, no max-pool) for grayscale images, with its feature layers.

Inputs are images in pixel space, ``(B, 1, H, W)`` floats in [0, 1]; the normalization
(grayscale CIFAR mean / std) is the first layer of the model, so attacks and noise act
on pixels. The network is fully convolutional with global average pooling, so it takes
CIFAR images (32 x 32) and stimulus images (36 x 64) alike.

Conv-layer numbering (the paper's "layer 1, 5, 9, 13, 17 in ResNet18"):
conv 1 is the stem conv; each BasicBlock then has two convs, numbered in order, so in
ResNet18 convs 2-5 are stage 1, 6-9 stage 2, 10-13 stage 3, 14-17 stage 4. The feature
of conv 1 is the stem output after BN + ReLU; the feature of the last conv of a block
(an odd number >= 3) is that block's output after the residual add + ReLU. So for
ResNet18, layers 1, 5, 9, 13, 17 are the stem and the end of each of the four stages.
(For ResNet34, blocks (3, 4, 6, 3), the stage ends are convs 7, 15, 27, 33.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Grayscale CIFAR-10 train set (ITU-R 601-2 luma), pixel scale [0, 1]; train.py replaces
# them with the statistics of the training images it is given (they live in the state dict).
GRAY_MEAN = 0.4809
GRAY_STD = 0.2392

BLOCKS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}


class Normalize(nn.Module):
    """(x - mean) / std with mean and std as buffers (saved with the weights)."""

    def __init__(self, mean: float = GRAY_MEAN, std: float = GRAY_STD):
        super().__init__()
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, x):
        return (x - self.mean) / self.std


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet: ``forward(x)`` -> logits (B, num_classes); ``features(x)`` -> feature maps.

    Args (keyword-only): arch ('resnet18' | 'resnet34'), num_classes, in_channels (1 for
    grayscale), width (channels of stage 1; 64 is the standard ResNet, tests use 8),
    layers (the conv numbers whose features :meth:`features` returns, see module doc).
    """

    def __init__(self, *, arch="resnet18", num_classes=10, in_channels=1, width=64, layers=(1, 5, 9, 13, 17)):
        super().__init__()
        if arch not in BLOCKS:
            raise ValueError(f"arch: {arch!r} is not one of {sorted(BLOCKS)}")
        self.arch, self.width = arch, width
        self.normalize = Normalize()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        blocks, c_in = [], width
        for stage, n in enumerate(BLOCKS[arch]):
            c_out = width * 2**stage
            for i in range(n):
                blocks.append(BasicBlock(c_in, c_out, 2 if (stage > 0 and i == 0) else 1))
                c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(c_in, num_classes)
        self.n_convs = 1 + 2 * len(blocks)
        self.layers = tuple(int(k) for k in layers)
        for k in self.layers:
            if not (k == 1 or (k % 2 == 1 and 3 <= k <= self.n_convs)):
                raise ValueError(
                    f"layers: conv {k} has no feature in {arch}: use 1 (stem) or the last conv of a block "
                    f"(odd numbers 3..{self.n_convs})"
                )

    def set_normalization(self, mean: float, std: float) -> None:
        self.normalize.mean.fill_(float(mean))
        self.normalize.std.fill_(float(std))

    def stem(self, x):
        return F.relu(self.bn1(self.conv1(self.normalize(x))))

    def features(self, x, layers=None) -> list[torch.Tensor]:
        """Feature maps of the selected conv layers, in the order of ``layers``.

        x: (B, 1, H, W) in [0, 1]. Returns a list of (B, C_k, H_k, W_k) tensors. Stops after
        the deepest requested layer (the classifier head is not run).
        """
        layers = self.layers if layers is None else tuple(layers)
        found = {}
        h = self.stem(x)
        if 1 in layers:
            found[1] = h
        last = max(layers)
        for b, block in enumerate(self.blocks):
            conv = 3 + 2 * b  # number of this block's last conv
            if conv > last:
                break
            h = block(h)
            if conv in layers:
                found[conv] = h
        return [found[k] for k in layers]

    def forward(self, x):
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return self.fc(h.mean((2, 3)))  # global average pooling (deterministic backward on CUDA)


def build(*, arch="resnet18", num_classes=10, width=64, layers=(1, 5, 9, 13, 17)) -> ResNet:
    """The model of stage 5 (1 input channel); ``metrics.json['model']`` holds these arguments."""
    return ResNet(arch=arch, num_classes=num_classes, in_channels=1, width=width, layers=layers)
