"""The runs' per-run tables as one long table, and means over seeds: what every stage-7 job reads first."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..conditions import Run


def read_runs(paths, *, bn: str = "primary") -> pd.DataFrame:
    """Concatenate per-run CSVs, adding ``condition``, ``alpha`` (float) and ``seed`` (int) of each path's run
    (:meth:`neuroreg.conditions.Run.parse`).

    A table with a ``bn`` column (the BatchNorm variants of the noise and adversarial evaluations, primary first) is
    cut to its primary variant's rows (``bn="primary"``), or kept whole (``bn="all"``).
    """
    frames = []
    for p in paths:
        run = Run.parse(p)
        df = pd.read_csv(p)
        if bn == "primary" and "bn" in df.columns and len(df):
            df = df[df["bn"] == df["bn"].iloc[0]]
        df.insert(0, "seed", run.seed_value)
        df.insert(0, "alpha", run.alpha_value)
        df.insert(0, "condition", run.condition)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def main_alphas(df: pd.DataFrame) -> dict:
    """{condition: its main alpha}, the alpha most of its rows have (the main-text runs, not the alpha sweep's)."""
    return {c: g["alpha"].value_counts().idxmax() for c, g in df.groupby("condition")}


def mean_sem(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean, SEM (n - 1 sd / sqrt(n); NaN for a single seed) and n of ``value`` over the rows of each group."""
    g = df.groupby(by, sort=True)[value]
    out = g.agg(mean="mean", sd=lambda v: v.std(ddof=1), n="count").reset_index()
    out["sem"] = out["sd"] / np.sqrt(out["n"])
    return out.drop(columns="sd")
