"""The low-frequency probe across models (Fig. 13, tables/frequency.csv, tables/partial_correlations.csv).

Per model (``frequency.csv`` of :mod:`neuroreg.robustness.frequency`, read with :func:`.runs.read_runs`): its clean
accuracy and its low-frequency reliance (LFR), beside its brain-likeness and robustness scores (the table of
Fig. 10). Over the models: the partial correlation of each robustness score with brain-likeness given clean accuracy
and LFR (Pearson's r of the residuals of both on the covariates and an intercept), with a 95 % percentile interval
from a bootstrap over models: does brain-likeness say anything about robustness that accuracy and a reliance on low
frequencies do not?
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..robustness.frequency import low_frequency_reliance
from .runs import at_main_alphas, main_alphas, mean_sem
from .style import condition_color, condition_label, condition_order, legend, plt, save

KEYS = ["condition", "alpha", "seed"]


def lfr_table(freq: pd.DataFrame) -> pd.DataFrame:
    """One row per model: condition, alpha, seed, clean (accuracy), lfr."""
    rows = []
    for key, d in freq.groupby(KEYS, sort=False):
        clean = float(d.loc[d["filter"] == "clean", "accuracy"].iloc[0])
        rows.append(dict(zip(KEYS, key), clean=clean, lfr=low_frequency_reliance(d)))
    return pd.DataFrame(rows, columns=KEYS + ["clean", "lfr"])


def partial_correlation(x, y, covariates) -> float:
    """Pearson r of x and y after regressing each on ``covariates`` (n, k) and an intercept."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    z = np.column_stack([np.ones(len(x)), np.asarray(covariates, float).reshape(len(x), -1)])
    rx = x - z @ np.linalg.lstsq(z, x, rcond=None)[0]
    ry = y - z @ np.linalg.lstsq(z, y, rcond=None)[0]
    den = np.sqrt((rx @ rx) * (ry @ ry))
    return float(rx @ ry / den) if den > 0 else float("nan")


def partial_correlations(table: pd.DataFrame, x: str, scores, covariates=("clean", "lfr"), *, n_boot=2000,
                         seed=0) -> pd.DataFrame:
    """Per score: n models, partial r of the score with ``x`` given ``covariates``, and its bootstrap interval."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in scores:
        d = table[[x, s, *covariates]].dropna()
        n = len(d)
        r = partial_correlation(d[x], d[s], d[list(covariates)]) if n > len(covariates) + 2 else float("nan")
        boot = []
        if np.isfinite(r):
            v = d.to_numpy(float)
            for _ in range(n_boot):
                b = v[rng.integers(0, n, n)]
                boot.append(partial_correlation(b[:, 0], b[:, 1], b[:, 2:]))
        boot = np.array([b for b in boot if np.isfinite(b)])
        lo, hi = (np.quantile(boot, [0.025, 0.975]) if len(boot) else (float("nan"), float("nan")))
        rows.append({"score": s, "x": x, "given": "+".join(covariates), "n_models": n, "partial_r": r,
                     "ci_low": float(lo), "ci_high": float(hi)})
    return pd.DataFrame(rows)


def plot_frequency(freq: pd.DataFrame, lfr: pd.DataFrame, path) -> None:
    """Accuracy on low-pass (left) and high-pass (middle) images against the cutoff, per condition (mean ± SEM over
    seeds, each condition's most common alpha); right: each model's LFR by condition."""
    main = main_alphas(freq)
    d = at_main_alphas(freq)
    conds = condition_order(d["condition"].unique())
    fig, axes = plt.subplots(1, 3, figsize=(12.5, 3.8))
    for ax, kind in zip(axes[:2], ("low", "high")):
        for c in conds:
            s = mean_sem(d[(d["condition"] == c) & (d["filter"] == kind)], ["cutoff"], "accuracy")
            ax.errorbar(s["cutoff"], 100 * s["mean"], yerr=100 * s["sem"].fillna(0), marker="o", ms=3, capsize=2,
                        color=condition_color(c), label=condition_label(c))
        ax.axhline(100 / 10, color="0.6", lw=0.8, ls=":")  # chance (10 classes)
        ax.set_xlabel("cutoff (cycles per image)")
        ax.set_ylabel(f"accuracy on {kind}-pass images (%)")
        ax.set_title(f"{kind}-pass: radius {'<=' if kind == 'low' else '>'} cutoff")
        ax.set_ylim(0, None)
    for k, c in enumerate(conds):
        v = lfr[(lfr["condition"] == c) & (lfr["alpha"] == main[c])]["lfr"]
        axes[2].plot(np.full(len(v), k), v, "o", ms=5, color=condition_color(c), alpha=0.85)
        if len(v):
            axes[2].plot([k - 0.25, k + 0.25], [v.mean()] * 2, color="0.2", lw=1.2)
    axes[2].set_xticks(range(len(conds)))
    axes[2].set_xticklabels([condition_label(c) for c in conds], rotation=60, ha="right", fontsize=7.5)
    axes[2].set_ylabel("low-frequency reliance\n(low - high) / clean accuracy")
    axes[2].set_title("per model (bar: mean)")
    legend(axes[0], fontsize=7, loc="lower right")
    fig.tight_layout()
    save(fig, path)
