"""Reading a co-trained model and the CIFAR test set; writing the stage-6 outputs atomically."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch

from neuroreg.cotrain import resnet
from neuroreg.io import InputError, atomic_output, open_h5, require_key


def load_model(model_path, metrics_path) -> torch.nn.Module:
    """The stage-5 model: ``resnet.build(**metrics["model"])`` with the weights of model.pt, eval mode."""
    try:
        metrics = json.loads(Path(metrics_path).read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise InputError(metrics_path, None, f"cannot be read as JSON: {err}") from err
    if "model" not in metrics:
        raise InputError(metrics_path, "model", "missing (required: the arguments of resnet.build)")
    model = resnet.build(**metrics["model"])
    try:
        state = torch.load(model_path, weights_only=True, map_location="cpu")
        model.load_state_dict(state)
    except FileNotFoundError as err:
        raise InputError(model_path, None, "file does not exist") from err
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as err:
        raise InputError(model_path, None, f"not the weights of {metrics['model']}: {err}") from err
    return model.eval()


def load_test(cifar_path, n: int | None = None):
    """(images (n, 1, H, W) uint8 tensor, labels (n,) int64 tensor): the first n test images (all if None)."""
    with open_h5(cifar_path) as h5:
        images = require_key(h5, "test/images", cifar_path)
        labels = require_key(h5, "test/labels", cifar_path)
        if images.ndim != 3 or images.dtype != np.uint8:
            raise InputError(cifar_path, "test/images", f"expected (N, H, W) uint8, got {images.shape} {images.dtype}")
        if labels.shape != (images.shape[0],):
            raise InputError(cifar_path, "test/labels", f"shape {labels.shape}, expected ({images.shape[0]},)")
        sl = slice(None) if n is None else slice(0, int(n))
        x, y = images[sl], labels[sl].astype(np.int64)
    return torch.from_numpy(np.ascontiguousarray(x[:, None])), torch.from_numpy(y)


def write_csv(df, path, **kw) -> None:
    with atomic_output(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g", **kw)
