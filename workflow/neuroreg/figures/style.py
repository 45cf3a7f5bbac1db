"""One look for every figure: the same colour per condition everywhere, PNG + PDF output."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..conditions import parse  # noqa: E402
from ..files import InputError, atomic_output  # noqa: E402

# Conditions of the co-training experiment (Fig. 4-7) and their labels in the paper.
CONDITION_COLORS = {
    "none": "#4d4d4d",
    "neural_model": "#d62728",
    "neural_data": "#ff9896",
    "shuffle": "#1f77b4",
    "vgg": "#2ca02c",
    "ground_truth": "#9467bd",
    "pixel": "#7f7f7f",
    "random_network": "#ff7f0e",  # not COMBINED_COLOR: a blur + method row sits in the same figures
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

# The other methods (docs/RESULTS.md, "Other ways to learn from brains"): one hue per family.
METHOD_COLORS = {
    "mtl_model": "#2ca02c", "mtl_shuffle": "#98df8a", "mtl_ground_truth": "#17becf", "mtl_data": "#bcbd22",
}
METHOD_LABELS = {
    "mtl_model": "MTL (model)", "mtl_shuffle": "MTL (shuffle)", "mtl_ground_truth": "MTL (ground truth)",
    "mtl_data": "MTL (data)", "blurbest_none": "Blur, chosen \u03c3 (control)",
}
CKA_COLORS = {"cka": "#8c564b", "logcka": "#c49c94"}
BLUR_CMAP = "Blues"
COMBINED_COLOR = "#e377c2"


def family(c: str) -> str:
    """baseline, similarity, cka, multi-task, low-pass or low-pass + <family> of a condition name
    (:attr:`neuroreg.conditions.Condition.family`); "other" for a name that is no condition."""
    cond = _parsed(c)
    return "other" if cond is None else cond.family


def _parsed(c: str):
    try:
        return parse(c)
    except InputError:  # a name that is no condition (a table's own label): the neutral grey, its name
        return None


def condition_color(c: str):
    """The colour of a condition: the paper's five as CONDITION_COLORS, the other methods by family."""
    if c in CONDITION_COLORS:
        return CONDITION_COLORS[c]
    if c in METHOD_COLORS:
        return METHOD_COLORS[c]
    cond = _parsed(c)
    if cond is None:
        return "0.5"
    if cond.blur is not None:
        if cond.base != "none":
            return COMBINED_COLOR
        if cond.blur == "best":
            return matplotlib.colormaps[BLUR_CMAP](0.75)  # the chosen sigma: the sweep's middle shade
        return matplotlib.colormaps[BLUR_CMAP](0.35 + 0.6 * min(float(cond.blur), 3.0) / 3.0)  # darker: more blur
    if cond.loss in CKA_COLORS:
        return CKA_COLORS[cond.loss]
    if cond.kind == "similarity" and cond.target.startswith("neural_model_"):
        return CONDITION_COLORS["neural_model"]
    return "0.5"


def condition_label(c: str) -> str:
    """A readable label: the paper's, MTL (...), CKA / log(1-CKA) (...), Blur sigma=..., Blur ... + ...."""
    if c in CONDITION_LABELS:
        return CONDITION_LABELS[c]
    if c in METHOD_LABELS:
        return METHOD_LABELS[c]
    cond = _parsed(c)
    if cond is None:
        return c
    if cond.blur is not None:
        sigma = "best" if cond.blur == "best" else f"\u03c3={cond.blur}"
        return f"Blur {sigma}" + (f" + {condition_label(cond.base)}" if cond.base != "none" else "")
    if cond.loss in ("cka", "logcka"):
        return f"{'1-CKA' if cond.loss == 'cka' else 'log(1-CKA)'} ({condition_label(cond.target)})"
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


FAMILY_ORDER = ("baseline", "similarity", "cka", "multi-task", "low-pass")
MTL_ORDER = ("mtl_model", "mtl_shuffle", "mtl_ground_truth", "mtl_data")


def condition_order(conditions) -> list[str]:
    """The paper's conditions first, then the other methods by family (blur sigmas ascending)."""
    known = [c for c in CONDITION_COLORS if c in set(conditions)]
    rest = sorted(set(conditions) - set(known))

    def key(c):
        fam = family(c)
        rank = FAMILY_ORDER.index(fam) if fam in FAMILY_ORDER else len(FAMILY_ORDER)
        head = c.split("_", 1)[0][4:] if c.startswith("blur") else ""
        sigma = float(head) if head.replace(".", "", 1).isdigit() else float("inf")
        within = MTL_ORDER.index(c) if c in MTL_ORDER else len(MTL_ORDER)  # the target, then its controls
        return (rank, sigma, within, c)

    return known + sorted(rest, key=key)
