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

from .robustness import RUN_PATH, _order


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
PAPER_VS_RUN_COLUMNS = ["quantity", "condition", "paper", "run", "run_sem", "n_seeds", "checks", "holds", "unit", "note"]
CLAIM_LEVELS = (0.06, 0.08)  # noise sd of the claims: discernible noise where the paper's Fig. 4A curves separate


def paper_vs_run(noise: pd.DataFrame | None, adv: pd.DataFrame | None, correlations: pd.DataFrame | None,
                 checks: pd.DataFrame | None = None, gamma: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's numbers (section 4, Fig. 1D) beside this run's.

    noise: long noise table (condition, seed, level, accuracy); the run's value is the mean over
    seeds at its highest level. adv: long adversarial table (condition, seed, norm, median); the
    run's value is the mean over seeds of each model's median. correlations: similarity_correlations.csv
    (row ``scan == 'pooled'``). checks: :func:`read_checks` of the attacked runs; column ``checks`` of
    the adversarial rows says whether their models passed the sanity checks (:func:`check_summary`).
    A missing table or condition gives an empty ``run`` and a note. gamma: the final gamma of the
    main-text neural_model runs (columns seed, gamma_{k}...). Then :func:`claims`: the paper's
    qualitative results as rows whose ``holds`` column says whether this run shows them.
    """
    rows = []
    for quantity, cond, paper, unit, source in PAPER:
        run, sem, n, note, check = np.nan, np.nan, np.nan, source, ""  # n_seeds: only for per-seed quantities
        if quantity == "accuracy_at_highest_noise":
            if noise is not None and (noise["condition"] == cond).any():
                d = noise[noise["condition"] == cond]
                top = d["level"].max()
                run, sem, n = _mean_sem(d[d["level"] == top]["accuracy"])
                note += f"; run: noise sd {top:g} (the paper's highest level is not stated numerically)"
        elif quantity.startswith("median_"):
            norm = quantity.split("_", 1)[1]
            if adv is not None and ((adv["condition"] == cond) & (adv["norm"] == norm)).any():
                run, sem, n = _mean_sem(adv[(adv["condition"] == cond) & (adv["norm"] == norm)]["median"])
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
                     "n_seeds": n, "checks": check, "holds": "", "unit": unit, "note": note})
    return pd.DataFrame(rows + claims(noise, adv, checks, gamma), columns=PAPER_VS_RUN_COLUMNS)


def _per_seed(noise: pd.DataFrame | None, cond: str, level: float) -> pd.Series:
    if noise is None:
        return pd.Series(dtype=float)
    d = noise[(noise["condition"] == cond) & np.isclose(noise["level"], level)]
    return d.set_index("seed")["accuracy"]


def _mean_sem(v: pd.Series) -> tuple[float, float, int]:
    n = len(v)
    return (float(v.mean()) if n else np.nan, float(v.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan, n)


def _difference(a: pd.Series, b: pd.Series) -> tuple[float, float, int]:
    """mean(a) - mean(b) and its SEM (independent seeds: sqrt(sem_a^2 + sem_b^2)); n = the smaller n."""
    (ma, sa, na), (mb, sb, nb) = _mean_sem(a), _mean_sem(b)
    return ma - mb, float(np.hypot(sa, sb)), min(na, nb)


def _yes(ok) -> str:
    return "" if ok is None else ("yes" if ok else "NO")


def claims(noise: pd.DataFrame | None, adv: pd.DataFrame | None, checks: pd.DataFrame | None = None,
           gamma: pd.DataFrame | None = None) -> list[dict]:
    """The paper's qualitative results (section 4, Fig. 4A, Table 1), each a row whose ``holds`` says
    whether this run shows it ("yes", "NO", or "" when the run lacks what it needs).

    Accuracy rows: clean and at each of :data:`CLAIM_LEVELS` per condition (mean +- SEM over seeds).
    Differences (mean_a - mean_b, SEM sqrt(sem_a^2 + sem_b^2)), criteria in each row's note:
    the clean cost of neural_model at most 5 points; neural_model above none by at least 5 points
    at sd 0.06 and 0.08 with the mean +- 2 SEM intervals apart; shuffle below neural_model;
    ground_truth at least as robust as neural_model within seed noise (difference > -2 SEM);
    neural_model's median minimal L2 and Linf perturbations above none's by more than 2 SEM of the difference,
    the sanity checks of both passed;
    the largest final gamma of each neural_model seed near 1 (the collapse onto one layer).
    """
    rows = []

    def row(quantity, cond, run, sem, n, holds, unit, note, paper=np.nan, check=""):
        rows.append({"quantity": quantity, "condition": cond, "paper": paper, "run": run, "run_sem": sem,
                     "n_seeds": n if n else np.nan, "checks": check, "holds": _yes(holds), "unit": unit, "note": note})

    present = _order(noise["condition"]) if noise is not None else []
    levels = [0.0] + [lv for lv in CLAIM_LEVELS if noise is not None and np.isclose(noise["level"], lv).any()]
    for lv in levels:
        for c in present:
            m, s, n = _mean_sem(_per_seed(noise, c, lv))
            q = "clean_accuracy" if lv == 0 else f"accuracy_at_sd{lv:g}"
            row(q, c, m, s, n, None, "fraction", "Fig. 4A" + ("" if lv == 0 else f": Gaussian noise sd {lv:g}"))
    if "none" in present and "neural_model" in present:
        d, s, n = _difference(_per_seed(noise, "none", 0.0), _per_seed(noise, "neural_model", 0.0))
        row("clean_cost", "none - neural_model", d, s, n, bool(d <= 0.05), "fraction",
            "section 4.1: 'only with a small sacrifice on clean image performance'; holds: at most 5 points")
    for lv in levels[1:]:
        nm = _per_seed(noise, "neural_model", lv)
        if "none" in present and len(nm):
            d, s, n = _difference(nm, _per_seed(noise, "none", lv))
            (m1, s1, _), (m0, s0, _) = _mean_sem(nm), _mean_sem(_per_seed(noise, "none", lv))
            apart = bool(m1 - 2 * s1 > m0 + 2 * s0) if n > 1 else None
            row(f"gain_at_sd{lv:g}", "neural_model - none", d, s, n, None if apart is None else bool(d >= 0.05 and apart),
                "fraction", "Fig. 4A: neural_model more robust than none; holds: at least 5 points and the mean +- 2 SEM "
                f"intervals apart ({'apart' if apart else 'overlapping' if apart is not None else 'one seed'})")
        for other, rule in (("shuffle", "holds: shuffle below neural_model"),
                            ("ground_truth", "holds: ground_truth at least as robust within seed noise (> -2 SEM)"),
                            ("neural_data", "reported: the paper's 'reduced improvement' from neural_data")):
            if other in present and len(nm):
                d, s, n = _difference(_per_seed(noise, other, lv), nm)
                holds = {"shuffle": d < 0, "ground_truth": bool(d > -2 * s) if n > 1 else None, "neural_data": None}[other]
                row(f"difference_at_sd{lv:g}", f"{other} - neural_model", d, s, n, None if holds is None else bool(holds),
                    "fraction", f"Fig. 4A; {rule}")
    for norm in ("L2", "Linf"):
        if adv is None:
            break
        v = {c: adv[(adv["condition"] == c) & (adv["norm"] == norm)].set_index("seed")["median"]
             for c in ("neural_model", "none")}
        if len(v["neural_model"]) and len(v["none"]):
            d, s, n = _difference(v["neural_model"], v["none"])
            both = {c: check_summary(checks, c) for c in ("neural_model", "none")}
            failed = [f"{c}: {t}" for c, t in both.items() if t.startswith("FAILED")]
            check = "; ".join(failed) if failed else both["neural_model"]
            ok = (d - 2 * s > 0 if n > 1 else d > 0) and not failed
            row(f"median_{norm}_gain", "neural_model - none", d, s, n, bool(ok), "pixel scale 0-1",
                f"section 4.2: larger minimal {norm} perturbations; holds: above none by more than 2 SEM of the "
                "difference, the sanity checks of both conditions passed", check=check)
    if gamma is not None and len(gamma):
        cols = [c for c in gamma.columns if c.startswith("gamma_")]
        top = gamma[cols].max(axis=1)
        m, s, n = _mean_sem(top)
        layers = ", ".join(f"seed {sd}: {c.split('_', 1)[1]}" for sd, c in zip(gamma["seed"], gamma[cols].idxmax(axis=1)))
        row("max_gamma", "neural_model", m, s, n, bool(m >= 0.9), "probability", "supplement Table 1: gamma 'usually "
            f"collapse to only one layer' (typically layer 5); holds: mean largest gamma >= 0.9; top layer {layers}", paper=1.0)
    return rows
