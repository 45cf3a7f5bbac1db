"""Reading a co-trained model in the BatchNorm variants of stage 6, and the CIFAR test set."""

from __future__ import annotations

import numpy as np
import torch

from neuroreg.cotrain.outputs import load_model
from neuroreg.ingest.cifar import load_cifar_h5


def load_variants(model_path, metrics_path, cifar_path, cfg: dict, device) -> dict:
    """{bn variant: model} of ``cfg["bn"]`` (:mod:`neuroreg.robustness.bn`): as trained, and / or with BatchNorm's
    statistics re-estimated on the first ``cfg["bn_images"]`` training images of ``cifar_path``, on ``device``."""
    from . import bn

    model = load_model(model_path, metrics_path).to(device)
    train = None
    if "cifar" in cfg["bn"]:
        c = load_cifar_h5(cifar_path, splits=("train",), n_train=cfg["bn_images"])
        train = torch.from_numpy(np.ascontiguousarray(c["train_images"][:, None]))
    return bn.variants(model, cfg["bn"], train)


def bn_first(df):
    """The table with its ``bn`` column first (its rows stay in the order of ``robustness.bn``: primary first)."""
    return df[["bn"] + [c for c in df.columns if c != "bn"]]


def load_test(cifar_path, n: int | None = None):
    """(images (n, 1, H, W) uint8 tensor, labels (n,) int64 tensor): the first n test images (all if None)."""
    c = load_cifar_h5(cifar_path, splits=("test",), n_test=n)
    return torch.from_numpy(np.ascontiguousarray(c["test_images"][:, None])), torch.from_numpy(c["test_labels"])
