"""Outputs of a co-training run and the gamma table (Table 1 of the supplement).

Per run, in ``results/cotrain/{condition}/alpha{alpha}/seed{seed}/``:

* ``model.pt``: the ResNet state dict (incl. the normalization buffers), loadable with
  ``torch.load(weights_only=True)`` into ``resnet.build(**metrics["model"])``;
* ``history.csv``: one row per epoch: epoch, lr, cross_entropy, similarity_loss (mean of
  Eq. 8 over the epoch's steps; empty for alpha = 0), train_accuracy (on the augmented
  batches, during the epoch), test_accuracy (whole test set, eval mode), gamma_{k} per
  layer k, seconds (wall time of the epoch incl. evaluation);
* ``metrics.json``: condition, alpha, seed, model (arguments of ``resnet.build``), final
  accuracies and losses, gamma (final), recipe, device, seconds, target attributes.
"""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch

from neuroreg import resnet
from neuroreg.files import InputError, atomic_output, write_json

from .train import Recipe


def _clean(v):
    return None if isinstance(v, float) and math.isnan(v) else v


def save_run(model, mixer, history, r: Recipe, *, model_path, history_path, metrics_path, info: dict) -> dict:
    """Write model.pt, history.csv and metrics.json (each atomically). Returns the metrics."""
    with atomic_output(model_path) as tmp:
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, tmp)
    with atomic_output(history_path) as tmp:
        pd.DataFrame(history).to_csv(tmp, index=False, float_format="%.6g")
    last = history[-1]
    metrics = {
        **info,
        "model": {"arch": r.arch, "num_classes": model.fc.out_features, "width": r.width, "layers": list(r.layers),
                  **({"blur_sigma": r.blur_sigma} if r.blur_sigma else {})},
        "final": {k: _clean(last[k]) for k in ("test_accuracy", "train_accuracy", "cross_entropy", "similarity_loss")},
        "gamma": mixer.gamma_dict(),
        "epochs": len(history),
        "seconds": sum(h["seconds"] for h in history),
        "recipe": {**asdict(r), "layers": list(r.layers),
                  **({"blur_sigma": r.blur_sigma} if r.blur_sigma else {})},
    }
    write_json(metrics, metrics_path)
    return metrics


def gamma_table(metrics: list[dict]) -> pd.DataFrame:
    """Table 1: final gamma per layer, averaged over seeds, one row per alpha.

    metrics: the metrics.json dicts of the runs. Columns: alpha, n_seeds, gamma_{k}...
    """
    rows = [{"alpha": float(m["alpha"]), "seed": m["seed"], **m["gamma"]} for m in metrics]
    df = pd.DataFrame(rows)
    gammas = [c for c in df.columns if c.startswith("gamma_")]
    out = df.groupby("alpha")[gammas].mean()
    out.insert(0, "n_seeds", df.groupby("alpha")["seed"].nunique())
    return out.reset_index().sort_values("alpha")


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
