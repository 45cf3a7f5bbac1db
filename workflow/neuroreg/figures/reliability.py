"""Figures of stage 2: Fig. 1A (S^oracle per scan), Fig. 1C (fluctuations), estimated vs true SNR."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .style import plt, save


def plot_oracle_similarity(panels: list[tuple[str, np.ndarray]], path, *, n_images: int | None = None) -> None:
    """Fig. 1A: one panel per scan, S^oracle (Eq. 3) already in display order; one colour scale.

    ``panels``: (title, (n, n) matrix) pairs. The colour limit is symmetric around 0
    and set by the 99th percentile of |S| off the diagonal over all panels.
    """
    n = len(panels)
    cols = min(n, 4)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols + 0.8, 2.6 * rows + 0.4), squeeze=False)
    off = np.concatenate([s[~np.eye(len(s), dtype=bool)] for _, s in panels])
    lim = float(np.percentile(np.abs(off), 99)) if off.size else 1.0
    im = None
    for ax, (title, s) in zip(axes.flat, panels):
        im = ax.imshow(s, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(title)
        ax.set_xlabel("oracle image")
        ax.set_ylabel("oracle image")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    cbar = fig.colorbar(im, ax=axes, shrink=0.8)
    cbar.set_label(r"$S^{oracle}_{ij}$ (Eq. 3)")
    fig.suptitle("Oracle similarity per scan (same image order in every panel)" if n_images is None else
                 f"Oracle similarity per scan, {n_images} shared images, same order in every panel")
    save(fig, path)


def plot_fluctuations(delta_scan: np.ndarray, delta_repeat: np.ndarray, path, *, note: str = "") -> None:
    """Fig. 1C: densities of Delta S^scan (Eq. 4) and Delta S^repeat (Eq. 5) on the same bins, SDs in the legend."""
    delta_scan, delta_repeat = np.ravel(delta_scan), np.ravel(delta_repeat)
    both = np.concatenate([delta_scan, delta_repeat])
    lim = float(np.abs(both).max()) if both.size else 1.0
    bins = np.linspace(-lim, lim, 61)
    fig, ax = plt.subplots(figsize=(4.2, 3.0))
    if delta_scan.size:
        ax.hist(delta_scan, bins=bins, density=True, histtype="stepfilled", alpha=0.6, color="#d62728",
                label=rf"$\Delta S^{{scan}}$ (Eq. 4), SD = {delta_scan.std():.3f}")
    ax.hist(delta_repeat, bins=bins, density=True, histtype="stepfilled", alpha=0.5, color="#4d4d4d",
            label=rf"$\Delta S^{{repeat}}$ (Eq. 5), SD = {delta_repeat.std():.3f}")
    ax.set_xlabel(r"$\Delta S$ (similarity difference)")
    ax.set_ylabel("density")
    ax.set_title("Fluctuations across scans vs repeats" + (f"\n{note}" if note else ""))
    ax.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    save(fig, path)


def plot_snr(estimated: dict[str, np.ndarray], true: dict[str, np.ndarray], path, *,
             repeats: float | None = None) -> None:
    """Estimated w_a (Eq. 1) against the true SNR of the virtual neurons, all scans; r pooled in the title.

    With ``repeats`` (R, the typical number of repeats) the curve sqrt(SNR^2 + 1/R) is drawn: the
    value Eq. 1 estimates, since the variance of R-trial means keeps eta^2 / R of noise.
    """
    fig, ax = plt.subplots(figsize=(4.0, 3.6))
    for name in estimated:
        ax.scatter(true[name], estimated[name], s=3, alpha=0.4, label=name, rasterized=True)
    x = np.concatenate([true[k] for k in estimated])
    y = np.concatenate([estimated[k] for k in estimated])
    pearson = stats.pearsonr(x, y)[0] if len(x) > 2 else np.nan
    spearman = stats.spearmanr(x, y)[0] if len(x) > 2 else np.nan
    hi = float(max(x.max(), y.max())) if len(x) else 1.0
    ax.plot([0, hi], [0, hi], color="k", lw=0.8, ls="--", label="identity")
    if repeats:
        grid = np.linspace(0, hi, 100)
        ax.plot(grid, np.sqrt(grid**2 + 1 / repeats), color="k", lw=0.8, ls=":",
                label=rf"$\sqrt{{SNR^2 + 1/R}}$, R = {repeats:g}")
    ax.set_xlabel(r"true SNR $\sigma_a/\eta_a$ (ground truth)")
    ax.set_ylabel(r"estimated $w_a$ (Eq. 1)")
    ax.set_title(f"SNR weight, {len(x)} neurons: Pearson r = {pearson:.3f}, Spearman r = {spearman:.3f}")
    ax.legend(frameon=False, fontsize=7, markerscale=3)
    save(fig, path)


def plot_reliability_comparison(oracle_corr: dict[str, np.ndarray], stats, path, *, paper: dict | None = None,
                                reference: tuple[str, float] | None = None) -> None:
    """Virtual V1 against real recordings: per-neuron reliability and population statistics, three panels.

    ``oracle_corr``: name -> (neurons,) leave-one-out oracle correlation (virtual scans and recorded
    regions, in display order). ``stats``: a table (pandas) with one row per name: ``name``, ``kind``
    ("virtual" or else), ``small_r_data_oracle``, ``small_noise_correlation`` (Antolik size; virtual rows
    also ``*_sd`` over subsamples). Left: the distributions (violins, medians marked); middle:
    r(S^data, S^oracle); right: mean pairwise noise correlation. ``paper``: {"r_data_oracle": ...} drawn
    as a line (the paper's value at thousands of neurons); ``reference``: (label, value) for the right panel.
    """
    names = list(oracle_corr)
    virtual = {n for n in names if (stats.loc[stats.name == n, "kind"] == "virtual").any()}
    colors = ["#d62728" if n in virtual else "#4d4d4d" for n in names]
    labels = [n.replace("antolik_", "Antolik ").replace("region", "region ") for n in names]
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.6), gridspec_kw={"width_ratios": [2.2, 1, 1]})
    ax = axes[0]
    parts = ax.violinplot([oracle_corr[n] for n in names], showextrema=False, widths=0.8)
    for body, c in zip(parts["bodies"], colors):
        body.set_facecolor(c)
        body.set_alpha(0.45)
    for x, n in enumerate(names, 1):
        med = float(np.median(oracle_corr[n]))
        ax.hlines(med, x - 0.3, x + 0.3, color="k", lw=1.2)
        ax.text(x, 1.02, f"{med:.2f}", ha="center", va="bottom", fontsize=8)
    real = [float(np.median(oracle_corr[n])) for n in names if n not in virtual]
    if real:
        ax.axhspan(min(real), max(real), color="#4d4d4d", alpha=0.12, lw=0, label="range of the recorded medians")
        ax.legend(frameon=False, fontsize=7, loc="lower right")
    ax.set_xticks(range(1, len(names) + 1), labels, rotation=30, ha="right")
    ax.set_ylim(-0.4, 1.12)
    ax.set_ylabel("leave-one-out oracle correlation")
    ax.set_title("Per-neuron reliability (medians above)", pad=14)
    for ax, key, title in ((axes[1], "small_r_data_oracle", r"$r(S^{data}, S^{oracle})$"),
                           (axes[2], "small_noise_correlation", "mean pairwise noise correlation")):
        rows = [stats.loc[stats.name == n].iloc[0] for n in names]
        vals = [r[key] for r in rows]
        errs = np.array([r.get(f"{key}_sd", np.nan) for r in rows], float)
        ax.bar(range(len(names)), vals, color=colors, alpha=0.7)
        has = np.isfinite(errs)
        ax.errorbar(np.flatnonzero(has), np.asarray(vals)[has], yerr=errs[has], fmt="none", ecolor="k", capsize=2)
        ax.set_xticks(range(len(names)), labels, rotation=30, ha="right")
        ax.set_title(f"{title}\n100 neurons, 50 images")
        ax.axhline(0, color="k", lw=0.6)
    if paper and "r_data_oracle" in paper:
        axes[1].axhline(paper["r_data_oracle"], color="k", ls="--", lw=0.8,
                        label=f"paper, thousands of neurons: {paper['r_data_oracle']:.2f}")
        axes[1].legend(frameon=False, fontsize=7, loc="upper left")
    if reference:
        axes[2].axhline(reference[1], color="k", ls=":", lw=0.8, label=reference[0])
        axes[2].legend(frameon=False, fontsize=7, loc="upper left")
    axes[1].set_ylim(0, 1)
    fig.suptitle("Virtual V1 (red, mean $\\pm$ sd over subsamples) vs real mouse V1, Antolik et al. 2016 (grey)",
                 fontsize=10)
    fig.tight_layout()
    save(fig, path)
