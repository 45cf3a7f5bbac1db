"""Reading a co-trained model and the CIFAR test set; writing the stage-6 outputs atomically."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import torch

from neuroreg.cotrain import resnet
from neuroreg.ingest.cifar import load_cifar_h5
from neuroreg.io import InputError, atomic_output


def load_model(model_path, metrics_path) -> torch.nn.Module:
    """The stage-5 model: ``resnet.build(**metrics["model"])`` with the weights of model.pt, eval mode,
    channels_last (NHWC): fp32 and the same outputs to ~1e-6, 1.2-1.3x faster on a CPU for the noise
    evaluation and the attacks' gradients (``python benchmarks/eval_layout.py``)."""
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
    return model.eval().to(memory_format=torch.channels_last)


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


def write_csv(df, path, **kw) -> None:
    with atomic_output(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g", **kw)
