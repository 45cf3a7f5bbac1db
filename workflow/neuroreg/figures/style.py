"""One look for every figure: the same colour per condition everywhere, PNG + PDF output."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..io import atomic_output  # noqa: E402

# Conditions of the co-training experiment (Fig. 4-7) and their labels in the paper.
CONDITION_COLORS = {
    "none": "#4d4d4d",
    "neural_model": "#d62728",
    "neural_data": "#ff9896",
    "shuffle": "#1f77b4",
    "vgg": "#2ca02c",
    "ground_truth": "#9467bd",
}
CONDITION_LABELS = {
    "none": "None",
    "neural_model": "Neural (model)",
    "neural_data": "Neural (data)",
    "shuffle": "Shuffle",
    "vgg": "VGG",
    "ground_truth": "Ground truth (virtual)",
}

plt.rcParams.update({
    "figure.dpi": 120,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
})


def save(fig, path: str | Path) -> None:
    """Save ``fig`` atomically to ``path`` (a .png) and beside it as .pdf; close it."""
    path = Path(path)
    for p in (path, path.with_suffix(".pdf")):
        with atomic_output(p) as tmp:
            fig.savefig(tmp, format=p.suffix[1:], bbox_inches="tight")
    plt.close(fig)
