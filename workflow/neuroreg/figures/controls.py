"""Is the gain neural? Each brain-data condition against the strongest of the controls that carry no brain data
(tables/controls.csv; docs/RESULTS.md, "Is the gain neural?"; the pairs: :data:`neuroreg.conditions.CONTROLS`).

Three studies since the paper found targets without brain data that matched the neural gain: the same matrix on
permuted images (``shuffle``, Federer et al. 2020), the stimuli's own pixel similarity (``pixel``, Attias et al.
2024), an untrained network's similarity (``random_network``), and a fixed blur (the ``blur{sigma}`` that rule
``blur_selection`` chose on held-out images, Li et al. 2023). For a tested condition (``neuroreg.conditions.CONTROLS``) and each
robustness measure, the gain over every control that was run is computed on the same images, and the row reports
the **strongest** control: the one whose gain is smallest (chosen on the same test data, which favours the controls:
the gain that survives is conservative).

Measures (the primary BatchNorm variant):

* ``accuracy_sd{level}``: accuracy under Gaussian noise at each level > 0, tested minus control, Welch's 95 %
  interval over seeds (:func:`neuroreg.effects.accuracy_difference`);
* ``corruption``: mean CIFAR-10-C accuracy over the sets evaluated, the same;
* ``median_L2``, ``median_Linf``: the median over images both models classify correctly of the per-image ratio of
  minimal perturbations, hierarchical bootstrap over seeds and images (:func:`neuroreg.effects.median_ratio`), as the
  verdict (:mod:`.verdict`) defines it; only where both conditions were attacked.

``verdict``: *holds* (the gain survives the strongest control: the interval lies above 0, or above a ratio of 1),
*does not hold* (it lies below: the control is the more robust), *inconclusive*.
"""

from __future__ import annotations

import math

import pandas as pd

from .. import effects
from ..conditions import CONTROLS as TESTS
from .corruptions import per_model
from .runs import distance_matrix, seed_accuracies

COLUMNS = ["tested", "measure", "strongest", "effect", "ci_low", "ci_high", "scale", "verdict", "n_seeds",
           "n_seeds_control", "n_images", "controls"]


def blur_condition(sigma: float | None) -> str | None:
    """The condition name of the selected blur (``blur{sigma}``), None without a selection."""
    return None if sigma is None else f"blur{float(sigma):g}"


def _variant(df: pd.DataFrame | None, bn: str | None) -> str:
    """The BatchNorm variant read from ``df``: ``bn``, or the table's first (the primary); "" without a bn column."""
    if df is None or "bn" not in df or not len(df):
        return ""
    return bn if bn is not None else df["bn"].iloc[0]


def _word(lo: float, hi: float, scale: str) -> str:
    if scale == "ratio":
        lo, hi = (math.log(v) if v > 0 else math.nan for v in (lo, hi))
    return effects.verdict(lo, hi, math.nan, 0.0)


def _effect(measure: str, tested: str, control: str, noise, corr_models, images, bn: dict, n_boot: int, seed: int):
    """(Effect, scale) of tested over control on one measure, or None where either lacks the data; ``bn``: the
    variant of each table ({"noise": ..., "images": ...})."""
    if measure.startswith("accuracy_sd"):
        level = float(measure[len("accuracy_sd"):])
        a = seed_accuracies(noise, tested, level, bn["noise"])
        b = seed_accuracies(noise, control, level, bn["noise"])
        return (effects.accuracy_difference(a, b), "difference") if len(a) and len(b) else None
    if measure == "corruption":
        if corr_models is None:
            return None
        a = corr_models.loc[corr_models["condition"] == tested, "all"].to_numpy(float)
        b = corr_models.loc[corr_models["condition"] == control, "all"].to_numpy(float)
        return (effects.accuracy_difference(a, b), "difference") if len(a) and len(b) else None
    if images is None:
        return None
    norm = measure[len("median_"):]
    da = distance_matrix(images, tested, norm, bn["images"])
    db = distance_matrix(images, control, norm, bn["images"])
    if da.empty or db.empty:
        return None
    shared = da.columns.intersection(db.columns)
    return effects.median_ratio(da[shared].to_numpy(), db[shared].to_numpy(), n_boot=n_boot, seed=seed), "ratio"


def measures(noise: pd.DataFrame | None, corruptions: pd.DataFrame | None, images: pd.DataFrame | None) -> list[str]:
    out = []
    if noise is not None and len(noise):
        out += [f"accuracy_sd{lv:g}" for lv in sorted(noise["level"].unique()) if lv > 0]
    if corruptions is not None and len(corruptions):
        out.append("corruption")
    if images is not None and len(images):
        out += [f"median_{n}" for n in ("L2", "Linf") if (images["norm"] == n).any()]
    return out


def control_gains(noise: pd.DataFrame | None, corruptions: pd.DataFrame | None = None,
                  images: pd.DataFrame | None = None, *, blur_sigma: float | None = None, tests=None,
                  bn: str | None = None, n_boot: int = 2000, seed: int = 0, only=None) -> pd.DataFrame:
    """tables/controls.csv (module doc): one row per tested condition and measure where the tested condition and at
    least one of its controls have the measure.

    noise, corruptions, images: the long tables of :func:`neuroreg.figures.runs.read_runs` (noise.csv,
    corruptions.csv, adversarial_images.csv; their main-text runs); blur_sigma: the sigma rule blur_selection chose
    (None: no blur control); tests: {tested: controls} (default :data:`TESTS`); bn: the BatchNorm variant (default:
    each table's first, the primary); only: the measures to compute (default: every one the tables have; names as
    the module doc, ``accuracy_sd0`` the clean accuracy). ``controls`` lists every control's effect, "; "-joined,
    strongest first.
    """
    tests = TESTS if tests is None else tests
    variants = {"noise": _variant(noise, bn), "images": _variant(images, bn)}
    corr_models = per_model(corruptions) if corruptions is not None and len(corruptions) else None
    blur = blur_condition(blur_sigma)
    rows = []
    for tested, controls in tests.items():
        names = [blur if c == "blur" else c for c in controls if c != "blur" or blur is not None]
        for measure in measures(noise, corruptions, images) if only is None else only:
            found = []
            for control in names:
                r = _effect(measure, tested, control, noise, corr_models, images, variants, n_boot, seed)
                if r is not None and math.isfinite(r[0].estimate):
                    found.append((control, *r))
            if not found:
                continue
            found.sort(key=lambda f: f[1].estimate)
            control, e, scale = found[0]
            fmt = (lambda v: f"x{v:.3f}") if scale == "ratio" else (lambda v: f"{100 * v:+.1f}")
            listed = "; ".join(f"{c} {fmt(x.estimate)} [{fmt(x.lo)}, {fmt(x.hi)}]" for c, x, _ in found)
            rows.append({"tested": tested, "measure": measure, "strongest": control, "effect": e.estimate,
                         "ci_low": e.lo, "ci_high": e.hi, "scale": scale, "verdict": _word(e.lo, e.hi, scale),
                         "n_seeds": e.n_a, "n_seeds_control": e.n_b, "n_images": e.n_images, "controls": listed})
    return pd.DataFrame(rows, columns=COLUMNS)
