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

import math

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


class GaussianBlur(nn.Module):
    """A fixed isotropic Gaussian low-pass filter of the pixels (the low-pass control, Li et al. 2023).

    Separable, kernel radius ceil(3 sigma), weights normalized to sum 1, reflect padding (the image
    mirrored at its border, as torchvision's GaussianBlur): a constant image stays exactly that
    constant and the mean intensity of an image is kept up to what the mirrored border adds. No
    trainable parameters: the kernel is a non-persistent buffer rebuilt from ``sigma``, so a model's
    state dict is the same with and without it and ``metrics.json['model']['blur_sigma']`` rebuilds it.
    """

    def __init__(self, sigma: float):
        super().__init__()
        if not sigma > 0:
            raise ValueError(f"blur sigma must be > 0, got {sigma}")
        self.sigma = float(sigma)
        self.radius = max(1, math.ceil(3 * self.sigma))
        t = torch.arange(-self.radius, self.radius + 1, dtype=torch.float64)
        k = torch.exp(-0.5 * (t / self.sigma) ** 2)
        self.register_buffer("kernel", (k / k.sum()).float(), persistent=False)

    def forward(self, x):
        c, r = x.shape[1], self.radius
        k = self.kernel.to(x.dtype)
        x = F.pad(x, (r, r, r, r), mode="reflect")
        x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)

    def extra_repr(self) -> str:
        return f"sigma={self.sigma:g}, radius={self.radius}"


# oneDNN's AVX-512 backward-weights kernel of a 1x1 convolution with stride > 1 corrupts the heap when the
# input has fewer channels than its 16-channel block (torch 2.13.0, oneDNN 3.12, channels_last, fp32, CPUs without
# AMX or with ONEDNN_MAX_CPU_ISA=AVX512_CORE*): its "reduce to unit stride" copy of the strided input overruns
# the padded block. Exactly the width-8 network's stage-2 shortcut (8 -> 16 channels, 36 x 64 stimuli). The AVX2
# kernel (8-channel blocks) has the same fault below 8 input channels: it hangs.
# tests/test_cpu_kernels.py holds the torch-only reproducer; docs/OPERATIONS.md, "Troubleshooting".
ONEDNN_CHANNEL_BLOCK = 16


class Downsample(nn.Conv2d):
    """The shortcut's 1x1 convolution with stride s (no padding): output pixel (i, j) reads input pixel (s i, s j).

    On the CPU, when ``in_channels`` is not a multiple of :data:`ONEDNN_CHANNEL_BLOCK`, it is computed as the
    same 1x1 convolution with stride 1 on the input subsampled to every s-th row and column, the identical
    sum (one product per input channel), which keeps oneDNN off its faulty strided backward-weights path.
    Elsewhere (every width whose channels fill the block, e.g. 16 and 64, and every GPU) the plain strided
    convolution runs, so those networks compute exactly what they did. Same parameters and state dict as
    ``nn.Conv2d(c_in, c_out, 1, stride, bias=False)``.
    """

    def forward(self, x):
        sh, sw = self.stride
        if x.device.type == "cpu" and self.in_channels % ONEDNN_CHANNEL_BLOCK and (sh, sw) != (1, 1):
            return F.conv2d(x[:, :, ::sh, ::sw], self.weight, self.bias)
        return super().forward(x)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(Downsample(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

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

    def __init__(self, *, arch="resnet18", num_classes=10, in_channels=1, width=64, layers=(1, 5, 9, 13, 17),
                 blur_sigma: float = 0.0):
        super().__init__()
        if arch not in BLOCKS:
            raise ValueError(f"arch: {arch!r} is not one of {sorted(BLOCKS)}")
        self.arch, self.width = arch, width
        self.blur = GaussianBlur(blur_sigma) if blur_sigma else nn.Identity()  # the low-pass control's front end
        self.normalize = Normalize()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu1 = nn.ReLU()  # a module, so that conv 1's feature is a module's output (forward hooks); no state
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
            self.check_layer(k)

    def check_layer(self, k: int, key: str = "layers") -> None:
        if not (k == 1 or (k % 2 == 1 and 3 <= k <= self.n_convs)):
            raise ValueError(
                f"{key}: conv {k} has no feature in {self.arch}: use 1 (stem) or the last conv of a block "
                f"(odd numbers 3..{self.n_convs})"
            )

    def layer_name(self, k: int) -> str:
        """The module whose output is the feature of conv layer ``k`` (see module doc), for forward hooks
        (:func:`neuroreg.features.layer_features`): ``relu1`` (the stem, after BN + ReLU) or ``blocks.<b>``."""
        self.check_layer(k)
        return "relu1" if k == 1 else f"blocks.{(k - 3) // 2}"

    def layer_channels(self, k: int) -> int:
        """Channels of the feature of conv layer ``k`` (see module doc)."""
        self.check_layer(k)
        return self.width if k == 1 else self.blocks[(k - 3) // 2].conv2.out_channels

    def set_normalization(self, mean: float, std: float) -> None:
        self.normalize.mean.fill_(float(mean))
        self.normalize.std.fill_(float(std))

    def stem(self, x):
        return self.relu1(self.bn1(self.conv1(self.normalize(self.blur(x)))))

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


def build(*, arch="resnet18", num_classes=10, width=64, layers=(1, 5, 9, 13, 17), blur_sigma: float = 0.0) -> ResNet:
    """The model of stage 5 (1 input channel); ``metrics.json['model']`` holds these arguments
    (``blur_sigma`` > 0: the fixed Gaussian low-pass front end of the blur conditions)."""
    return ResNet(arch=arch, num_classes=num_classes, in_channels=1, width=width, layers=layers, blur_sigma=blur_sigma)
