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
    "pixel": "#7f7f7f",
    "random_network": "#e377c2",
}
CONDITION_LABELS = {
    "none": "None",
    "neural_model": "Neural (model)",
    "neural_data": "Neural (data)",
    "shuffle": "Shuffle",
    "vgg": "VGG",
    "ground_truth": "Ground truth (virtual)",
    "pixel": "Pixels (control)",
    "random_network": "Random network (control)",
}

# The other methods (README, "Other ways to learn from brains"): one hue per family.
METHOD_COLORS = {
    "mtl_model": "#2ca02c", "mtl_shuffle": "#98df8a", "mtl_ground_truth": "#17becf", "mtl_data": "#bcbd22",
}
METHOD_LABELS = {
    "mtl_model": "MTL (model)", "mtl_shuffle": "MTL (shuffle)", "mtl_ground_truth": "MTL (ground truth)",
    "mtl_data": "MTL (data)",
}
CKA_COLORS = {"cka": "#8c564b", "logcka": "#c49c94"}
BLUR_CMAP = "Blues"
COMBINED_COLOR = "#e377c2"


def family(c: str) -> str:
    """baseline, similarity, cka, multi-task, low-pass or low-pass + <family> of a condition name."""
    if c.startswith("blur"):
        rest = c.split("_", 1)[1] if "_" in c else None
        return "low-pass" if rest is None else f"low-pass + {family(rest)}"
    if c == "none":
        return "baseline"
    if c.startswith("mtl_"):
        return "multi-task"
    if c.startswith(("cka_", "logcka_")):
        return "cka"
    return "similarity"


def condition_color(c: str):
    """The colour of a condition: the paper's five as CONDITION_COLORS, the other methods by family."""
    if c in CONDITION_COLORS:
        return CONDITION_COLORS[c]
    if c in METHOD_COLORS:
        return METHOD_COLORS[c]
    if c.startswith(("cka_", "logcka_")):
        return CKA_COLORS[c.split("_", 1)[0]]
    if c.startswith("blur"):
        head = c.split("_", 1)[0][4:]
        if "_" in c:
            return COMBINED_COLOR
        try:  # darker blue for more blur: sigma 0.5 .. 3 px
            return matplotlib.colormaps[BLUR_CMAP](0.35 + 0.6 * min(float(head), 3.0) / 3.0)
        except ValueError:
            return "0.5"
    if c.startswith("neural_model_"):
        return CONDITION_COLORS["neural_model"]
    return "0.5"


def condition_label(c: str) -> str:
    """A readable label: the paper's, MTL (...), CKA / log(1-CKA) (...), Blur sigma=..., Blur ... + ...."""
    if c in CONDITION_LABELS:
        return CONDITION_LABELS[c]
    if c in METHOD_LABELS:
        return METHOD_LABELS[c]
    for prefix, name in (("cka_", "1-CKA"), ("logcka_", "log(1-CKA)")):
        if c.startswith(prefix):
            return f"{name} ({condition_label(c[len(prefix):])})"
    if c.startswith("blur"):
        head, _, rest = c.partition("_")
        sigma = "best" if head == "blurbest" else f"\u03c3={head[4:]}"
        return f"Blur {sigma}" + (f" + {condition_label(rest)}" if rest else "")
    return c


plt.rcParams.update({
    "figure.dpi": 120,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
})


def legend(ax, *, many: int = 7, **kw):
    """``ax.legend(**kw)``, or beside the axes (right of it, one column) when more than ``many`` entries
    would cover the data; ``save`` crops to include it. ``handles`` and ``labels`` may come from
    another axes."""
    n = len(kw["labels"]) if "labels" in kw else len(ax.get_legend_handles_labels()[1])
    kw.setdefault("frameon", False)
    if n > many:
        kw.update(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, ncol=1)
    return ax.legend(**kw)


def save(fig, path: str | Path) -> None:
    """Save ``fig`` atomically to ``path`` (a .png) and beside it as .pdf; close it."""
    path = Path(path)
    for p in (path, path.with_suffix(".pdf")):
        with atomic_output(p) as tmp:
            fig.savefig(tmp, format=p.suffix[1:], bbox_inches="tight")
    plt.close(fig)
