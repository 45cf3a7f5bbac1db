"""Stage 7: the corruption tables and figures (CIFAR-10-C) and brain-likeness against robustness.

Inputs are the long tables of :func:`neuroreg.figures.runs.read_runs` (one row per run and
corruption-severity set, with ``condition``, ``alpha``, ``seed``) over the main-text runs.

* Mean corruption accuracy: the mean over the corruptions and severities evaluated (RobustBench's
  convention for CIFAR-10-C), per model; per family (noise, blur, weather, digital) the same over the
  family's corruptions. Tables give mean +- SEM over seeds.
* Relative robustness (the Sinz lab's monkey-V1 co-training follow-up): A_c = accuracy on corruption c,
  mean over severities; for a model (one seed) R = (1/C) sum_c A_c^model / A_c^none, with A_c^none the
  baseline's A_c averaged over its seeds; per family the mean over the family's corruptions; mean +- SEM
  over seeds. The baseline's own seeds scatter around 1.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..robustness.corruptions import FAMILIES
from .runs import mean_sem
from .style import condition_color, condition_label, condition_order, legend, plt, save

BRAIN_REFERENCE = "neural_model"  # the brain-likeness on the x-axis of the scatter (the other references: the table)


def per_model(corr: pd.DataFrame) -> pd.DataFrame:
    """One row per model (condition, alpha, seed): clean accuracy, mean corruption accuracy ('all') and per family."""
    keys = ["condition", "alpha", "seed"]
    c = corr[corr["severity"] > 0]
    out = c.groupby(keys)["accuracy"].mean().rename("all").to_frame()
    fam = c.groupby(keys + ["family"])["accuracy"].mean().unstack("family")
    out = out.join(fam[[f for f in FAMILIES if f in fam.columns]])
    clean = corr[corr["severity"] == 0].groupby(keys)["accuracy"].mean().rename("clean")
    return out.join(clean).reset_index()


def relative_robustness(corr: pd.DataFrame, baseline: str = "none") -> pd.DataFrame:
    """One row per model: R over all corruptions ('all') and per family, against ``baseline`` (module doc)."""
    keys = ["condition", "alpha", "seed"]
    c = corr[corr["severity"] > 0]
    a = c.groupby(keys + ["corruption", "family"])["accuracy"].mean().rename("A").reset_index()
    base = a[a["condition"] == baseline].groupby("corruption")["A"].mean()
    if base.empty:
        raise ValueError(f"relative robustness needs the baseline condition {baseline!r} among the runs")
    a["ratio"] = a["A"] / a["corruption"].map(base)
    out = a.groupby(keys)["ratio"].mean().rename("all").to_frame()
    fam = a.groupby(keys + ["family"])["ratio"].mean().unstack("family")
    return out.join(fam[[f for f in FAMILIES if f in fam.columns]]).reset_index()


def summary_table(corr: pd.DataFrame) -> pd.DataFrame:
    """tables/corruption_summary.csv: condition, measure, mean, sem, n (seeds). Measures: clean,
    mean_corruption_accuracy (all), accuracy_<family>, relative_robustness (all), relative_robustness_<family>."""
    pm, rr = per_model(corr), relative_robustness(corr)
    rows = []
    for df, prefix in ((pm, "accuracy"), (rr, "relative_robustness")):
        for col in [c for c in df.columns if c not in ("condition", "alpha", "seed")]:
            if prefix == "accuracy":
                measure = {"all": "mean_corruption_accuracy", "clean": "clean_accuracy"}.get(col, f"accuracy_{col}")
            else:
                measure = prefix if col == "all" else f"{prefix}_{col}"
            s = mean_sem(df.rename(columns={col: "v"}), ["condition"], "v")
            rows += [{"condition": c, "measure": measure, "mean": m, "sem": e, "n": n}
                     for c, m, e, n in zip(s["condition"], s["mean"], s["sem"], s["n"])]
    out = pd.DataFrame(rows, columns=["condition", "measure", "mean", "sem", "n"])
    order = {c: i for i, c in enumerate(condition_order(out["condition"]))}
    return out.sort_values(["measure", "condition"], key=lambda s: s.map(order) if s.name == "condition" else s,
                           kind="stable").reset_index(drop=True)


def severity_table(corr: pd.DataFrame) -> pd.DataFrame:
    """tables/corruptions.csv: condition, corruption, family, severity, mean, sem, n (seeds)."""
    return mean_sem(corr, ["condition", "corruption", "family", "severity"], "accuracy")


def plot_corruptions(corr: pd.DataFrame, path, *, n_images: int) -> None:
    """Accuracy vs severity per corruption family (mean over the family's corruptions), one line per
    condition, mean +- SEM over seeds; severity 0 is the clean accuracy on the same images."""
    keys = ["condition", "alpha", "seed"]
    clean = corr[corr["severity"] == 0]
    fams = [f for f in FAMILIES if f in set(corr["family"])]
    fig, axes = plt.subplots(1, len(fams), figsize=(2.9 * len(fams), 3.3), sharey=True, squeeze=False)
    for ax, fam in zip(axes[0], fams):
        d = corr[corr["family"] == fam].groupby(keys + ["severity"])["accuracy"].mean().reset_index()
        d = pd.concat([clean[keys + ["severity", "accuracy"]], d], ignore_index=True)
        s = mean_sem(d, ["condition", "severity"], "accuracy")
        for c in condition_order(s["condition"]):
            e = s[s["condition"] == c].sort_values("severity")
            ax.errorbar(e["severity"], 100 * e["mean"], yerr=100 * e["sem"].fillna(0), color=condition_color(c), marker="o",
                        ms=3, capsize=2, lw=1.3, label=condition_label(c))
        names = sorted(set(corr.loc[corr["family"] == fam, "corruption"]))
        ax.set_title(f"{fam} ({len(names)} corruption{'s' if len(names) != 1 else ''})", fontsize=9)
        ax.set_xticks(range(0, 6))
        ax.set_xticklabels(["clean", "1", "2", "3", "4", "5"])
        ax.set_xlabel("severity")
        ax.axhline(10, color="0.7", lw=0.8, ls=":")
    axes[0][0].set_ylabel("test accuracy (%)")
    axes[0][0].set_ylim(0, 100)
    legend(axes[0][-1], fontsize=7.5, loc="upper right")
    fig.suptitle(f"CIFAR-10-C (grayscale): accuracy per corruption family, {n_images} images per set", y=1.02)
    fig.tight_layout()
    save(fig, path)


def plot_relative_robustness(corr: pd.DataFrame, path) -> None:
    """Bars: relative robustness R per family and over all corruptions, per condition, mean +- SEM; dots: seeds."""
    rr = relative_robustness(corr)
    groups = ["all"] + [f for f in FAMILIES if f in rr.columns]
    conds = condition_order(rr["condition"])
    width = 0.8 / len(conds)
    fig, ax = plt.subplots(figsize=(1.3 + 1.35 * len(groups), 3.4))
    for k, c in enumerate(conds):
        d = rr[rr["condition"] == c]
        x = np.arange(len(groups)) + (k - (len(conds) - 1) / 2) * width
        m = d[groups].mean().to_numpy()
        e = (d[groups].std(ddof=1) / np.sqrt(len(d))).fillna(0).to_numpy() if len(d) > 1 else np.zeros(len(groups))
        ax.bar(x, m, width * 0.92, yerr=e, color=condition_color(c), alpha=0.8, capsize=2, label=condition_label(c))
        for j, g in enumerate(groups):
            ax.plot(np.full(len(d), x[j]), d[g], "o", ms=2.5, color="0.15", zorder=3)
    ax.axhline(1.0, color="0.3", lw=0.8, ls="--")
    ax.set_xticks(np.arange(len(groups)))
    ax.set_xticklabels(["all 15" if g == "all" else g for g in groups])
    lo = min(0.8, float(np.nanmin(rr[groups].to_numpy())) - 0.05)
    hi = max(1.2, float(np.nanmax(rr[groups].to_numpy())) + 0.05)
    ax.set_ylim(lo, hi)
    ax.set_ylabel("relative robustness R\n(accuracy / None's, mean over corruptions)")
    legend(ax, fontsize=7.5, ncol=min(3, len(conds)), loc="upper left")
    ax.set_title("Corruption robustness relative to None (1 = None)")
    save(fig, path)


def brain_vs_robustness(brain: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """One row per model: its brain-likeness (gamma-mixed layer, against each reference) beside its scores."""
    b = brain[brain["layer"] == "mixed"].pivot_table(index=["condition", "alpha", "seed"], columns="reference",
                                                     values="r").add_prefix("brain_")
    return b.reset_index().merge(scores, on=["condition", "alpha", "seed"], how="left")


SCORES = {  # column -> axis label
    "noise": "accuracy under noise (%)\nmean over sd > 0",
    "corruption": "mean CIFAR-10-C\naccuracy (%)",
    "adversarial_L2": "median minimal $L_2$ perturbation\n(correctly classified images)",
}


def brain_correlations(table: pd.DataFrame, reference: str = BRAIN_REFERENCE) -> pd.DataFrame:
    """Spearman rho (and its p) of each robustness score (:data:`SCORES`) with brain-likeness against ``reference``
    over the models that have both (a score with fewer than 3 such models is left out): Fig. 10's panels."""
    x, rows = f"brain_{reference}", []
    for s in SCORES:
        if s not in table:
            continue
        d = table[[x, s]].dropna()
        if len(d) >= 3:
            rho, p = stats.spearmanr(d[x], d[s])
            rows.append({"score": s, "rho": float(rho), "p": float(p), "n": len(d)})
    return pd.DataFrame(rows, columns=["score", "rho", "p", "n"])


def plot_brain_likeness(table: pd.DataFrame, path, *, reference: str = BRAIN_REFERENCE) -> None:
    """Scatter per score: brain-likeness (x) against robustness (y), one point per model, coloured by
    condition; Spearman rho (and its p) over the models in each panel's title."""
    x = f"brain_{reference}"
    corr = brain_correlations(table, reference).set_index("score")
    panels = list(corr.index)
    ref_tex = reference.replace("_", r"\ ")  # a space in mathtext
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(3.3 * max(1, len(panels)), 3.2), squeeze=False)
    for ax, s in zip(axes[0], panels):
        d = table[[x, s, "condition"]].dropna()
        scale = 100 if s in ("noise", "corruption") else 1
        for c in condition_order(d["condition"]):
            e = d[d["condition"] == c]
            ax.plot(e[x], scale * e[s], "o", ms=5, color=condition_color(c), alpha=0.85, label=condition_label(c))
        c = corr.loc[s]
        ax.set_title(f"Spearman ρ = {c['rho']:.2f} (p = {c['p']:.2g}, n = {int(c['n'])})", fontsize=8.5)
        ax.set_xlabel(f"brain-likeness: r(S$^{{CNN}}$, S$^{{{ref_tex}}}$)\non held-out oracle images")
        ax.set_ylabel(SCORES[s])
    if panels:
        handles, labels = axes[0][0].get_legend_handles_labels()  # every model; the attacked panel has fewer
        legend(axes[0][-1], handles=handles, labels=labels, fontsize=7, loc="best")
    else:
        axes[0][0].text(0.5, 0.5, "fewer than 3 models with scores", ha="center", va="center")
    fig.tight_layout()
    save(fig, path)


def scores_table(noise: pd.DataFrame, corr: pd.DataFrame, adversarial: pd.DataFrame | None) -> pd.DataFrame:
    """Per model: noise (mean accuracy over the noise levels > 0), corruption (mean corruption accuracy),
    adversarial_L2 (median minimal L2 perturbation over the correctly classified images, attacked models only)."""
    keys = ["condition", "alpha", "seed"]
    out = noise[noise["level"] > 0].groupby(keys)["accuracy"].mean().rename("noise").to_frame()
    out = out.join(per_model(corr).set_index(keys)["all"].rename("corruption"), how="outer")
    if adversarial is not None and len(adversarial):
        col = "median_correct" if "median_correct" in adversarial else "median"
        l2 = adversarial[adversarial["norm"] == "L2"].set_index(keys)[col].rename("adversarial_L2")
        out = out.join(l2, how="left")
    return out.reset_index()
