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
* ``headline``: the verdict's adversarial and noise effects against ``none`` in one paragraph (README).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from ..conditions import Run
from ..files import InputError, atomic_output
from .runs import main_alphas
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
    paths = sorted((Path(run_dir) / "robustness").glob("*/alpha*/seed*/noise.csv"))
    if not paths:
        raise InputError(Path(run_dir) / "robustness", None, "no */alpha*/seed*/noise.csv: run the noise evaluation")
    rows = []
    for p in paths:
        run = Run.parse(p)
        df = pd.read_csv(p)
        variants = list(dict.fromkeys(df["bn"])) if "bn" in df else [""]
        for k, v in enumerate(variants[:2]):
            d = df[df["bn"] == v] if v else df
            for level, acc in zip(d["level"], d["accuracy"]):
                rows.append({"condition": run.condition, "alpha": run.alpha_value, "seed": run.seed_value,
                             "variant": k, "level": float(level), "accuracy": 100 * float(acc)})
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


BLOCKS = {
    "verdict-table": lambda run: verdict_table(pd.read_csv(Path(run) / "tables" / "verdict.csv")),
    "noise-table": noise_table,
    "headline": lambda run: headline(pd.read_csv(Path(run) / "tables" / "verdict.csv")),
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
