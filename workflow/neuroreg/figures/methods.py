"""Stage 7: the methods side by side (tables/methods.csv, Fig. 11).

One row per condition, mean +- SEM over its seeds (n = seeds) of each model's:

* ``clean``: test accuracy without noise (noise.csv, level 0);
* ``noise``: accuracy averaged over the noise levels > 0; ``noise_max``: at the highest level;
* ``corruption``: mean CIFAR-10-C accuracy over the corruptions and severities evaluated;
* ``L2``, ``Linf``: the median minimal adversarial perturbation (attacked conditions only; empty otherwise);

and ``family`` (baseline, similarity, cka, multi-task, low-pass, low-pass + ...). Where the run has controls
without brain data (tables/controls.csv, :mod:`.controls`), a tested condition's row also has its gain over the
strongest control: ``gain_<measure>`` with ``_low``, ``_high`` (95 % interval) and ``_control`` (which), for
noise_max (the highest noise level), corruption, L2 and Linf (ratios). The differences to the
baseline ``none`` (``d_<measure>``, with the SEM of the difference of two independent means) say whether
a method helps beyond the seeds' scatter: the README and the report read them as gains only beyond 2 SEM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator, PercentFormatter

from .corruptions import per_model
from .style import condition_color, condition_label, condition_order, family, plt, save

MEASURES = ("clean", "noise", "noise_max", "corruption", "L2", "Linf")
LABELS = {"clean": "clean accuracy", "noise": "accuracy under noise\n(mean over levels > 0)",
          "noise_max": "accuracy at the\nhighest noise level", "corruption": "mean CIFAR-10-C accuracy",
          "L2": "median minimal L2\n(correctly classified images)",
          "Linf": "median minimal L$_\\infty$\n(correctly classified images)"}


def per_model_scores(noise: pd.DataFrame, corr: pd.DataFrame | None, adversarial: pd.DataFrame | None) -> pd.DataFrame:
    """One row per model (condition, alpha, seed) with the measures of the module doc it has."""
    keys = ["condition", "alpha", "seed"]
    top = noise["level"].max()
    out = noise[noise["level"] == 0].groupby(keys)["accuracy"].mean().rename("clean").to_frame()
    out = out.join(noise[noise["level"] > 0].groupby(keys)["accuracy"].mean().rename("noise"), how="outer")
    out = out.join(noise[noise["level"] == top].groupby(keys)["accuracy"].mean().rename("noise_max"), how="outer")
    if corr is not None and len(corr):
        out = out.join(per_model(corr).set_index(keys)["all"].rename("corruption"), how="outer")
    if adversarial is not None and len(adversarial):
        col = "median_correct" if "median_correct" in adversarial else "median"
        for norm in ("L2", "Linf"):
            sel = adversarial[adversarial["norm"] == norm]
            if len(sel):
                out = out.join(sel.set_index(keys)[col].rename(norm), how="left")
    return out.reset_index()


def methods_table(scores: pd.DataFrame, baseline: str = "none") -> pd.DataFrame:
    """tables/methods.csv (module doc) from :func:`per_model_scores`."""
    measures = [m for m in MEASURES if m in scores.columns]
    rows = []
    for cond in condition_order(scores["condition"].unique()):
        s = scores[scores["condition"] == cond]
        row = {"condition": cond, "family": family(cond), "alpha": s["alpha"].iloc[0], "n": len(s)}
        for m in measures:
            v = s[m].dropna().to_numpy(float)
            v = v[np.isfinite(v)]
            row[f"{m}_mean"] = v.mean() if len(v) else np.nan
            row[f"{m}_sem"] = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    if baseline in set(out["condition"]):
        b = out.set_index("condition").loc[baseline]
        for m in measures:
            out[f"d_{m}"] = out[f"{m}_mean"] - b[f"{m}_mean"]
            out[f"d_{m}_sem"] = np.sqrt(out[f"{m}_sem"] ** 2 + b[f"{m}_sem"] ** 2)
    return out


CONTROL_MEASURES = {"corruption": "corruption", "median_L2": "L2", "median_Linf": "Linf"}


def with_control_gains(table: pd.DataFrame, controls: pd.DataFrame) -> pd.DataFrame:
    """``table`` (:func:`methods_table`) with the gain over the strongest control of tables/controls.csv (module
    doc) on each tested condition's row."""
    out = table.copy()
    if controls is None or not len(controls):
        return out
    noise = sorted((m for m in controls["measure"] if m.startswith("accuracy_sd")),
                   key=lambda m: float(m[len("accuracy_sd"):]))
    names = {**CONTROL_MEASURES, **({noise[-1]: "noise_max"} if noise else {})}
    for measure, m in names.items():
        rows = controls[controls["measure"] == measure].set_index("tested")
        for col, src in (("", "effect"), ("_low", "ci_low"), ("_high", "ci_high"), ("_control", "strongest")):
            out[f"gain_{m}{col}"] = out["condition"].map(rows[src]) if len(rows) else np.nan
    return out


def plot_methods(table: pd.DataFrame, path, *, baseline: str = "none") -> None:
    """Fig. 11: each measure's mean +- SEM per condition (a row each), the baseline's mean as a dashed line."""
    measures = [m for m in ("clean", "noise", "corruption", "L2") if f"{m}_mean" in table and table[f"{m}_mean"].notna().any()]
    n = len(table)
    fig, axes = plt.subplots(1, len(measures), figsize=(2.6 * len(measures) + 1.6, 0.28 * n + 1.4), sharey=True,
                             squeeze=False)
    y = np.arange(n)[::-1]
    for ax, m in zip(axes[0], measures):
        mean, sem = table[f"{m}_mean"].to_numpy(float), table[f"{m}_sem"].fillna(0).to_numpy(float)
        for yi, c, mu, e in zip(y, table["condition"], mean, sem):
            if np.isfinite(mu):
                ax.errorbar(mu, yi, xerr=e, fmt="o", color=condition_color(c), ms=4, capsize=2)
        if baseline in set(table["condition"]):
            ref = table.loc[table["condition"] == baseline, f"{m}_mean"].iloc[0]
            if np.isfinite(ref):
                ax.axvline(ref, color="0.4", ls="--", lw=0.8)
        ax.set_xlabel(LABELS[m], fontsize=8)
        ax.grid(axis="x", color="0.9", lw=0.6)
        ax.set_axisbelow(True)
        if m in ("clean", "noise", "corruption"):
            ax.xaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))  # whole percents
            ax.xaxis.set_major_formatter(PercentFormatter(xmax=1, decimals=0))
    axes[0][0].set_yticks(y)
    axes[0][0].set_yticklabels([f"{condition_label(c)}  (n={k})" for c, k in zip(table["condition"], table["n"])], fontsize=7)
    fig.suptitle("Ways of learning from brains side by side (mean \u00b1 SEM over seeds; dashed: None)", fontsize=9)
    fig.tight_layout()
    save(fig, path)
