"""Choosing the best blur of the low-pass control on held-out images (rule ``blur_selection``).

The ``blurbest_{condition}`` runs put a condition on top of "the best blur": the sigma of the
``blur{sigma}`` sweep whose models (every seed) have the highest accuracy averaged over the noise
levels of ``robustness.noise_levels`` (clean included), on the last ``data.n_validation`` images of
the CIFAR training split, which no run trains on (``cotrain.n_train`` must leave them out). Never on
the test set. ``tables/blur_selection.csv``: one row per sigma: condition, sigma, n_seeds, clean
(validation accuracy without noise), score (mean over the levels) and its sem over seeds, n_images,
selected (exactly one True; ties go to the smaller sigma).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..ingest.cifar import load_cifar_h5
from ..files import InputError
from ..noise import noise_accuracy

COLUMNS = ["condition", "sigma", "n_seeds", "clean", "score", "score_sem", "n_images", "selected"]


def held_out_images(cifar_path, n_validation: int, n_train: int | None):
    """The last ``n_validation`` training images of ``cifar_path`` as tensors, checked to be outside the
    first ``n_train`` the runs train on."""
    c = load_cifar_h5(cifar_path, splits=("train",))
    n = len(c["train_labels"])
    if n_train is None or n_train > n - n_validation:
        raise InputError(cifar_path, "train/images", f"the blur is chosen on the last data.n_validation = {n_validation} "
                         f"of the {n} training images, but cotrain.n_train = {n_train} trains on them: set "
                         f"cotrain.n_train <= {n - n_validation}")
    images = torch.from_numpy(np.ascontiguousarray(c["train_images"][n - n_validation:, None]))
    return images, torch.from_numpy(c["train_labels"][n - n_validation:])


def selection_table(rows: list[dict]) -> pd.DataFrame:
    """Per-run rows (condition, sigma, seed, level, accuracy) -> the selection table (module doc)."""
    df = pd.DataFrame(rows)
    per_run = df.groupby(["condition", "sigma", "seed"]).agg(
        score=("accuracy", "mean"), clean=("accuracy", lambda a: a[df.loc[a.index, "level"] == 0].mean()),
        n_images=("n_images", "first")).reset_index()
    out = per_run.groupby(["condition", "sigma"]).agg(
        n_seeds=("seed", "count"), clean=("clean", "mean"), score=("score", "mean"),
        score_sd=("score", lambda v: v.std(ddof=1)), n_images=("n_images", "first")).reset_index()
    out["score_sem"] = out.pop("score_sd") / np.sqrt(out["n_seeds"])
    out = out.sort_values("sigma").reset_index(drop=True)
    out["selected"] = False
    out.loc[int(out["score"].to_numpy().argmax()), "selected"] = True  # argmax: the first (smallest sigma) of ties
    return out[COLUMNS]


def select(models: list[tuple[str, float, int, torch.nn.Module]], images, labels, levels, noise_seed: int,
           batch_size: int = 500) -> pd.DataFrame:
    """models: (condition, sigma, seed, model) of the sweep -> the selection table."""
    rows = []
    for cond, sigma, seed, model in models:
        acc = noise_accuracy(model, images, labels, levels, noise_seed, batch_size=batch_size)
        rows += [{"condition": cond, "sigma": sigma, "seed": seed, **r} for r in acc.to_dict("records")]
    return selection_table(rows)


def selected_sigma(path) -> float:
    """The sigma of the row marked selected in ``tables/blur_selection.csv``."""
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(path, None, f"cannot be read as CSV: {err}") from err
    missing = [c for c in ("sigma", "selected") if c not in df.columns]
    if missing:
        raise InputError(path, missing[0], "missing column (written by rule blur_selection)")
    chosen = df.loc[df["selected"].astype(str).str.lower() == "true", "sigma"]
    if len(chosen) != 1:
        raise InputError(path, "selected", f"{len(chosen)} rows selected, expected exactly 1")
    return float(chosen.iloc[0])
