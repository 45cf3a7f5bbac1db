"""Stage 4 figures: Fig. 1B (S^model of the oracle images per scan), Fig. 1D (scatter), Fig. 2 (image pairs)."""

from __future__ import annotations

import numpy as np

from .style import CONDITION_COLORS, plt, save


def plot_model_similarity(panels: list[tuple[str, np.ndarray]], path) -> None:
    """Fig. 1B: one S^model (n_o, n_o) per scan, rows/columns already in the Fig. 1A order."""
    n = len(panels)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols + 0.8, 2.4 * rows), squeeze=False)
    im = None
    for ax, (name, s) in zip(axes.flat, panels):
        im = ax.imshow(s, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(name)
        ax.set_xlabel("oracle image")
        ax.set_ylabel("oracle image")
        ax.set_xticks([])
        ax.set_yticks([])
    for ax in axes.flat[n:]:
        ax.axis("off")
    fig.colorbar(im, ax=axes, shrink=0.8, label="$S^{model}$ (Eq. 6)")
    fig.suptitle("Model similarity of the oracle images (same order as Fig. 1A)")
    save(fig, path)


def plot_similarity_scatter(data: tuple, model: tuple, r_data: float, r_model: float, path,
                            *, max_points: int = 20000, seed: int = 0) -> None:
    """Fig. 1D: S^data (single trials) and S^model against S^oracle, pooled over scans.

    ``data`` / ``model``: (x = S^oracle values, y = S^data or S^model values); r is computed
    on every pair by the caller, the plot shows a seeded subsample of ``max_points``.
    """
    rng = np.random.default_rng(seed)
    fig, ax = plt.subplots(figsize=(4.2, 4.0))
    # single trials in grey underneath, the model on top (the two conditions' red shades are too alike here)
    for (x, y), r, label, color, size in ((data, r_data, "$S^{data}$ (single trials)", "0.6", 2),
                                          (model, r_model, "$S^{model}$", CONDITION_COLORS["neural_model"], 4)):
        keep = rng.choice(len(x), min(len(x), max_points), replace=False) if len(x) > max_points else slice(None)
        ax.scatter(np.asarray(x)[keep], np.asarray(y)[keep], s=size, alpha=0.3, color=color, linewidths=0,
                   label=f"{label} vs $S^{{oracle}}$, r = {r:.2f}", rasterized=True)
    lim = [-1, 1]
    ax.plot(lim, lim, color="0.6", lw=0.8, ls="--")
    ax.set_xlim(-0.6, 1)
    ax.set_ylim(-1, 1)
    ax.set_xlabel("$S^{oracle}$ (Eq. 3)")
    ax.set_ylabel("similarity")
    leg = ax.legend(loc="upper left", markerscale=4, fontsize=8)
    for h in leg.legend_handles:
        h.set_alpha(1)
    ax.set_title("Oracle image pairs, pooled over scans\n(paper: r = 0.39 data, 0.73 model)")
    save(fig, path)


def plot_similar_pairs(images: np.ndarray, pairs: list[tuple[int, int, float]], n_low: int, path) -> None:
    """Fig. 2: image pairs (i, j, S_ij); the first ``n_low`` are the least similar, the rest the most similar."""
    n = len(pairs)
    fig, axes = plt.subplots(n, 2, figsize=(3.6, 1.2 * n + 0.4), squeeze=False)
    for k, (i, j, s) in enumerate(pairs):
        for c, idx in enumerate((i, j)):
            ax = axes[k, c]
            ax.imshow(images[idx], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            for sp in ax.spines.values():
                sp.set_visible(True)
                sp.set_color(CONDITION_COLORS["shuffle"] if k < n_low else CONDITION_COLORS["neural_model"])
                sp.set_linewidth(2)
        kind = "least similar" if k < n_low else "most similar"
        axes[k, 0].set_ylabel(f"S = {s:.2f}", rotation=0, ha="right", va="center")
        axes[k, 1].set_title(kind, fontsize=7, loc="right") if k in (0, n_low) else None
    fig.suptitle("Image pairs by $S^{model}$ (Eq. 6)\nblue: least similar, red: most similar", fontsize=9)
    save(fig, path)
