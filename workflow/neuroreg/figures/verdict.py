"""The verdict on the paper's claims: each claim's effect over ``none`` and over ``shuffle``, with its 95 % interval
and one word (tables/verdict.csv, Fig. 12, the report's first page, the ``holds`` column of paper_vs_run.csv).

Claims (section 4.1, 4.2, supplement Table 1), each for ``neural_model`` against a comparison condition, in each
BatchNorm variant the robustness stage evaluated (``robustness.bn``; the first is primary, docs/RESULTS.md "The verdict"):

* ``clean_cost``: clean accuracy of neural_model minus none's ("only a small sacrifice on clean image
  performance"): a non-inferiority claim, null -0.05 (a cost of 5 points), no size given;
* ``accuracy_sd{level}``: accuracy under Gaussian noise at sd 0.06, 0.08 and 0.10, minus none's (the paper's one
  number: +0.30 at its highest level, "50 % vs 20 %", used for every level) and minus shuffle's (no size given);
* ``median_L2``, ``median_Linf``: the median over images that both models classify correctly of the per-image ratio
  of minimal perturbations (:func:`neuroreg.effects.median_ratio`), null 1; the paper's ratios of medians
  (section 4.2): L2 0.13 / 0.09 over none and 0.13 / 0.11 over shuffle, Linf 0.0034 / 0.0025 and 0.0034 / 0.003;
* ``gamma_collapse``: the largest final gamma of each neural_model seed (its mean), "usually collapse to only one
  layer": null 0.9 (near a single layer), the paper's 1.

Where the run trained controls without brain data (``controls``: pixel, random_network, the selected blur, shuffle),
the noise and adversarial claims get a third comparison, ``neural_model vs strongest control (<name>)``: the gain
over the control with the smallest gain on that claim (:mod:`.controls`; "is the gain neural?"), no size given by
the paper.

Accuracy differences: Welch's interval over seeds (:func:`neuroreg.effects.accuracy_difference`); gamma: a t interval
over seeds. Each row has the smallest effect its design detects (80 % power, :func:`neuroreg.effects.detectable_effect`)
and, for the adversarial claims, the sanity checks of both conditions' models in that variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import effects
from .controls import control_gains
from .runs import distance_matrix, seed_accuracies

CONDITION = "neural_model"
NOISE_LEVELS = (0.06, 0.08, 0.10)
PAPER_NOISE_GAIN = 0.30  # section 4.1: "50% v.s. 20% at the highest noise level"
PAPER_MEDIANS = {"L2": {"neural_model": 0.13, "none": 0.09, "shuffle": 0.11},
                 "Linf": {"neural_model": 0.0034, "none": 0.0025, "shuffle": 0.003}}
COLUMNS = ["claim", "comparison", "bn", "primary", "effect", "ci_low", "ci_high", "scale", "paper", "null", "verdict",
           "detectable", "n_seeds", "n_seeds_other", "n_images", "checks", "unit", "note"]


@dataclass(frozen=True)
class Claim:
    name: str
    kind: str  # accuracy | distance | gamma
    paper: dict = field(default_factory=dict)  # comparison -> the paper's effect (NaN: no size given)
    null: float = 0.0
    level: float = 0.0
    norm: str = ""
    unit: str = "fraction"
    source: str = ""


def claims(levels=NOISE_LEVELS) -> list[Claim]:
    """The claims of the module doc, with the noise levels ``levels``."""
    out = [Claim("clean_cost", "accuracy", {"none": math.nan}, null=-0.05, level=0.0,
                 source="section 4.1: 'only with a small sacrifice on clean image performance'; holds: the interval "
                        "lies above -0.05 (a cost under 5 points)")]
    for lv in levels:
        out.append(Claim(f"accuracy_sd{lv:g}", "accuracy", {"none": PAPER_NOISE_GAIN, "shuffle": math.nan}, level=lv,
                         source="section 4.1, Fig. 4A: more robust to Gaussian noise (the paper: +0.30 at its highest "
                                "level); over shuffle: 'neither as much as the neural regularizer', no size"))
    for norm, unit in (("L2", "ratio"), ("Linf", "ratio")):
        m = PAPER_MEDIANS[norm]
        out.append(Claim(f"median_{norm}", "distance", {c: m[CONDITION] / m[c] for c in ("none", "shuffle")}, null=1.0,
                         norm=norm, unit=unit,
                         source=f"section 4.2: larger minimal {norm} perturbations (paper: median {m[CONDITION]:g} vs "
                                f"{m['none']:g} none, {m['shuffle']:g} shuffle); run: median over images both models "
                                "classify correctly of the per-image ratio"))
    out.append(Claim("gamma_collapse", "gamma", {"": 1.0}, null=0.9, unit="probability",
                     source="supplement Table 1: gamma 'usually collapse to only one layer'; holds: the mean largest "
                            "final gamma's interval lies above 0.9"))
    return out


def _checks(checks: pd.DataFrame | None, conds, bn: str) -> str:
    if checks is None:
        return ""
    c = checks[checks["condition"].isin(conds)]
    if "bn" in c:
        c = c[c["bn"].isin([bn, ""])]
    if c.empty:
        return ""
    bad = c[~c["passed"]]
    if bad.empty:
        return f"passed ({len(c)} models)"
    return f"FAILED in {len(bad)} of {len(c)} models: " + "; ".join(
        f"{cc} seed {s}: {f}" for cc, s, f in zip(bad["condition"], bad["seed"], bad["failed"]))


def verdict_table(noise: pd.DataFrame | None, images: pd.DataFrame | None, gamma: pd.DataFrame | None = None,
                  checks: pd.DataFrame | None = None, *, bn_variants=None, controls=(), n_boot: int = 2000,
                  seed: int = 0) -> pd.DataFrame:
    """tables/verdict.csv (module doc). noise: the long noise table (condition, seed, bn, level, accuracy);
    images: the long per-image adversarial table (condition, seed, bn, norm, image_index, distance, clean_correct);
    gamma: the final gamma of the neural_model runs (columns seed, gamma_{k}); checks: :func:`read_checks` rows.
    bn_variants: the variants in order (primary first; default: as they appear in the tables). A claim whose inputs
    are missing is left out; a comparison condition that was not run is left out. controls: the conditions of the
    strongest-control comparison (module doc; none: no such rows)."""
    if bn_variants is None:
        found = [t["bn"] for t in (noise, images) if t is not None and "bn" in t]
        bn_variants = list(dict.fromkeys(pd.concat(found))) if found else [""]
    levels = [lv for lv in NOISE_LEVELS if noise is not None and np.isclose(noise["level"], lv).any()]
    rows = []
    strongest = _strongest(noise, images, controls, bn_variants, n_boot, seed) if controls else {}
    for claim in claims(levels):
        for comparison, paper in claim.paper.items():
            for k, bn in enumerate(bn_variants if claim.kind != "gamma" else bn_variants[:1]):
                row = _row(claim, comparison, paper, bn, noise, images, gamma, checks, n_boot, seed)
                if row is not None:
                    rows.append({**row, "bn": bn if claim.kind != "gamma" else "", "primary": k == 0})
        for k, bn in enumerate(bn_variants):
            g = strongest.get((claim.name, bn))
            if g is None:
                continue
            rows.append({"claim": claim.name, "comparison": f"{CONDITION} vs strongest control ({g['strongest']})",
                         "bn": bn, "primary": k == 0, "effect": g["effect"], "ci_low": g["ci_low"],
                         "ci_high": g["ci_high"], "scale": g["scale"], "paper": math.nan, "null": claim.null,
                         "verdict": g["verdict"], "detectable": math.nan, "n_seeds": g["n_seeds"],
                         "n_seeds_other": g["n_seeds_control"],
                         "n_images": g["n_images"] or (int(noise["n_images"].max()) if claim.kind == "accuracy" and
                                                       "n_images" in noise else 0),
                         "checks": _checks(checks, (CONDITION, g["strongest"]), bn) if claim.kind == "distance" else "",
                         "unit": claim.unit, "note": f"the gain over the strongest of {', '.join(controls)}: "
                                                     f"{g['controls']}"})
    return pd.DataFrame(rows, columns=COLUMNS)


def _strongest(noise, images, controls, bn_variants, n_boot, seed) -> dict:
    """{(claim, bn): the row of :func:`neuroreg.figures.controls.control_gains` for neural_model}."""
    out = {}
    for bn in bn_variants:
        t = control_gains(noise, None, images, tests={CONDITION: tuple(controls)}, bn=bn or None, n_boot=n_boot,
                          seed=seed)
        for r in t.to_dict("records"):
            out[(r["measure"], bn)] = r
    return out


def _row(claim: Claim, comparison: str, paper: float, bn: str, noise, images, gamma, checks, n_boot, seed):
    base = {"claim": claim.name, "comparison": f"{CONDITION} vs {comparison}" if comparison else CONDITION,
            "paper": paper, "null": claim.null, "unit": claim.unit, "note": claim.source, "checks": ""}
    if claim.kind == "accuracy":
        if noise is None:
            return None
        a, b = seed_accuracies(noise, CONDITION, claim.level, bn), seed_accuracies(noise, comparison, claim.level, bn)
        if not len(a) or not len(b):
            return None
        e = effects.accuracy_difference(a, b)
        word = effects.verdict(e.lo, e.hi, paper, claim.null)
        return {**base, "effect": e.estimate, "ci_low": e.lo, "ci_high": e.hi, "scale": "difference", "verdict": word,
                "detectable": effects.detectable_effect(e.se, e.df), "n_seeds": e.n_a, "n_seeds_other": e.n_b,
                "n_images": int(noise["n_images"].max()) if "n_images" in noise else 0}
    if claim.kind == "distance":
        if images is None:
            return None
        da, db = distance_matrix(images, CONDITION, claim.norm, bn), distance_matrix(images, comparison, claim.norm, bn)
        if da.empty or db.empty:
            return None
        shared = da.columns.intersection(db.columns)
        e = effects.median_ratio(da[shared].to_numpy(), db[shared].to_numpy(), n_boot=n_boot, seed=seed)
        word = effects.verdict(math.log(e.lo) if e.lo > 0 else math.nan, math.log(e.hi) if e.hi > 0 else math.nan,
                               math.log(paper), 0.0)
        n = (e.n_a + e.n_b) / 2
        mde = effects.detectable_effect(e.se * math.sqrt(n / (n - 1)), e.df) if n > 1 else math.nan
        return {**base, "effect": e.estimate, "ci_low": e.lo, "ci_high": e.hi, "scale": "ratio", "verdict": word,
                "detectable": math.exp(mde) if math.isfinite(mde) else math.nan, "n_seeds": e.n_a,
                "n_seeds_other": e.n_b, "n_images": e.n_images,
                "checks": _checks(checks, (CONDITION, comparison), bn)}
    if gamma is None or not len(gamma):
        return None
    cols = [c for c in gamma.columns if c.startswith("gamma_")]
    top = gamma[cols].max(axis=1).to_numpy(float)
    e = effects.mean_interval(top)
    layers = ", ".join(f"seed {s}: {c.split('_', 1)[1]}" for s, c in zip(gamma["seed"], gamma[cols].idxmax(axis=1)))
    return {**base, "effect": e.estimate, "ci_low": e.lo, "ci_high": e.hi, "scale": "mean",
            "verdict": effects.verdict(e.lo, e.hi, paper, claim.null), "detectable": math.nan, "n_seeds": e.n_a,
            "n_seeds_other": 0, "n_images": 0, "note": f"{claim.source}; top layer {layers}"}


def plot_verdict(table: pd.DataFrame, path) -> None:
    """Fig. 12: each claim's effect with its 95 % interval, per comparison and BatchNorm variant (filled: primary),
    the paper's effect (diamond) and the null (dotted); the verdict word at the right."""
    from .style import plt, save

    panels = [("difference", "accuracy difference (points)", 100.0, False),
              ("ratio", "median per-image ratio of minimal perturbations", 1.0, True),
              ("mean", "mean largest final γ", 1.0, False)]
    panels = [p for p in panels if (table["scale"] == p[0]).any()]
    heights = [max(1, int((table["scale"] == p[0]).sum())) for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8.5, 0.9 + 0.32 * sum(heights) + 0.5 * len(panels)),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    colors = {"none": "#444444", "shuffle": "#d08000", "": "#2060b0"}
    for ax, (scale, xlabel, factor, log) in zip(axes[:, 0], panels):
        d = table[table["scale"] == scale].reset_index(drop=True)
        for i, r in d.iterrows():
            y = len(d) - 1 - i
            other = r["comparison"].split(" vs ")[-1] if " vs " in r["comparison"] else ""
            col = colors.get(other, "#2060b0")
            ax.plot([r["ci_low"] * factor, r["ci_high"] * factor], [y, y], color=col, lw=2)
            ax.plot(r["effect"] * factor, y, "o", color=col if r["primary"] else "white", mec=col, ms=6, zorder=3)
            if np.isfinite(r["paper"]):
                ax.plot(r["paper"] * factor, y, "D", color="#b00000", ms=5, mfc="none", zorder=4)
            mark = "" if not str(r["checks"]).startswith("FAILED") else " (checks FAILED)"
            ax.annotate(f"{r['verdict']}{mark}", xy=(1.01, y), xycoords=("axes fraction", "data"), va="center",
                        fontsize=7.5, color="#b00000" if r["verdict"] == effects.FAILS else "0.15")
        for null in d["null"].unique():  # each row's null: a line through its rows only (clean cost: -5 points)
            rows = np.flatnonzero(d["null"].to_numpy() == null)
            for y in len(d) - 1 - rows:
                ax.plot([null * factor] * 2, [y - 0.45, y + 0.45], color="0.45", ls=":", lw=1.2, zorder=1)
        ax.set_yticks(range(len(d)))
        ax.set_yticklabels([f"{r['claim']}, {r['comparison'].replace(CONDITION, 'NM')}"
                            + (f", BN {r['bn']}" if r["bn"] else "") for _, r in d.iterrows()][::-1], fontsize=7.5)
        if log:
            from matplotlib.ticker import FormatStrFormatter, NullFormatter

            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(FormatStrFormatter("%.2g"))
            ax.xaxis.set_minor_formatter(FormatStrFormatter("%.2g"))
            lo, hi = ax.get_xlim()
            if hi / lo > 3:  # a wide range: the decades only
                ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(xlabel, fontsize=8.5)
        ax.set_ylim(-0.7, len(d) - 0.3)
    others = list(dict.fromkeys("the strongest control" if c.startswith("strongest control") else c for c in (
        cmp.split(" vs ", 1)[1] for cmp in table["comparison"] if " vs " in cmp)))
    against = " and ".join([", ".join(others[:-1]), others[-1]] if len(others) > 1 else others)
    axes[0, 0].set_title(f"The verdict: neural_model (NM) against {against}, 95 % intervals\n"
                         "filled: primary BatchNorm statistics; open: the other; red diamond: the paper; dotted: each row's null",
                         fontsize=9)
    fig.tight_layout()
    save(fig, path)
