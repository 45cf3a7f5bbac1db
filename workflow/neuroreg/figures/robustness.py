"""Stage 7 figures of the co-training results: Fig. 4 (noise), 5 (attack steps), 6 (alpha sweep), 7 (Lp norms), Table 1.

Pure plotting functions: they take DataFrames / arrays and a path (``style.save`` writes PNG + PDF).
The long tables they take have one row per (run, ...) with the run's ``condition``, ``alpha``
and ``seed``, as :func:`.runs.read_runs` builds them from
``results/robustness/{condition}/alpha{alpha}/seed{seed}/*.csv``.

Error bars are the standard error of the mean over seeds, SEM = sd / sqrt(n) with the n - 1
sample sd (Fig. 4 of the paper: "standard error of mean, with 5 random seeds").
"""

from __future__ import annotations


import numpy as np
import pandas as pd
from matplotlib.ticker import NullLocator

from .runs import mean_sem
from .style import condition_color, condition_label, condition_order, legend, plt, save

NORMS = ["L0", "L1", "L2", "Linf"]
NORM_LABELS = {"L0": "$L_0$", "L1": "$L_1$", "L2": "$L_2$", "Linf": r"$L_\infty$"}
NORM_UNITS = {
    "L0": "number of pixels changed (of 32 x 32)",
    "L1": "sum |perturbation| (pixel scale 0-1)",
    "L2": "||perturbation||$_2$ (pixel scale 0-1)",
    "Linf": "max |perturbation| (pixel scale 0-1)",
}


def _failed_runs(checks: pd.DataFrame | None) -> set:
    return set() if checks is None else {(c, s) for c, s, ok in zip(checks["condition"], checks["seed"],
                                                                    checks["passed"]) if not ok}


def noisy_examples(images: np.ndarray, levels, noise_seed: int, index: int = 0) -> np.ndarray:
    """The test image ``index`` at every noise level exactly as the robustness stage saw it.

    images: the evaluated test images (N, H, W) uint8 (the first N of cifar10.h5 ``test/images``);
    returns (n_levels, H, W) float in [0, 1]: clip(x + noise, 0, 1) with the noise of
    :func:`neuroreg.noise.draw_noise` (drawn for all N images, seeded by noise_seed and
    the level), row ``index``.
    """
    import torch

    from neuroreg.noise import add_noise, draw_noise

    x = torch.from_numpy(np.ascontiguousarray(images[index : index + 1, None])).float().div_(255.0)
    out = []
    for level in levels:
        z = draw_noise((len(images), 1) + images.shape[1:], float(level), noise_seed)[index : index + 1] \
            if level > 0 else torch.zeros_like(x)
        out.append(add_noise(x.clone(), z)[0, 0].numpy())
    return np.stack(out)


