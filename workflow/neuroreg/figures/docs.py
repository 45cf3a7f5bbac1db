"""The measured numbers of the documentation, written from a run's tables, so that rerunning keeps them true.

A document marks each generated block::

    <!-- rendered: verdict-table -->
    ... (written by this module; edits here are overwritten) ...
    <!-- /rendered -->

and ``python -m neuroreg.figures.docs --run results/laptop docs/RESULTS.md README.md`` rewrites every such block from
the run's files (``--check``: exit 1, naming the blocks, where a document is not what the run says; nothing is
written). The prose around the blocks is written by hand. Blocks (:data:`BLOCKS`):

* ``verdict-table``: ``tables/verdict.csv``, every claim and comparison in both BatchNorm variants, the paper's
  effect and the smallest detectable one (docs/RESULTS.md, "The verdict");
* ``noise-table``: accuracy under noise per condition, mean and SEM over seeds, both variants, from each run's
  ``robustness/{condition}/alpha{alpha}/seed{seed}/noise.csv``;
* ``headline``: the verdict's adversarial and noise effects against ``none`` in one paragraph (README);
* ``attack-summary``: per attacked condition its correctly classified images and median minimal perturbations
  (over those images, and the paper's median with misclassified images at 0), and per norm the sanity checks'
  extremes over the models and which attack found the reported minimum (each run's ``adversarial.csv``,
  ``checks.json``);
* ``corruption-summary``: CIFAR-10-C accuracy and relative robustness per condition (``tables/corruption_summary.csv``);
* ``brain-likeness``: brain-likeness per condition and its Spearman correlation with each robustness score
  (``tables/brain_likeness.csv``, Fig. 10);
* ``similarity-correlations``: stages 1-4 against the paper (``tables/similarity_correlations.csv``);
* ``controls-table``: each brain-data condition's gain over the strongest control without brain data, per robustness
  measure (``tables/controls.csv``, :mod:`.controls`);
* ``frequency-summary``: the low-frequency probe per condition (clean accuracy, low-frequency reliance,
  brain-likeness) and the partial correlations of robustness with brain-likeness given both (``tables/frequency.csv``,
  ``tables/partial_correlations.csv``, Fig. 13);
* ``gamma-table``: Table 1, the final gamma per layer and alpha (``tables/gamma.csv``);
* ``methods-table``: the methods side by side, mean ± SEM over seeds (``tables/methods.csv``), and each one's gain
  over ``none`` with its 95 % interval, bold where the interval excludes no change (0 points, a ratio of 1)
  (docs/RESULTS.md, "Other ways to learn from brains");
* ``run-cost``: where the run's time went: job time per stage (Snakemake's ``benchmarks/``) and per training (each
  run's ``metrics.json``).

Per-run files are attributed by the run they record (:meth:`neuroreg.conditions.Run.of_table`), never by their path.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..files import InputError, atomic_output
from .runs import at_main_alphas, main_alphas, mean_sem, read_run_table, read_runs
from .style import condition_order

BLOCK = re.compile(r"(<!-- rendered: (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)(<!-- /rendered -->)", re.S)
CLAIMS = {  # claim -> (label, unit of its effect)
    "clean_cost": ("clean cost (points; null: -5)", "points"),
    "accuracy_sd0.06": ("accuracy at sd 0.06 (points)", "points"),
    "accuracy_sd0.08": ("accuracy at sd 0.08", "points"),
    "accuracy_sd0.1": ("accuracy at sd 0.10", "points"),
    "median_L2": ("median minimal L2 (ratio)", "ratio"),
    "median_Linf": ("median minimal Linf (ratio)", "ratio"),
    "gamma_collapse": ("gamma collapses to one layer (mean largest gamma; null 0.9)", "mean"),
}
PAPER_SIZE = {"clean_cost": '"small"'}


def _effect(unit: str, v: float) -> str:
    if unit == "points":
        return f"{100 * v:+.1f}"
    if unit == "ratio":
        return f"x{v:.2f}"
    return f"{v:.2f}"


def _interval(unit: str, lo: float, hi: float) -> str:
    if unit == "points":
        return f"[{100 * lo:+.1f}, {100 * hi:+.1f}]"
    return f"[{lo:.2f}, {hi:.2f}]"


def _paper(claim: str, unit: str, paper: float) -> str:
    if claim in PAPER_SIZE:
        return PAPER_SIZE[claim]
    if isinstance(paper, float) and math.isnan(paper):
        return "> 0" if unit == "points" else ""
    if unit == "points":
        return f"{100 * paper:+g}"
    return _effect(unit, paper) if unit != "mean" else f"{paper:g}"


def verdict_table(verdict: pd.DataFrame) -> str:
    """The markdown table of ``tables/verdict.csv`` (module doc); the primary variant's verdicts in bold where they
    hold."""
    need = {"claim", "comparison", "bn", "primary", "effect", "ci_low", "ci_high", "paper", "verdict", "detectable"}
    missing = sorted(need - set(verdict.columns))
    if missing:
        raise InputError("tables/verdict.csv", missing[0], "missing column (written by rule verdict)")
    lines = ["| claim | against | BatchNorm re-estimated (primary) | | as trained | | the paper | detectable (primary) |",
             "|---|---|---|---|---|---|---|---|"]
    for claim, (label, unit) in CLAIMS.items():
        rows = verdict[verdict["claim"] == claim]
        first = True
        for comparison in dict.fromkeys(rows["comparison"]):
            cells, detect, paper = {}, "", ""
            for _, r in rows[rows["comparison"] == comparison].iterrows():
                text = f"{_effect(unit, r['effect'])} {_interval(unit, r['ci_low'], r['ci_high'])}"
                key = "primary" if bool(r["primary"]) else "other"
                bold = key == "primary" and r["verdict"] == "holds"
                cells[key] = (f"**{text}**" if bold else text, f"**{r['verdict']}**" if bold else r["verdict"])
                if key == "primary":
                    detect = "" if pd.isna(r["detectable"]) else (f"x{r['detectable']:.2f}" if unit == "ratio"
                                                                  else f"{100 * r['detectable']:.1f}")
                    paper = _paper(claim, unit, r["paper"])
            against = "" if " vs " not in comparison else f"`{comparison.split(' vs ')[1]}`"
            p, o = cells.get("primary", ("", "")), cells.get("other", ("", ""))
            lines.append(f"| {label if first else ''} | {against} | {p[0]} | {p[1]} | {o[0]} | {o[1]} | {paper} | "
                         f"{detect} |")
            first = False
    return "\n".join(lines) + "\n"


def noise_table(run_dir: Path) -> str:
    """Accuracy under noise (%) per condition and alpha: mean ± SEM over seeds (one seed: no SEM), the primary
    BatchNorm variant / the other, from every run's noise.csv under ``run_dir/robustness``."""
    rows = []
    for p in _per_run(run_dir, "noise.csv"):
        df = read_run_table(p)
        variants = list(dict.fromkeys(df["bn"])) if "bn" in df else [""]
        for k, v in enumerate(variants[:2]):
            d = df[df["bn"] == v] if v else df
            for cond, alpha, seed, level, acc in zip(d["condition"], d["alpha"], d["seed"], d["level"], d["accuracy"]):
                rows.append({"condition": cond, "alpha": float(alpha), "seed": int(seed), "variant": k,
                             "level": float(level), "accuracy": 100 * float(acc)})
    t = pd.DataFrame(rows)
    levels = sorted(t["level"].unique())
    order = condition_order(t["condition"].unique())
    head = "| condition (seeds) | " + " | ".join("clean" if lv == 0 else f"sd {lv:.2f}" for lv in levels) + " |"
    lines = [head, "|" + "---|" * (len(levels) + 1)]
    groups = t.groupby(["condition", "alpha"])
    main_alpha = main_alphas(t)
    for cond in order:
        for alpha in sorted(t[t["condition"] == cond]["alpha"].unique(), key=lambda a: (a != main_alpha[cond], a)):
            g = groups.get_group((cond, alpha))
            n = g["seed"].nunique()
            name = f"`{cond}`" + ("" if alpha == main_alpha[cond] else f", alpha {alpha:g}")
            cells = []
            for lv in levels:
                parts = []
                for k in sorted(g["variant"].unique()):
                    a = g[(g["level"] == lv) & (g["variant"] == k)]["accuracy"].to_numpy()
                    parts.append(f"{a.mean():.1f}" if len(a) < 2 else f"{a.mean():.1f} ± {a.std(ddof=1) / np.sqrt(len(a)):.1f}")
                cells.append(" / ".join(parts))
            lines.append(f"| {name} ({n}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def headline(verdict: pd.DataFrame) -> str:
    """One paragraph: the primary variant's adversarial ratios and the noise effect at the highest level, against
    ``none``, with their intervals and verdicts."""
    p = verdict[verdict["primary"].astype(bool) & (verdict["comparison"] == "neural_model vs none")]

    def one(claim):
        r = p[p["claim"] == claim]
        if r.empty:
            raise InputError("tables/verdict.csv", claim, "no primary row of neural_model vs none")
        r = r.iloc[0]
        unit = CLAIMS[claim][1]
        return f"{_effect(unit, r['effect'])} {_interval(unit, r['ci_low'], r['ci_high'])}: {r['verdict']}"

    noise = sorted(c for c in p["claim"] if c.startswith("accuracy_sd"))
    top = max(noise, key=lambda c: float(c[len("accuracy_sd"):])) if noise else None
    text = ("**The verdict** (`tables/verdict.csv`, BatchNorm statistics re-estimated on CIFAR-10, 95 % intervals over "
            "seeds, then images): on the images both classify correctly, `neural_model`'s minimal perturbation over "
            f"`none`'s, per image, median L2 {one('median_L2')}, Linf {one('median_Linf')}")
    if top:
        text += f"; accuracy under noise of sd {float(top[len('accuracy_sd'):]):.2f}, points over `none`: {one(top)}"
    return text + ". All claims, both BatchNorm variants, against `shuffle` too: docs/RESULTS.md, \"The verdict\".\n"


def _per_run(run_dir, name: str, required: bool = True) -> list[Path]:
    """Every run's stage-6 file ``name``; none: an InputError (``required``) or an empty list."""
    paths = sorted((Path(run_dir) / "robustness").glob(f"*/alpha*/seed*/{name}"))
    if not paths and required:
        raise InputError(Path(run_dir) / "robustness", None, f"no */alpha*/seed*/{name}: run its stage-6 job")
    return paths


def _table(run_dir, name: str, need: set) -> pd.DataFrame:
    path = Path(run_dir) / "tables" / name
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(path, None, f"cannot be read as CSV: {err}") from err
    missing = sorted(need - set(df.columns))
    if missing:
        raise InputError(path, missing[0], "missing column")
    return df


def _pm(mean: float, sem: float, fmt: str) -> str:
    return format(mean, fmt) if not np.isfinite(sem) else f"{format(mean, fmt)} ± {format(sem, fmt)}"


ATTACK_NAMES = {"ddn": "DDN", "fmn": "FMN", "pgd": "PGD", "start": "the gradient-free start", "ties": "ties"}


def _failed_checks(variant: dict) -> list[str]:
    """``check norm`` (or ``check`` without per-norm results) of every failed check of one BatchNorm variant."""
    out = []
    for name, c in variant.items():
        if isinstance(c, dict) and c.get("passed") is False:
            norms = [n for n, pn in c.get("per_norm", {}).items() if not pn.get("passed", False)]
            out += [f"{name} {n}" for n in norms] or [name]
    return out


def attack_summary(run_dir: Path) -> str:
    """Two tables (module doc, ``attack-summary``): per attacked condition, per norm."""
    adv = at_main_alphas(read_runs(_per_run(run_dir, "adversarial.csv")))  # the primary BatchNorm variant
    norms = list(dict.fromkeys(adv["norm"]))
    n_images = int(adv["n_images"].max())
    head = f"| condition (seeds) | correct of {n_images} | " + " | ".join(
        f"median {n}, correct images | {n}, the paper's median" for n in norms) + " |"
    lines = [head, "|" + "---|" * (2 + 2 * len(norms))]
    for cond in condition_order(adv["condition"].unique()):
        a = adv[adv["condition"] == cond]
        one = a[a["norm"] == norms[0]]
        correct = mean_sem(one.assign(v=one["n_correct"]), ["condition"], "v").iloc[0]
        cells = [_pm(correct["mean"], correct["sem"], ".1f")]
        for n in norms:
            fmt = ".4f" if n == "Linf" else ".3f"
            for col in ("median_correct", "median"):
                m = mean_sem(a[a["norm"] == n], ["condition"], col).iloc[0]
                cells.append(_pm(m["mean"], m["sem"], fmt))
        lines.append(f"| `{cond}` ({one['seed'].nunique()}) | " + " | ".join(cells) + " |")
    # the checks over every attacked model: the primary variant's extremes, the other's unreached images
    reports, report_paths = [], _per_run(run_dir, "checks.json")
    for p in report_paths:
        try:
            reports.append(json.loads(p.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(p, None, f"cannot be read as JSON: {err}") from err
    variants = [list(r["bn"]) if isinstance(r.get("bn"), dict) else [""] for r in reports]
    by = [[r["bn"][v] if v else r for v in vs] for r, vs in zip(reports, variants)]
    passed = sum(all(v["passed"] for v in b) for b in by)
    failed = []
    for path, r, b in zip(report_paths, reports, by):
        if not all(v["passed"] for v in b):
            what = sorted({w for v in b for w in _failed_checks(v)}) or ["see its checks.json"]
            run = r.get("run") or {}
            who = f"`{run['condition']}` seed {run['seed']}" if run else str(path)
            failed.append(f"{who} ({', '.join(what)})")
    lines += ["", f"All checks passed on {passed} of {len(by)} attacked models"
              + (" (every BatchNorm variant)" if max(map(len, variants)) > 1 else "")
              + (f"; FAILED: {'; '.join(failed)}" if failed else "") + ". Per norm, over the models "
              "(the primary variant; as trained in brackets):", "",
              "| norm | largest convergence drop | largest share at a floor | most correct images no attack reached | "
              "the reported minimum found by (mean over models) |", "|---|---|---|---|---|"]
    for n in norms:
        drops = [b[0]["convergence"]["per_norm"][n].get("drop", np.nan) for b in by
                 if b[0]["convergence"]["per_norm"].get(n, {}).get("applicable", True)]
        unreached = [b[0]["unbounded_success"]["per_norm"][n]["n_unreached"] for b in by]
        other = [b[1]["unbounded_success"]["per_norm"][n]["n_unreached"] for b in by if len(b) > 1]
        a = adv[adv["norm"] == n]
        wins = {c[len("wins_"):]: a[c].mean() for c in a.columns if c.startswith("wins_")}
        if "ties" in a:
            wins["ties"] = a["ties"].mean()
        won = ", ".join(f"{ATTACK_NAMES.get(k, k)} {100 * v:.0f} %" for k, v in
                        sorted(wins.items(), key=lambda kv: -kv[1]) if v >= 0.005)
        drop = f"{100 * np.nanmax(drops):.1f} %" if drops and np.isfinite(np.nanmax(drops)) else "not run"
        lines.append(f"| {n} | {drop} | {100 * a['floor_fraction'].max():.1f} % | {max(unreached)}"
                     + (f" ({max(other)})" if other else "") + f" | {won} |")
    return "\n".join(lines) + "\n"


def corruption_summary(run_dir: Path) -> str:
    """CIFAR-10-C per condition: clean and mean corruption accuracy (%), relative robustness overall and per family."""
    t = _table(run_dir, "corruption_summary.csv", {"condition", "measure", "mean", "sem", "n"})
    measures = [("clean_accuracy", "clean (same images)", 100, ".1f"), ("mean_corruption_accuracy", "mean corruption", 100, ".1f"),
                ("relative_robustness", "relative robustness R", 1, ".2f")]
    fams = [m for m in dict.fromkeys(t["measure"]) if m.startswith("relative_robustness_")]
    measures += [(m, f"R {m[len('relative_robustness_'):]}", 1, ".2f") for m in fams]
    lines = ["| condition (seeds) | " + " | ".join(label for _, label, _, _ in measures) + " |",
             "|" + "---|" * (len(measures) + 1)]
    for cond in condition_order(t["condition"].unique()):
        c = t[t["condition"] == cond].set_index("measure")
        cells = []
        for m, _, scale, fmt in measures:
            cells.append("" if m not in c.index else _pm(scale * c.loc[m, "mean"], scale * c.loc[m, "sem"], fmt))
        lines.append(f"| `{cond}` ({int(c['n'].max())}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def brain_likeness(run_dir: Path) -> str:
    """Brain-likeness against S^model per condition (mean ± SEM over seeds) and its Spearman rho with each score."""
    from .corruptions import BRAIN_REFERENCE, SCORES, brain_correlations

    x = f"brain_{BRAIN_REFERENCE}"
    t = _table(run_dir, "brain_likeness.csv", {"condition", "alpha", "seed", x})
    m = mean_sem(at_main_alphas(t), ["condition"], x).set_index("condition")
    parts = [f"`{c}` {_pm(m.loc[c, 'mean'], m.loc[c, 'sem'], '.2f')}" for c in condition_order(m.index)]
    label = {"noise": "the noise score", "corruption": "the mean corruption accuracy",
             "adversarial_L2": "the median minimal L2 perturbation over correct images"}
    corr = brain_correlations(t)
    rhos = "; ".join(f"{label.get(r.score, SCORES[r.score])} {r.rho:+.2f} (p = {r.p:.2g}, n = {r.n})"
                     for r in corr.itertuples())
    return (f"r(S^CNN, S^{BRAIN_REFERENCE}) of the gamma-mixed layer on the held-out oracle images, mean ± SEM over "
            f"seeds: {', '.join(parts)}. Spearman rho over the models with {rhos or 'no score (fewer than 3 models)'}.\n")


def similarity_correlations(run_dir: Path) -> str:
    """Stages 1-4: r(S^data, S^oracle) and r(S^model, S^oracle) per scan, mean and pooled, beside the paper's."""
    t = _table(run_dir, "similarity_correlations.csv", {"scan", "r_data_oracle", "r_model_oracle"}).set_index("scan")
    rows = ["| scan | r(S^data, S^oracle) | r(S^model, S^oracle) |", "|---|---|---|"]
    for scan, r in t.iterrows():
        rows.append(f"| {scan} | {r['r_data_oracle']:.2f} | {r['r_model_oracle']:.2f} |")
    rows.append("| the paper (Fig. 1D) | 0.39 | 0.73 |")
    return "\n".join(rows) + "\n"


MEASURE_LABELS = {"corruption": "mean CIFAR-10-C accuracy (points)", "median_L2": "median minimal L2 (ratio)",
                  "median_Linf": "median minimal Linf (ratio)"}


def controls_table(run_dir: Path) -> str:
    """tables/controls.csv as markdown: per tested condition and measure, the strongest control, the gain with its
    95 % interval, the verdict (bold where the gain survives), and every control's gain."""
    t = _table(run_dir, "controls.csv", {"tested", "measure", "strongest", "effect", "ci_low", "ci_high", "scale",
                                          "verdict", "n_seeds", "n_seeds_control", "controls"})
    lines = ["| condition | measure | strongest control | gain over it [95 %] | | seeds | every control |",
             "|---|---|---|---|---|---|---|"]
    for tested in dict.fromkeys(t["tested"]):
        first = True
        for r in t[t["tested"] == tested].itertuples():
            unit = "ratio" if r.scale == "ratio" else "points"
            label = MEASURE_LABELS.get(r.measure) or (f"accuracy at sd {float(r.measure[len('accuracy_sd'):]):.2f} "
                                                      "(points)" if r.measure.startswith("accuracy_sd") else r.measure)
            text = f"{_effect(unit, r.effect)} {_interval(unit, r.ci_low, r.ci_high)}"
            word = f"**{r.verdict}**" if r.verdict == "holds" else r.verdict
            lines.append(f"| {f'`{tested}`' if first else ''} | {label} | `{r.strongest}` | {text} | {word} | "
                         f"{int(r.n_seeds)} / {int(r.n_seeds_control)} | {r.controls} |")
            first = False
    return "\n".join(lines) + "\n"


def frequency_summary(run_dir: Path) -> str:
    """Per condition (main alpha): clean accuracy, low-frequency reliance and brain-likeness, mean ± SEM over seeds;
    then each robustness score's partial correlation with brain-likeness given clean accuracy and LFR."""
    from .corruptions import BRAIN_REFERENCE

    x = f"brain_{BRAIN_REFERENCE}"
    t = _table(run_dir, "frequency.csv", {"condition", "alpha", "seed", "clean", "lfr"})
    t = at_main_alphas(t)
    cols = [("clean", "clean accuracy (%)", 100, ".1f"), ("lfr", "low-frequency reliance", 1, ".2f")]
    cols += [(x, f"brain-likeness r(S^CNN, S^{BRAIN_REFERENCE})", 1, ".2f")] if x in t else []
    lines = ["| condition (seeds) | " + " | ".join(c[1] for c in cols) + " |", "|" + "---|" * (len(cols) + 1)]
    for cond in condition_order(t["condition"].unique()):
        d = t[t["condition"] == cond]
        cells = []
        for col, _, scale, fmt in cols:
            m = mean_sem(d, ["condition"], col).iloc[0]
            cells.append(_pm(scale * m["mean"], scale * m["sem"], fmt))
        lines.append(f"| `{cond}` ({d['seed'].nunique()}) | " + " | ".join(cells) + " |")
    p = _table(run_dir, "partial_correlations.csv", {"score", "given", "n_models", "partial_r", "ci_low", "ci_high"})
    label = {"noise": "noise score", "corruption": "mean corruption accuracy",
             "adversarial_L2": "median minimal L2 (correct images)"}
    lines += ["", "| robustness score | partial r with brain-likeness, given " +
              " and ".join("clean accuracy" if g == "clean" else "LFR" if g == "lfr" else g
                           for g in str(p["given"].iloc[0]).split("+")) + " [95 %] | models |", "|---|---|---|"]
    lines += [f"| {label.get(r.score, r.score)} | {r.partial_r:+.2f} [{r.ci_low:+.2f}, {r.ci_high:+.2f}] | "
              f"{int(r.n_models)} |" for r in p.itertuples()]
    return "\n".join(lines) + "\n"


def methods_table(run_dir: Path, n_boot: int = 2000, seed: int = 0) -> str:
    """The methods side by side: ``tables/methods.csv`` as mean ± SEM over seeds, then each condition's gain over
    ``none`` with its 95 % interval (:func:`neuroreg.figures.controls.control_gains` with ``none`` as the one
    control: Welch over seeds for accuracies, the verdict's paired median ratio on images both classify correctly
    for the attacked), from the run's per-run tables at the main alphas."""
    from .controls import control_gains

    t = _table(run_dir, "methods.csv", {"condition", "family", "alpha", "n", "clean_mean", "clean_sem", "noise_mean",
                                        "noise_sem", "noise_max_mean", "noise_max_sem"})
    noise = at_main_alphas(read_runs(_per_run(run_dir, "noise.csv")))
    top = float(noise["level"].max())
    cols = [("clean", "clean", 100, ".1f"), ("noise", "noise (mean over sd > 0)", 100, ".1f"),
            ("noise_max", f"sd {top:.2f}", 100, ".1f"), ("corruption", "CIFAR-10-C", 100, ".1f"),
            ("L2", "median L2", 1, ".3f"), ("Linf", "median Linf", 1, ".4f")]
    cols = [c for c in cols if f"{c[0]}_mean" in t]
    lines = ["| condition | family | alpha | seeds | " + " | ".join(c[1] for c in cols) + " |",
             "|---|---|---|---|" + "---|" * len(cols)]
    for r in t.to_dict("records"):
        cells = ["—" if not np.isfinite(r[f"{c}_mean"]) else _pm(k * r[f"{c}_mean"], k * r[f"{c}_sem"], fmt)
                 for c, _, k, fmt in cols]
        lines.append(f"| `{r['condition']}` | {r['family']} | {float(r['alpha']):g} | {int(r['n'])} | "
                     + " | ".join(cells) + " |")
    corr_paths = _per_run(run_dir, "corruptions.csv", required=False)
    image_paths = _per_run(run_dir, "adversarial_images.csv", required=False)
    corr = at_main_alphas(read_runs(corr_paths)) if corr_paths else None
    images = at_main_alphas(read_runs(image_paths)) if image_paths else None
    gains = [("accuracy_sd0", "clean (points)"), (f"accuracy_sd{top:g}", f"sd {top:.2f} (points)"),
             ("corruption", "CIFAR-10-C (points)"), ("median_L2", "median L2 (ratio)"),
             ("median_Linf", "median Linf (ratio)")]
    tested = [c for c in t["condition"] if c != "none"]
    g = control_gains(noise, corr, images, tests={c: ("none",) for c in tested}, only=[m for m, _ in gains],
                      n_boot=n_boot, seed=seed)
    lines += ["", "| gain over `none` [95 %] | " + " | ".join(label for _, label in gains) + " |",
              "|---|" + "---|" * len(gains)]
    for c in tested:
        cells = []
        for m, _ in gains:
            row = g[(g["tested"] == c) & (g["measure"] == m)]
            if not len(row):
                cells.append("—")
                continue
            r = row.iloc[0]
            unit = "ratio" if r["scale"] == "ratio" else "points"
            if not (np.isfinite(r["ci_low"]) and np.isfinite(r["ci_high"])):  # one seed: no interval
                cells.append(f"{_effect(unit, r['effect'])} (1 seed)")
                continue
            text = f"{_effect(unit, r['effect'])} {_interval(unit, r['ci_low'], r['ci_high'])}"
            cells.append(f"**{text}**" if r["verdict"] in ("holds", "does not hold") else text)
        lines.append(f"| `{c}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def gamma_table(run_dir: Path) -> str:
    """Table 1: the final gamma_k per alpha, mean over seeds (``tables/gamma.csv``), the largest in bold."""
    t = _table(run_dir, "gamma.csv", {"alpha", "n_seeds"})
    layers = [c for c in t.columns if c.startswith("gamma_")]
    lines = ["| alpha (seeds) | " + " | ".join(f"gamma_{c[len('gamma_'):]}" for c in layers) + " |",
             "|" + "---|" * (len(layers) + 1)]
    for _, r in t.iterrows():
        top = max(layers, key=lambda c: r[c])
        cells = [f"**{r[c]:.2f}**" if c == top and r["alpha"] > 0 else f"{r[c]:.2f}" for c in layers]
        lines.append(f"| {r['alpha']:g} ({int(r['n_seeds'])}) | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run_cost(run_dir: Path) -> str:
    """Job time (one core each) per stage from Snakemake's benchmark files, and per training from metrics.json."""
    root = Path(run_dir) / "benchmarks"
    files = sorted(root.rglob("*.tsv"))
    if not files:
        raise InputError(root, None, "no *.tsv: the run's Snakemake benchmarks")
    rows = []
    for f in files:
        parts = f.relative_to(root).parts
        group = "/".join(parts[:2]) if parts[0] == "robustness" and len(parts) > 2 else parts[0]
        try:
            seconds = float(pd.read_csv(f, sep="\t")["s"].iloc[0])
        except (OSError, KeyError, IndexError, ValueError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise InputError(f, "s", f"not a Snakemake benchmark file: {err}") from err
        rows.append({"group": group, "seconds": seconds})
    t = pd.DataFrame(rows).groupby("group")["seconds"].agg(["count", "sum", "mean"]).sort_values("sum", ascending=False)
    lines = ["| stage (`benchmarks/`) | jobs with a benchmark file | job time (min) | per job (min) |", "|---|---|---|---|"]
    lines += [f"| {g} | {int(r['count'])} | {r['sum'] / 60:.1f} | {r['mean'] / 60:.1f} |" for g, r in t.iterrows()]
    lines.append(f"| all | {int(t['count'].sum())} | {t['sum'].sum() / 60:.0f} | |")
    metrics = [json.loads(p.read_text()) for p in sorted((Path(run_dir) / "cotrain").rglob("metrics.json"))]
    if metrics:
        m = pd.DataFrame([{"neural": float(d["alpha"]) > 0, "seconds": float(d["seconds"])} for d in metrics])
        g = m.groupby("neural")["seconds"].agg(["count", "mean"])
        text = "; ".join(f"{'alpha > 0' if k else 'alpha 0'}: {int(r['count'])} training{'s' if r['count'] > 1 else ''}, "
                         f"{r['mean'] / 60:.1f} min each"
                         for k, r in g.iterrows())
        lines += ["", f"Training loops (each run's metrics.json): {text}."]
    return "\n".join(lines) + "\n"


BLOCKS = {
    "verdict-table": lambda run: verdict_table(pd.read_csv(Path(run) / "tables" / "verdict.csv")),
    "noise-table": noise_table,
    "headline": lambda run: headline(pd.read_csv(Path(run) / "tables" / "verdict.csv")),
    "attack-summary": attack_summary,
    "corruption-summary": corruption_summary,
    "brain-likeness": brain_likeness,
    "similarity-correlations": similarity_correlations,
    "controls-table": controls_table,
    "frequency-summary": frequency_summary,
    "gamma-table": gamma_table,
    "methods-table": methods_table,
    "run-cost": run_cost,
}


def render(text: str, run_dir, where: str = "document") -> str:
    """``text`` with every rendered block rewritten from ``run_dir`` (module doc); an unknown block is an error."""
    def sub(m):
        name = m["name"]
        if name not in BLOCKS:
            raise InputError(where, name, f"unknown rendered block; known: {', '.join(BLOCKS)}")
        return m.group(1) + BLOCKS[name](run_dir) + m.group(4)

    return BLOCK.sub(sub, text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("documents", nargs="+", type=Path)
    ap.add_argument("--run", type=Path, default=Path("results/laptop"), help="the run's folder (results/<run>)")
    ap.add_argument("--check", action="store_true", help="exit 1 where a document differs from the run; write nothing")
    a = ap.parse_args(argv)
    stale = []
    for doc in a.documents:
        old = doc.read_text()
        new = render(old, a.run, str(doc))
        if new != old:
            stale.append(str(doc))
            if not a.check:
                with atomic_output(doc) as tmp:
                    Path(tmp).write_text(new)
    verb = "differ from" if a.check else "rewritten from"
    print(f"{', '.join(stale) or 'no document'} {verb} {a.run}" if stale else f"every document agrees with {a.run}")
    return 1 if (a.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
