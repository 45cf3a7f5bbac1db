"""The paper's numbers beside this run's (results/tables/paper_vs_run.csv), with the sanity checks of
the attacked models beside the adversarial numbers, and the verdict on each claim.

:func:`read_checks` reads the runs' ``checks.json``; :func:`paper_vs_run` builds the table from the
long tables of :func:`neuroreg.figures.runs.read_runs` and tables/verdict.csv (:mod:`.verdict`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..conditions import Run
from ..files import InputError


def read_checks(paths) -> pd.DataFrame:
    """The sanity checks of attacked runs (their ``checks.json``): one row per run and BatchNorm variant with
    ``condition``, ``alpha``, ``seed``, ``bn`` ("" for a file of one variant), ``passed`` (bool) and ``failed`` (the
    failed checks, "; "-joined, "" if none)."""
    from neuroreg.robustness.checks import failed_checks

    rows = []
    for p in paths:
        try:
            report = json.loads(Path(p).read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise InputError(p, None, f"cannot be read as JSON: {err}") from err
        if not isinstance(report.get("run"), dict):
            raise InputError(p, "run", "missing: checks.json records its run (condition, alpha, seed); this one was "
                             "written before neuroreg recorded it: rerun its job")
        run = Run.of(**report["run"])
        variants = report["bn"].items() if isinstance(report.get("bn"), dict) else [("", report)]
        for bn, r in variants:
            failed = r["failed"] if "failed" in r else failed_checks(r)
            rows.append({"condition": run.condition, "alpha": run.alpha_value, "seed": run.seed_value, "bn": bn,
                         "passed": bool(r["passed"]), "failed": "; ".join(failed)})
    return pd.DataFrame(rows, columns=["condition", "alpha", "seed", "bn", "passed", "failed"])


def primary_checks(checks: pd.DataFrame | None) -> pd.DataFrame | None:
    """The rows of each run's primary BatchNorm variant (its first in checks.json), as the figures show."""
    if checks is None or "bn" not in checks or checks.empty:
        return checks
    return checks.groupby(["condition", "alpha", "seed"], sort=False).head(1).reset_index(drop=True)


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
PAPER_VS_RUN_COLUMNS = ["quantity", "condition", "paper", "run", "run_sem", "ci_low", "ci_high", "n_seeds", "checks",
                        "holds", "unit", "note"]


def paper_vs_run(noise: pd.DataFrame | None, adv: pd.DataFrame | None, correlations: pd.DataFrame | None,
                 checks: pd.DataFrame | None = None, verdict: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's numbers (section 4, Fig. 1D) beside this run's, then the paper's claims with this run's verdict.

    noise: long noise table (condition, seed, level, accuracy; the primary BatchNorm variant); the run's value is the
    mean over seeds at its highest level. adv: long adversarial table (condition, seed, norm, median, median_correct);
    the run's value is the mean over seeds of each model's median with misclassified images at 0 (the paper's
    definition), the note gives the median over correctly classified images. correlations:
    similarity_correlations.csv (row ``scan == 'pooled'``). checks: :func:`read_checks` of the attacked runs (column
    ``checks`` of the adversarial rows). verdict: tables/verdict.csv (:mod:`.verdict`); its primary rows follow as
    one row per claim and comparison, ``holds`` = the verdict word, ``run`` the effect with its 95 % interval.
    A missing table or condition gives an empty ``run`` and a note.
    """
    checks = primary_checks(checks)
    rows = []
    for quantity, cond, paper, unit, source in PAPER:
        run, sem, n, note, check = np.nan, np.nan, np.nan, source, ""
        if quantity == "accuracy_at_highest_noise":
            if noise is not None and (noise["condition"] == cond).any():
                d = noise[noise["condition"] == cond]
                top = d["level"].max()
                run, sem, n = _mean_sem(d[d["level"] == top]["accuracy"])
                note += f"; run: noise sd {top:g} (the paper's highest level is not stated numerically)"
        elif quantity.startswith("median_"):
            norm = quantity.split("_", 1)[1]
            if adv is not None and ((adv["condition"] == cond) & (adv["norm"] == norm)).any():
                d = adv[(adv["condition"] == cond) & (adv["norm"] == norm)]
                run, sem, n = _mean_sem(d["median"])
                note += "; run: mean over seeds of the median over images, misclassified = 0 (the paper's definition)"
                if "median_correct" in d:
                    mc, sc, _ = _mean_sem(d["median_correct"])
                    note += f"; over correctly classified images only: {mc:.4g} +- {sc:.2g}"
                check = check_summary(checks, cond)
        elif correlations is not None and quantity in correlations.columns:
            pooled = correlations[correlations["scan"].astype(str) == "pooled"]
            if len(pooled):
                run = float(pooled[quantity].iloc[0])
                note += "; run: pooled over scans (one value, no seeds)"
        if np.isnan(run):
            note += "; not in this run"
        rows.append({"quantity": quantity, "condition": cond, "paper": paper, "run": run, "run_sem": sem,
                     "ci_low": np.nan, "ci_high": np.nan, "n_seeds": n, "checks": check, "holds": "", "unit": unit,
                     "note": note})
    if verdict is not None and len(verdict):
        for r in verdict[verdict["primary"].astype(bool)].itertuples():
            rows.append({"quantity": r.claim, "condition": r.comparison, "paper": r.paper, "run": r.effect,
                         "run_sem": np.nan, "ci_low": r.ci_low, "ci_high": r.ci_high, "n_seeds": r.n_seeds,
                         "checks": "" if pd.isna(r.checks) else r.checks, "holds": r.verdict, "unit": r.unit,
                         "note": f"{r.note}; BatchNorm statistics: {r.bn or 'as trained'}; tables/verdict.csv"})
    return pd.DataFrame(rows, columns=PAPER_VS_RUN_COLUMNS)


def _mean_sem(v: pd.Series) -> tuple[float, float, int]:
    n = len(v)
    return (float(v.mean()) if n else np.nan, float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan, n)