def plot_noise_robustness(summary: pd.DataFrame, path, *, examples: np.ndarray | None = None,
                          title: str = "CIFAR-10 accuracy under Gaussian noise", chance: float | None = 0.1) -> None:
    """Fig. 4A/B: test accuracy vs noise level per condition, mean +- SEM over seeds.

    summary: :func:`mean_sem` of the noise table by [condition, level] (columns condition, level,
    mean, sem, n; accuracy as a fraction). examples: (n_levels, H, W) images in [0, 1] drawn in a
    row below the plot, one per level in ``summary``'s level order.
    """
    levels = np.sort(summary["level"].unique())
    n_ex = 0 if examples is None else len(examples)
    fig = plt.figure(figsize=(max(6.0, 0.75 * n_ex), 4.6 if n_ex else 3.6))
    gs = fig.add_gridspec(2 if n_ex else 1, max(n_ex, 1), height_ratios=[4, 1] if n_ex else [1], hspace=0.45)
    ax = fig.add_subplot(gs[0, :])
    for c in condition_order(summary["condition"]):
        d = summary[summary["condition"] == c].sort_values("level")
        n = int(d["n"].max())
        ax.errorbar(d["level"], 100 * d["mean"], yerr=100 * d["sem"].fillna(0), color=condition_color(c), marker="o", ms=3.5,
                    lw=1.5, capsize=2.5, label=f"{condition_label(c)} (n = {n} seed{'s' if n != 1 else ''})")
    if chance is not None:
        ax.axhline(100 * chance, color="0.7", lw=0.8, ls=":", label="chance")
    ax.set_xlabel("Gaussian noise sd (pixel scale 0-1)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    legend(ax, fontsize=8)
    for k in range(n_ex):
        a = fig.add_subplot(gs[1, k])
        a.imshow(examples[k], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        a.set_xticks([])
        a.set_yticks([])
        a.set_xlabel((f"σ = {levels[k]:g}" if k == 0 else f"{levels[k]:g}") if k < len(levels) else "", fontsize=7)
    save(fig, path)


def _floored(d: pd.DataFrame, max_fraction: float) -> set:
    """(condition, steps) where some seed's best distances sit at DDN's radius floor for more than
    ``max_fraction`` of its correct images (column floor_fraction of adversarial_steps.csv)."""
    if "floor_fraction" not in d or d.empty:
        return set()
    bad = d[d["floor_fraction"].fillna(0) > max_fraction]
    return set(zip(bad["condition"], bad["steps"]))


def plot_adversarial_steps(steps: pd.DataFrame, path, checks: pd.DataFrame | None = None,
                           max_floor_fraction: float = 0.05) -> None:
    """Fig. 5: median minimal L2 and Linf perturbation vs attack steps per condition (mean +- SEM over seeds).

    steps: columns condition, seed, norm, steps, median and floor_fraction (the adversarial_steps.csv rows
    of every run; with an ``attack`` column, the ``best`` rows: the minimum over the attacks, on the convergence
    images, at the main budget and at the larger one). A point drawn open has, for some seed, more than
    ``max_floor_fraction`` of its images at an attack's floor (checks.floor): its median is the attack schedule's.
    checks: :func:`neuroreg.figures.paper_vs_run.read_checks` of the same runs; a condition with a failed sanity check is marked in the
    legend and the failures are listed below the plot.
    """
    failed = _failed_runs(checks)
    if "attack" in steps.columns:
        steps = steps[steps["attack"] == "best"]
    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4))
    for ax, norm in zip(axes, ["L2", "Linf"]):
        d = steps[steps["norm"] == norm]
        if d.empty:
            ax.text(0.5, 0.5, f"no {norm} results", ha="center", va="center", transform=ax.transAxes)
        s = mean_sem(d, ["condition", "steps"], "median") if len(d) else d
        floored = _floored(d, max_floor_fraction)
        for c in condition_order(s["condition"]) if len(d) else []:
            e = s[s["condition"] == c].sort_values("steps")
            flag = " (check FAILED)" if any(fc == c for fc, _ in failed) else ""
            ax.errorbar(e["steps"], e["mean"], yerr=e["sem"].fillna(0), color=condition_color(c), marker="o", ms=3.5,
                        capsize=2.5, label=condition_label(c) + flag)
            open_ = e[[(c, st) in floored for st in e["steps"]]]
            ax.plot(open_["steps"], open_["mean"], ls="none", marker="o", ms=6, mfc="white", mec=condition_color(c), mew=1.3,
                    zorder=5)
        if floored:
            ax.plot([], [], ls="none", marker="o", ms=6, mfc="white", mec="0.3", mew=1.3,
                    label=f"open: > {max_floor_fraction:.0%} of images at\nan attack's floor (upper bound)")
        ax.set_xscale("log")
        ticks = sorted(d["steps"].unique()) if len(d) else []
        if ticks:  # the budgets themselves as plain numbers, not 5 x 10^1
            ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xlim(ticks[0] / 1.3, ticks[-1] * 1.3)
        ax.set_xlabel("attack iterations (the longest attack; convergence images)")
        ax.set_ylabel(f"median minimal {NORM_LABELS[norm]} perturbation\n(pixel scale 0-1)")
        ax.set_title(f"{NORM_LABELS[norm]} attack")
        if len(d):
            ax.legend(frameon=False, fontsize=8)
    fig.suptitle("Adversarial robustness vs attack budget (higher = more robust)")
    fig.tight_layout()
    _failed_note(fig, checks)
    save(fig, path)


def _failed_note(fig, checks: pd.DataFrame | None) -> None:
    """List the models whose sanity checks failed (checks.json) under the figure."""
    if checks is None or checks["passed"].all():
        return
    bad = checks[~checks["passed"]]
    lines = [f"{condition_label(c)}, seed {s}: {f}" for c, s, f in zip(bad["condition"], bad["seed"], bad["failed"])]
    fig.text(0.01, -0.02, "Sanity check FAILED (checks.json), numbers of these models are suspect:\n"
             + "\n".join(lines), ha="left", va="top", fontsize=7.5, color="#b00000")


def plot_alpha_sweep(summary: pd.DataFrame, path, *, cmap: str = "viridis", chance: float | None = 0.1) -> None:
    """Fig. 6: accuracy vs noise level for each alpha of the sweep (mean +- SEM over its seeds).

    summary: :func:`mean_sem` by [alpha, level] (columns alpha, level, mean, sem, n).
    """
    alphas = np.sort(summary["alpha"].unique())
    colors = plt.get_cmap(cmap)(np.linspace(0.0, 0.85, len(alphas)))
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    for a, col in zip(alphas, colors):
        d = summary[summary["alpha"] == a].sort_values("level")
        ax.errorbar(d["level"], 100 * d["mean"], yerr=100 * d["sem"].fillna(0), color=col, marker="o", ms=3.5,
                    capsize=2.5, label=f"α = {a:g}" + (" (None)" if a == 0 else "") + f", n = {int(d['n'].max())}")
    if chance is not None:
        ax.axhline(100 * chance, color="0.7", lw=0.8, ls=":", label="chance")
    ax.set_xlabel("Gaussian noise sd (pixel scale 0-1)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Regularization strength α (Eq. 7), single-scan neural target")
    ax.legend(frameon=False, fontsize=8, title="α, seeds")
    save(fig, path)


