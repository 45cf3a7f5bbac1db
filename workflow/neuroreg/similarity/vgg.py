"""The ``vgg`` similarity target: centred unit vectors of VGG19 conv3_1 features of the stimuli.

Only built when ``data.vgg19_weights`` in config.yaml points at a torchvision-format VGG19
state dict (``features.N.weight`` / ``features.N.bias``); torchvision itself is not needed.
Layers ``features[0..11]`` of torchvision's VGG19 are rebuilt here: conv3-64 x2, max-pool,
conv3-128 x2, max-pool, conv3_1 (index 10, 256 channels) and its ReLU (index 11).

Preprocessing: grayscale uint8 (n, H, W) -> [0, 1], replicated to 3 channels, bilinearly
resized by ``upsample`` (default 1: the stimuli's own 36 x 64), ImageNet mean/std
normalisation. Feature vector: the ReLU(conv3_1) map flattened (256 * H/4 * W/4).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..files import InputError

CONV3_1 = 11  # torchvision VGG19 features index of ReLU(conv3_1)
_LAYERS = [("conv", 3, 64), ("relu",), ("conv", 64, 64), ("relu",), ("pool",),
           ("conv", 64, 128), ("relu",), ("conv", 128, 128), ("relu",), ("pool",),
           ("conv", 128, 256), ("relu",)]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CONFIG_KEY = "data.vgg19_weights"


def vgg19_conv3_1() -> nn.Sequential:
    """torchvision's ``vgg19().features[:12]`` (same indices, so state-dict keys match)."""
    mods = []
    for spec in _LAYERS:
        if spec[0] == "conv":
            mods.append(nn.Conv2d(spec[1], spec[2], kernel_size=3, padding=1))
        elif spec[0] == "relu":
            mods.append(nn.ReLU(inplace=True))
        else:
            mods.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*mods)


def load_vgg19_conv3_1(weights_path) -> nn.Sequential:
    """Build the layers and load ``features.N.*`` from a torchvision VGG19 state dict (weights_only)."""
    if weights_path is None:
        raise InputError("config.yaml", CONFIG_KEY, "the 'vgg' similarity target needs VGG19 weights: set "
                         f"{CONFIG_KEY} to a torchvision VGG19 state dict (.pth), or remove 'vgg' from "
                         "similarity.targets")
    path = Path(weights_path)
    if not path.is_file():
        raise InputError(path, CONFIG_KEY, "file does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file is a user input problem
        raise InputError(path, CONFIG_KEY, f"not a loadable torch state dict: {err}") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    model = vgg19_conv3_1()
    wanted = {f"features.{k}": v for k, v in model.state_dict().items()}
    missing = [k for k in wanted if k not in state]
    if missing:
        raise InputError(path, missing[0], f"missing from the state dict ({len(missing)} keys missing); expected "
                         "torchvision VGG19 keys features.N.weight / features.N.bias")
    for k, v in wanted.items():
        if tuple(state[k].shape) != tuple(v.shape):
            raise InputError(path, k, f"shape {tuple(state[k].shape)}, VGG19 expects {tuple(v.shape)}")
    model.load_state_dict({k[len("features."):]: state[k] for k in wanted})
    return model.eval()


def conv3_1_features(model: nn.Sequential, images: np.ndarray, *, upsample: float = 1.0) -> np.ndarray:
    """ReLU(conv3_1) features (n, 256 * h * w) float32 of grayscale uint8 images (n, H, W)."""
    x = torch.as_tensor(np.asarray(images), dtype=torch.float32)[:, None] / 255.0
    if upsample != 1:
        x = nn.functional.interpolate(x, scale_factor=upsample, mode="bilinear", align_corners=False)
    x = x.expand(-1, 3, -1, -1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    with torch.no_grad():
        return model((x - mean) / std).flatten(1).numpy().astype(np.float32)


def build_vgg_target(out, weights_path, stimuli_path, *, block_size: int = 1024, upsample: float = 1.0,
                     batch_size: int = 64, scratch_dir=None) -> None:
    """Write ``results/similarity/vgg.h5`` over the once-shown stimuli (``is_oracle`` false).

    Two passes over a scratch store (features, then centring + normalisation), so only
    batches and blocks are in memory (:func:`.content.feature_target`).
    """
    from .content import feature_target

    model = load_vgg19_conv3_1(weights_path)
    attrs = {"method": f"VGG19 conv3_1 (after ReLU) features, centred unit vectors, upsample {upsample}",
             "weights": str(weights_path)}
    feature_target(out, stimuli_path, lambda images: conv3_1_features(model, images, upsample=upsample), "vgg", attrs,
                   block_size=block_size, batch_size=batch_size, scratch_dir=scratch_dir)
