"""The runs' per-run tables as one long table, and means over seeds: what every stage-7 job reads first."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..conditions import Run
from ..files import InputError


def read_runs(paths, *, bn: str = "primary") -> pd.DataFrame:
    """Concatenate per-run CSVs, each attributed by the ``condition``, ``alpha`` (float) and ``seed`` (int) it records
    (:meth:`neuroreg.conditions.Run.of_table`; a file that records no run is an InputError naming it).

    A table with a ``bn`` column (the BatchNorm variants of the noise and adversarial evaluations, primary first) is
    cut to its primary variant's rows (``bn="primary"``), or kept whole (``bn="all"``).
    """
    frames = []
    for p in paths:
        df = read_run_table(p)
        if bn == "primary" and "bn" in df.columns and len(df):
            df = df[df["bn"] == df["bn"].iloc[0]]
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def read_run_table(path) -> pd.DataFrame:
    """One per-run CSV with its recorded run as typed columns: ``condition`` (str), ``alpha`` (float), ``seed``
    (int) first."""
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, None, f"cannot be read as CSV: {err}") from err
    return Run.of_table(df, path).record(df)


def main_alphas(df: pd.DataFrame) -> dict:
    """{condition: its main alpha}, the alpha most of its rows have (the main-text runs, not the alpha sweep's)."""
    return {c: g["alpha"].value_counts().idxmax() for c, g in df.groupby("condition")}


def at_main_alphas(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of each condition's main alpha (:func:`main_alphas`): the main-text runs without the alpha sweep's."""
    main = main_alphas(df)
    return df[[main[c] == a for c, a in zip(df["condition"], df["alpha"])]]


def mean_sem(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, SEM (n - 1 sd / sqrt(n); NaN for a single seed) and n of ``value`` over the rows of each group."""
    g = df.groupby(by, sort=True)[value]
    out = g.agg(mean="mean", sd=lambda v: v.std(ddof=1), n="count").reset_index()
    out["sem"] = out["sd"] / np.sqrt(out["n"])
    return out.drop(columns="sd")


def seed_accuracies(noise: pd.DataFrame, cond: str, level: float, bn: str) -> np.ndarray:
    """Per seed, the accuracy of one condition at one noise level in BatchNorm variant ``bn`` (a table without a
    ``bn`` column: all its rows)."""
    d = noise[(noise["condition"] == cond) & np.isclose(noise["level"], level)]
    if "bn" in d:
        d = d[d["bn"] == bn]
    return d.groupby("seed")["accuracy"].mean().to_numpy(float)


def distance_matrix(images: pd.DataFrame, cond: str, norm: str, bn: str) -> pd.DataFrame:
    """(seeds x image_index) minimal distances of one condition, NaN where the model misclassifies the image."""
    d = images[(images["condition"] == cond) & (images["norm"] == norm)]
    if "bn" in d:
        d = d[d["bn"] == bn]
    vals = d["distance"].where(d["clean_correct"].astype(bool))
    return d.assign(value=vals).pivot_table(index="seed", columns="image_index", values="value", dropna=False)