def _mean(v: np.ndarray) -> float:
    """The mean of the finite values, 0 where there are none (an empty bar, without numpy's empty-slice warning)."""
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else 0.0


def plot_adversarial_norms(adv: pd.DataFrame, path, checks: pd.DataFrame | None = None) -> None:
    """Fig. 7: the median minimal perturbation per condition, one panel per evaluated norm; bars = mean over seeds,
    dots = seeds, of the median over the correctly classified images (``median_correct``); a black bar marks the
    mean of the paper's median (misclassified images at 0), which moves with clean accuracy.

    adv: columns condition, seed, norm, median[, median_correct] (the adversarial.csv rows of every run). checks:
    :func:`neuroreg.figures.paper_vs_run.read_checks` of the same runs; the dot of a model with a failed sanity check is a red cross,
    and the failures are listed below the figure.
    """
    failed = _failed_runs(checks)
    value = "median_correct" if "median_correct" in adv else "median"
    norms = [n for n in NORMS if (adv["norm"] == n).any()] or list(NORMS)
    fig, axes = plt.subplots(1, len(norms), figsize=(2.9 * len(norms) + 0.6, 3.3), squeeze=False)
    axes = axes[0]
    for ax, norm in zip(axes, norms):
        d = adv[adv["norm"] == norm]
        conds = condition_order(d["condition"])
        for k, c in enumerate(conds):
            dc = d[d["condition"] == c]
            v = dc[value].to_numpy(float)
            # a model that got no image right has no median over correct images (NaN): the bar is the others' mean
            ax.bar(k, _mean(v), color=condition_color(c), alpha=0.55, width=0.7, label=condition_label(c))
            jitter = np.linspace(-0.15, 0.15, len(v)) if len(v) > 1 else np.zeros(1)
            bad = np.array([(c, int(s)) in failed for s in dc["seed"]], dtype=bool)
            ax.scatter((k + jitter)[~bad], v[~bad], color=condition_color(c), edgecolor="k", linewidths=0.5, s=14, zorder=3)
            if bad.any():
                ax.scatter((k + jitter)[bad], v[bad], color="#b00000", marker="x", s=30, linewidths=1.5, zorder=4,
                           label="sanity check FAILED")
            if value != "median":
                ax.plot([k - 0.35, k + 0.35], [_mean(dc["median"].to_numpy(float))] * 2, color="k", lw=1.6, zorder=4,
                        label="the paper's median (misclassified = 0)")
        ax.set_xticks(range(len(conds)))
        ax.set_xticklabels([condition_label(c) for c in conds], rotation=30, ha="right")
        ax.set_title(NORM_LABELS[norm])
        what = "over correctly classified images" if value != "median" else "(misclassified = 0)"
        ax.set_ylabel(f"median minimal perturbation\n{what}\n{NORM_UNITS[norm]}", fontsize=7.5)
        if not conds:
            ax.text(0.5, 0.5, f"{norm} not evaluated\n(config robustness.norms)", ha="center", va="center",
                    transform=ax.transAxes, color="0.4")
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:  # a condition may be missing from the first panel
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h), labels.append(lab)
    keep = list(dict.fromkeys(labels))
    handles = [handles[labels.index(lab)] for lab in keep]
    fig.legend(handles, keep, loc="upper center", ncol=max(min(len(keep), 4), 1), frameon=False, fontsize=8,
               bbox_to_anchor=(0.5, 1.12))
    fig.tight_layout()
    _failed_note(fig, checks)
    save(fig, path)


def plot_gamma_table(gamma: pd.DataFrame, path) -> None:
    """Table 1 as a heat map: final gamma_k (Eq. 10) per layer, mean over seeds, one row per alpha.

    gamma: results/tables/gamma.csv (columns alpha, n_seeds, gamma_{k}...).
    """
    cols = [c for c in gamma.columns if c.startswith("gamma_")]
    vals = gamma[cols].to_numpy(float)
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(cols), 0.9 + 0.4 * len(gamma)))
    im = ax.imshow(vals, cmap="Greys", vmin=0, vmax=1, aspect="auto")
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            ax.text(j, i, f"{vals[i, j]:.2f}", ha="center", va="center", fontsize=8,
                    color="w" if vals[i, j] > 0.6 else "k")
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([f"γ$_{{{c.split('_', 1)[1]}}}$" for c in cols])
    ax.set_yticks(range(len(gamma)))
    ax.set_yticklabels([f"α = {a:g} (n = {int(n)})" for a, n in zip(gamma["alpha"], gamma["n_seeds"])])
    ax.set_xlabel("conv layer k of Eq. 10")
    ax.set_title("Table 1: final layer weights γ$_k$ (mean over seeds)")
    fig.colorbar(im, ax=ax, label="γ$_k$")
    save(fig, path)
