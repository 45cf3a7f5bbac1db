"""Data for co-training, resident on the device, and augmentation done there (airbench style).

* CIFAR (``results/data/cifar10.h5``): ``train/images`` (N, 32, 32) uint8 grayscale,
  ``train/labels``, ``test/images``, ``test/labels`` -> uint8 tensors (N, 1, 32, 32) on the device.
* Stimuli (``results/data/stimuli.h5`` rows ``image_index`` of the target file) -> uint8
  (n, 1, 36, 64) on the device, fed at their native size: the network is fully
  convolutional, and the similarity uses the flattened feature maps, so no resizing or
  cropping changes the images whose neural similarities are the target. No augmentation
  on stimuli (the target is for the images as shown).
* Target (``results/similarity/{target}.h5`` ``similarity`` (n, n)) -> a float tensor on the
  device (fp32 by default, 100 MB at n = 5000; fp16 halves it); :func:`target_block`
  gathers the (B, B) submatrix of a batch of stimulus indices.

Pixels become floats in [0, 1] (x / 255) only per batch. Augmentation of CIFAR batches
(``cotrain.augment``): random crop 32 x 32 from the image zero-padded by 4 pixels (torchvision's
``RandomCrop(32, padding=4)``, the usual CIFAR recipe), then a horizontal flip with p = 0.5
(``crop_flip``, the default); the flip alone (``flip``: in a schedule of a few epochs the crops
slow learning more than they regularize); or none. Vectorized, drawn from a ``torch.Generator``
on the device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from neuroreg.ingest.cifar import load_cifar_h5
from neuroreg.files import InputError, open_h5, require_finite, require_key


@dataclass
class Cifar:
    train_images: torch.Tensor  # (N, 1, 32, 32) uint8
    train_labels: torch.Tensor  # (N,) int64
    test_images: torch.Tensor  # (M, 1, 32, 32) uint8
    test_labels: torch.Tensor  # (M,) int64
    n_classes: int


@dataclass
class Stimuli:
    images: torch.Tensor  # (n, 1, H, W) uint8, row i = target row i
    target: torch.Tensor  # (n, n) float, S^neural
    image_id: np.ndarray  # (n,) int64
    attrs: dict


def read_images(h5, key, path) -> np.ndarray:
    arr = require_key(h5, key, path)[()]
    if arr.ndim != 3 or arr.dtype != np.uint8:
        raise InputError(path, key, f"expected (N, H, W) uint8 grayscale images, got {arr.shape} {arr.dtype}")
    return arr


def load_cifar(path, device, n_train: int | None = None, n_test: int | None = None) -> Cifar:
    """CIFAR h5 (:func:`neuroreg.ingest.cifar.load_cifar_h5`, schema in the README) -> :class:`Cifar` on ``device``.

    ``n_train`` / ``n_test``: keep only the first n images of a split (config ``cotrain.n_train`` /
    ``n_test``; the quick configuration); None = all.
    """
    c = load_cifar_h5(path, n_train=n_train, n_test=n_test)

    def dev(a):
        return torch.from_numpy(np.ascontiguousarray(a)).to(device)

    return Cifar(dev(c["train_images"][:, None]), dev(c["train_labels"]), dev(c["test_images"][:, None]),
                 dev(c["test_labels"]), c["n_classes"])


def load_stimuli(stimuli_path, target_path, device, *, dtype=torch.float32, block=1024) -> Stimuli:
    """The stimuli of a similarity target and the target matrix, on ``device``.

    The (n, n) matrix is read in row blocks (no second full copy in host memory) and checked:
    finite, values in [-1, 1], square, matching ``image_index``.
    """
    with open_h5(target_path) as h5:
        ds = require_key(h5, "similarity", target_path)
        index = require_key(h5, "image_index", target_path)[()].astype(np.int64)
        image_id = require_key(h5, "image_id", target_path)[()].astype(np.int64)
        n = len(index)
        if ds.shape != (n, n):
            raise InputError(target_path, "similarity", f"shape {ds.shape}, expected ({n}, {n}) (n = len(image_index))")
        if n < 2:
            raise InputError(target_path, "similarity", "needs at least 2 images")
        target = torch.empty((n, n), dtype=dtype, device=device)
        for start in range(0, n, block):
            rows = require_finite(ds[start : start + block].astype(np.float32), target_path, "similarity")
            if np.abs(rows).max() > 1 + 1e-4:
                raise InputError(target_path, "similarity", "values outside [-1, 1]: not a similarity matrix")
            target[start : start + len(rows)] = torch.from_numpy(rows).to(device, dtype)
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in h5.attrs.items()}
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    with open_h5(stimuli_path) as h5:
        images = read_images(h5, "images", stimuli_path)
        if index.min() < 0 or index.max() >= len(images):
            raise InputError(target_path, "image_index", f"indices outside the {len(images)} images of {stimuli_path}")
        ids = require_key(h5, "image_id", stimuli_path)[()]
        if not np.array_equal(ids[index], image_id):
            raise InputError(target_path, "image_id", f"does not match {stimuli_path} image_id at image_index")
    return Stimuli(torch.from_numpy(images[index][:, None].copy()).to(device), target, image_id, attrs)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, 1, H, W) -> float32 in [0, 1]."""
    return images.float().div_(255.0)


AUGMENTATIONS = ("crop_flip", "flip", "none")


def augment(images: torch.Tensor, generator: torch.Generator, pad: int = 4, mode: str = "crop_flip") -> torch.Tensor:
    """Vectorized augmentation of a CIFAR batch, uint8 (B, 1, H, W) -> float (B, 1, H, W) in [0, 1].

    mode ``crop_flip``: random crop (zero padding ``pad``) + horizontal flip with p = 0.5 (the usual
    CIFAR recipe); ``flip``: the flip only; ``none``: no augmentation (no draws).
    """
    if mode not in AUGMENTATIONS:
        raise ValueError(f"cotrain.augment: {mode!r} is not one of {', '.join(AUGMENTATIONS)}")
    if mode == "none":
        return to_float(images)
    b, c, h, w = images.shape
    dev = images.device
    if mode == "flip":
        flip = torch.rand((b,), device=dev, generator=generator) < 0.5
        x = to_float(images)
        return torch.where(flip[:, None, None, None], x.flip(3), x)
    x = F.pad(to_float(images), (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), device=dev, generator=generator)
    dx = torch.randint(0, 2 * pad + 1, (b,), device=dev, generator=generator)
    flip = torch.rand((b,), device=dev, generator=generator) < 0.5
    rows = (dy[:, None] + torch.arange(h, device=dev))[:, None, :, None]  # (B, 1, H, 1)
    cols = dx[:, None] + torch.arange(w, device=dev)  # (B, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)[:, None, None, :]  # (B, 1, 1, W)
    bi = torch.arange(b, device=dev)[:, None, None, None]
    ci = torch.arange(c, device=dev)[None, :, None, None]
    return x[bi, ci, rows, cols]


def target_block(target: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """S^neural for a batch: (B,) stimulus indices -> (B, B) fp32 submatrix."""
    return target[index[:, None], index[None, :]].float()
