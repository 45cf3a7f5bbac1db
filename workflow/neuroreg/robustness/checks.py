"""Sanity checks that guard against a broken adversarial evaluation (Carlini et al. 2019 style).

1. ``unbounded_success``: with an unbounded budget (epsilons=None) every attack, run with
   the largest step budget, must find an adversarial for every correctly classified image
   (re-classified by the model). Failures at smaller budgets are listed, not failed on
   (C&W with 10 steps may not reach the boundary).
2. ``clean_accuracy``: the accuracy of the Foolbox-wrapped model (``fb.utils.accuracy``)
   equals the model's own accuracy on the same images.
3. ``gradient_masking``: the gradient-free reference (dataset nearest other-class image or
   blended uniform noise, see :func:`attacks.starting_points`) must not beat the gradient
   attacks that do not start from it (C&W, DDN, PGD): it fails when on more than
   ``max_fraction`` of the correct images the reference is smaller than the best gradient
   distance times (1 - tolerance). Brendel & Bethge is excluded: it starts from the
   reference, so it can never be worse. Not applicable to norms with no such attack (L0, L1).
4. ``radius_floor``: an attack with a radius schedule (DDN) cannot report a distance below its
   floor (:func:`attacks.radius_floor`); an image whose best distance sits there measures the
   schedule, not the model. With the largest step budget it fails when that holds for more than
   ``max_fraction`` of the correct images (smaller budgets are listed: Fig. 5 draws those points open).
   Not applicable to norms with no such attack.
"""

from __future__ import annotations

import logging

import foolbox as fb
import numpy as np

from . import attacks as A

log = logging.getLogger(__name__)


def unbounded_success(records, correct) -> dict:
    per = {f"{r.norm}/{r.attack}/{r.setting}/steps={r.steps}": int(np.isinf(r.distances[correct]).sum()) for r in records}
    top = max((r.steps for r in records), default=0)
    full = [int(np.isinf(r.distances[correct]).sum()) for r in records if r.steps == top]
    return {"passed": all(v == 0 for v in full), "checked_steps": top, "n_failed": per}


def clean_accuracy(model, x, y, device="cpu") -> dict:
    own = float((~A.is_adversarial(model.eval().to(device), x.to(device), y.to(device))).float().mean())
    wrapped = float(fb.utils.accuracy(A.wrap(model, device), x.to(device), y.to(device)))
    return {"passed": abs(own - wrapped) < 1e-12, "model": own, "foolbox": wrapped}


def gradient_masking(records, starts, correct, tolerance=0.05, max_fraction=0.05) -> dict:
    out = {}
    for norm, ref in starts.items():
        rs = [r for r in records if r.norm == norm and r.attack in A.GRADIENT_ONLY]
        if not rs or not correct.any():
            out[norm] = {"passed": True, "applicable": False}
            continue
        grad = np.stack([r.distances for r in rs]).min(0)[correct]
        free = ref[correct]
        beaten = free < grad * (1 - tolerance)
        out[norm] = {
            "passed": bool(beaten.mean() <= max_fraction),
            "applicable": True,
            "fraction_gradient_free_smaller": float(beaten.mean()),
            "median_gradient_free": float(np.median(free)),
            "median_gradient": float(np.median(grad)),
            "tolerance": tolerance,
            "max_fraction": max_fraction,
        }
    return {"passed": all(v["passed"] for v in out.values()), "per_norm": out}


def radius_floor(records, correct, max_fraction=0.05) -> dict:
    from .minimal import at_floor

    out = {}
    for norm in dict.fromkeys(r.norm for r in records):
        rs = [r for r in records if r.norm == norm]
        if not any(r.floor is not None for r in rs) or not correct.any():
            out[norm] = {"passed": True, "applicable": False}
            continue
        budgets = sorted({r.steps for r in rs})
        frac = {str(b): float(at_floor(records, norm, b)[correct].mean()) for b in budgets}
        floors = {f"{r.attack}/{r.setting}/steps={r.steps}": r.floor for r in rs if r.floor is not None}
        out[norm] = {"passed": frac[str(budgets[-1])] <= max_fraction, "applicable": True, "checked_steps": budgets[-1],
                     "fraction_at_floor": frac, "floors": floors, "max_fraction": max_fraction}
    return {"passed": all(v["passed"] for v in out.values()), "per_norm": out}


CHECKS = ("unbounded_success", "clean_accuracy", "gradient_masking", "radius_floor")


def failed_checks(report: dict) -> list[str]:
    """Names of the failed checks of a :func:`run_checks` report (``gradient_masking (L2)`` names the norms)."""
    out = []
    for name in CHECKS:
        c = report.get(name, {})
        if c.get("passed", True):
            continue
        norms = [n for n, v in c.get("per_norm", {}).items() if not v["passed"]]  # gradient_masking
        if name == "unbounded_success":  # the norms with a failed attack at the largest budget
            top = f"steps={c['checked_steps']}"
            norms = list(dict.fromkeys(k.split("/")[0] for k, v in c["n_failed"].items() if v and k.endswith(top)))
        out.append(f"{name} ({', '.join(norms)})" if norms else name)
    return out


def run_checks(model, x, y, result, *, device="cpu", tolerance=0.05, max_fraction=0.05) -> dict:
    """All checks as a JSON-ready dict: one entry per check, ``passed`` (all of them) and ``failed``
    (:func:`failed_checks`). A failure is logged as a warning and shown beside the numbers it concerns
    in results/tables/paper_vs_run.csv and Fig. 5, 7 (neuroreg.figures.paper_vs_run, .robustness)."""
    checks = {
        "unbounded_success": unbounded_success(result["records"], result["correct"]),
        "clean_accuracy": clean_accuracy(model, x, y, device),
        "gradient_masking": gradient_masking(result["records"], result["starts"], result["correct"], tolerance,
                                             max_fraction),
        "radius_floor": radius_floor(result["records"], result["correct"], max_fraction),
    }
    for name, c in checks.items():
        if not c["passed"]:  # one line on the terminal; the details in the log (and in checks.json)
            log.warning("sanity check FAILED: %s (details: this job's log, checks.json)", ", ".join(failed_checks({name: c})))
            log.info("%s: %s", name, c)
    checks["passed"] = all(c["passed"] for c in checks.values())
    checks["failed"] = failed_checks(checks)
    return checks
