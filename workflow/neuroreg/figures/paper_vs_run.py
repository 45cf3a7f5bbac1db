"""The paper's numbers beside this run's (results/tables/paper_vs_run.csv), with the sanity checks of
the attacked models beside the adversarial numbers.

:func:`read_checks` reads the runs' ``checks.json``; :func:`paper_vs_run` builds the table from the
long tables of :func:`neuroreg.figures.robustness.read_runs`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .robustness import RUN_PATH


def read_checks(paths) -> pd.DataFrame:
    """The sanity checks of attacked runs (their ``checks.json``): one row per run with ``condition``,
    ``alpha``, ``seed``, ``passed`` (bool) and ``failed`` (the failed checks, "; "-joined, "" if none)."""
    from neuroreg.robustness.checks import failed_checks

    rows = []
    for p in paths:
        m = RUN_PATH.search(str(p))
        if m is None:
            raise ValueError(f"{p}: not a .../{{target}}/alpha{{alpha}}/seed{{seed}}/file path")
        try:
            report = json.loads(Path(p).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{p}: cannot be read as JSON: {err}") from err
        failed = report["failed"] if "failed" in report else failed_checks(report)
        rows.append({"condition": m["target"], "alpha": float(m["alpha"]), "seed": int(m["seed"]),
                     "passed": bool(report["passed"]), "failed": "; ".join(failed)})
    return pd.DataFrame(rows, columns=["condition", "alpha", "seed", "passed", "failed"])


def check_summary(checks: pd.DataFrame | None, condition: str) -> str:
    """'passed (n models)', 'FAILED in k of n models: seed s: <checks>; ...' or '' (no attacked model)."""
    if checks is None or not (checks["condition"] == condition).any():
        return ""
    c = checks[checks["condition"] == condition]
    bad = c[~c["passed"]]
    if bad.empty:
        return f"passed ({len(c)} model{'s' if len(c) != 1 else ''})"
    return f"FAILED in {len(bad)} of {len(c)} models: " + "; ".join(
        f"seed {s}: {f}" for s, f in zip(bad["seed"], bad["failed"]))


# Section 4 and Fig. 1D of the paper: (quantity, condition, paper value, unit).
PAPER = [
    ("accuracy_at_highest_noise", "neural_model", 0.50, "fraction", "section 4.1: '50% vs 20% at the highest noise level' (Fig. 4A)"),
    ("accuracy_at_highest_noise", "none", 0.20, "fraction", "section 4.1 (Fig. 4A)"),
    ("median_L2", "none", 0.09, "pixel scale 0-1", "section 4.2"),
    ("median_L2", "shuffle", 0.11, "pixel scale 0-1", "section 4.2"),
    ("median_L2", "vgg", 0.11, "pixel scale 0-1", "section 4.2"),
    ("median_L2", "neural_model", 0.13, "pixel scale 0-1", "section 4.2"),
    ("median_Linf", "none", 0.0025, "pixel scale 0-1", "section 4.2"),
    ("median_Linf", "shuffle", 0.003, "pixel scale 0-1", "section 4.2"),
    ("median_Linf", "vgg", 0.0028, "pixel scale 0-1", "section 4.2"),
    ("median_Linf", "neural_model", 0.0034, "pixel scale 0-1", "section 4.2"),
    ("r_data_oracle", "", 0.39, "Pearson r", "Fig. 1D: S^data vs S^oracle"),
    ("r_model_oracle", "", 0.73, "Pearson r", "Fig. 1D: S^model vs S^oracle"),
]
PAPER_VS_RUN_COLUMNS = ["quantity", "condition", "paper", "run", "run_sem", "n_seeds", "checks", "unit", "note"]


def paper_vs_run(noise: pd.DataFrame | None, adv: pd.DataFrame | None, correlations: pd.DataFrame | None,
                 checks: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's numbers (section 4, Fig. 1D) beside this run's.

    noise: long noise table (condition, seed, level, accuracy); the run's value is the mean over
    seeds at its highest level. adv: long adversarial table (condition, seed, norm, median); the
    run's value is the mean over seeds of each model's median. correlations: similarity_correlations.csv
    (row ``scan == 'pooled'``). checks: :func:`read_checks` of the attacked runs; column ``checks`` of
    the adversarial rows says whether their models passed the sanity checks (:func:`check_summary`).
    A missing table or condition gives an empty ``run`` and a note.
    """
    rows = []
    for quantity, cond, paper, unit, source in PAPER:
        run, sem, n, note, check = np.nan, np.nan, np.nan, source, ""  # n_seeds: only for per-seed quantities
        if quantity == "accuracy_at_highest_noise":
            if noise is not None and (noise["condition"] == cond).any():
                d = noise[noise["condition"] == cond]
                top = d["level"].max()
                v = d[d["level"] == top]["accuracy"]
                run, n = v.mean(), len(v)
                sem = v.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
                note += f"; run: noise sd {top:g} (the paper's highest level is not stated numerically)"
        elif quantity.startswith("median_"):
            norm = quantity.split("_", 1)[1]
            if adv is not None and ((adv["condition"] == cond) & (adv["norm"] == norm)).any():
                v = adv[(adv["condition"] == cond) & (adv["norm"] == norm)]["median"]
                run, n = v.mean(), len(v)
                sem = v.std(ddof=1) / np.sqrt(n) if n > 1 else np.nan
                note += "; run: mean over seeds of the median over images"
                check = check_summary(checks, cond)
        elif correlations is not None and quantity in correlations.columns:
            pooled = correlations[correlations["scan"].astype(str) == "pooled"]
            if len(pooled):
                run = float(pooled[quantity].iloc[0])
                note += "; run: pooled over scans (one value, no seeds)"
        if np.isnan(run):
            note += "; not in this run"
        rows.append({"quantity": quantity, "condition": cond, "paper": paper, "run": run, "run_sem": sem,
                     "n_seeds": n, "checks": check, "unit": unit, "note": note})
    return pd.DataFrame(rows, columns=PAPER_VS_RUN_COLUMNS)
