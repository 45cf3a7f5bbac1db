"""The run's summary, the first page of its report: the checks that passed and failed, and the paper beside the run.

Rule ``run_summary`` writes ``results/<run>/report/summary.rst`` (reStructuredText): a title naming
the run, the table of every sanity check (each scan's signal check, :mod:`neuroreg.reliability.checks`;
each attacked condition's attack checks, :mod:`neuroreg.robustness.checks`), the paper-vs-run table
(``paper_vs_run.csv``, :mod:`.paper_vs_run`), then the workflow description
(``workflow/report/workflow.rst``). The Snakefile makes it the report's first page
(:func:`report_page`): ``snakemake --report results/<run>/report.html --configfile <the run's config>``.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import pandas as pd

DESCRIPTION = Path(__file__).resolve().parents[2] / "report" / "workflow.rst"  # workflow/report/workflow.rst
CHECK_COLUMNS = ["check", "scope", "result", "value", "detail"]


def report_page(run_root: str) -> str:
    """The report's first page: the run's summary when the run made it, else the workflow description."""
    page = Path(run_root) / "report" / "summary.rst"
    return os.path.abspath(page) if page.is_file() else str(DESCRIPTION)


def report_command(run_root: str, configfiles=()) -> str:
    """The command that makes this run's report (the same ``--configfile`` as the run)."""
    files = [os.path.relpath(f) if not os.path.relpath(f).startswith("..") else str(f) for f in configfiles]
    config = f" --configfile {' '.join(files)}" if files else ""
    return f"snakemake --report {run_root}/report.html{config}"


def checks_table(signal: list[dict], attacks: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per check: the scans' signal checks (:func:`neuroreg.reliability.checks.signal_check` dicts),
    then one row per attacked condition (``read_checks`` rows: condition, alpha, seed, passed, failed)."""
    rows = []
    for c in signal:
        rows.append({"check": "signal (median oracle correlation)", "scope": f"scan {c['scan']}",
                     "result": "passed" if c["passed"] else "FAILED", "value": f"{c['value']:.3f} (>= {c['threshold']:g})",
                     "detail": c["message"]})
    if attacks is not None and len(attacks):
        by = ["condition", "bn"] if "bn" in attacks else ["condition"]
        for key, d in attacks.groupby(by, sort=False):
            cond, bn = (key, "") if isinstance(key, str) else (key[0], key[-1] if len(key) > 1 else "")
            bad = d[~d["passed"].astype(bool)]
            rows.append({"check": "attacks (success, accuracy, masking, floor, convergence)",
                         "scope": f"condition {cond}" + (f", BatchNorm {bn}" if bn else ""),
                         "result": "passed" if bad.empty else "FAILED",
                         "value": f"{len(d) - len(bad)} of {len(d)} models",
                         "detail": "; ".join(f"seed {s}: {f}" for s, f in zip(bad["seed"], bad["failed"]))})
    return pd.DataFrame(rows, columns=CHECK_COLUMNS)


def _cell(value) -> str:
    """A table cell as plain reStructuredText text (markup characters escaped)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    text = re.sub(r"([*`|\\])", r"\\\1", text)
    return re.sub(r"_(?=\s|$)", r"\\_", text)  # a trailing underscore would be a link


def list_table(df: pd.DataFrame, title: str = "") -> str:
    """``df`` as an rst list-table."""
    lines = [f".. list-table:: {title}".rstrip(), "   :header-rows: 1", ""]
    for row in [list(df.columns)] + df.astype(object).values.tolist():
        cells = [_cell(v) for v in row]
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {c}" for c in cells[1:])
    return "\n".join(lines) + "\n"


VERDICT_COLUMNS = ["claim", "comparison", "bn", "effect", "ci_low", "ci_high", "paper", "verdict", "detectable",
                   "n_seeds", "n_images", "checks"]


def summary_rst(run: str, checks: pd.DataFrame, paper_vs_run: pd.DataFrame | None, description: str,
                verdict: pd.DataFrame | None = None) -> str:
    """The first page (module docstring); ``description`` is appended as it is (it holds Jinja for the report).
    ``verdict``: tables/verdict.csv, shown first (every BatchNorm variant, the primary one first)."""
    failed = checks[checks["result"] != "passed"] if len(checks) else checks
    title = f"Run {run}: summary"
    out = [title, "=" * len(title), ""]
    if len(checks) == 0:
        out += ["No sanity check ran in this run.", ""]
    elif failed.empty:
        out += [f"**All {len(checks)} sanity checks passed.**", ""]
    else:
        out += [f"**{len(failed)} of {len(checks)} sanity checks FAILED**; the numbers they concern are suspect:", ""]
        out += [f"* {_cell(r.scope)}: {_cell(r.detail) or _cell(r.check)}" for r in failed.itertuples()] + [""]
    body = []
    if verdict is not None and len(verdict):
        words = verdict[verdict["primary"].astype(bool)]["verdict"].value_counts()
        strongest = verdict["comparison"].str.contains("strongest control").any()
        body += ["**The verdict** (tables/verdict.csv, Fig. 12): each claim's effect of neural_model over none and "
                 "over shuffle" + (" (and over the strongest control without brain data: is the gain neural?)"
                                   if strongest else "") + " with its 95 % interval; accuracies as differences (fractions), minimal perturbations "
                 "as the median per-image ratio on the images both models classify correctly. holds: the interval "
                 "lies on the paper's side of the null; does not hold: it excludes the paper's effect and reaches "
                 "the null or beyond; inconclusive: it holds both. Primary BatchNorm statistics: "
                 + ", ".join(f"{n} {w}" for w, n in words.items()) + ".", "",
                 list_table(verdict[[c for c in VERDICT_COLUMNS if c in verdict.columns]], "The verdict"), ""]
    if len(checks):
        body += [list_table(checks, "Sanity checks"), ""]
    if paper_vs_run is not None:
        cols = [c for c in ("quantity", "condition", "paper", "run", "run_sem", "ci_low", "ci_high", "n_seeds", "checks",
                            "holds", "unit") if c in paper_vs_run.columns]
        body += ["The paper beside this run (paper_vs_run.csv; notes in the table's entry of this report):", "",
                 list_table(paper_vs_run[cols], "Paper vs this run"), ""]
    # the tables hold data, not templates: the report renders this page with Jinja
    out += ["{% raw %}", *body, "{% endraw %}", "", "Description", "-----------", "", description]
    return "\n".join(out) + "\n"
