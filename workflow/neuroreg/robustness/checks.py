"""Sanity checks that guard against a broken or unconverged adversarial evaluation (Carlini et al. 2019 style).

All of them concern the correctly classified images and the main budget unless said otherwise.

1. ``unbounded_success``: with an unbounded budget (epsilons=None) the gradient attacks must find an adversarial
   (re-classified by the model) for all but ``max_fraction`` of the correctly classified images; an image none of
   them reached reports the gradient-free start's distance (an upper bound). Each attack's failures are listed.
2. ``clean_accuracy``: the accuracy of the Foolbox-wrapped model (``fb.utils.accuracy``) equals the model's own.
3. ``gradient_masking``: the gradient-free reference (dataset nearest other-class image or blended uniform noise,
   :func:`attacks.starting_points`) must not beat the gradient attacks that do not start from it (C&W, DDN, FMN,
   PGD): it fails when on more than ``max_fraction`` of the images the reference is smaller than the best gradient
   distance times (1 - tolerance). Brendel & Bethge is excluded: it starts from the reference.
4. ``floor``: each attack's share of images at the smallest distance it can report (:func:`attacks.floor`: DDN's
   radius schedule, PGD's last bisection bound, FMN none), and the share whose reported (best) distance sits at a
   floor; it fails when that share exceeds ``max_fraction`` (the median of such images measures a schedule).
5. ``convergence``: on the convergence images, the median of the best distance at ``factor`` x the iterations
   against the main budget; it fails when the larger budget lowers it by more than ``tolerance`` (5 %: the attacks
   have not converged, and every reported distance may overstate robustness). Each attack's own drop is listed.
"""

from __future__ import annotations

import logging

import foolbox as fb
import numpy as np

from . import attacks as A

log = logging.getLogger(__name__)


def unbounded_success(records, correct, max_fraction=0.05) -> dict:
    """Check 1 (module doc): per gradient attack run, the correct images it found no adversarial for (``n_failed``;
    PGD counts the images where it found none below the bound it started from); per norm, the images no gradient
    attack reached (``n_unreached``: they report the gradient-free start, an upper bound). It fails when that share
    exceeds ``max_fraction`` of the correct images in a norm."""
    from .minimal import main_records

    rs = [r for r in main_records(records) if r.attack in A.GRADIENT_ONLY]
    per = {f"{r.norm}/{r.attack}/{r.setting}/steps={r.steps}": int(np.isinf(r.distances[correct]).sum()) for r in rs}
    out = {}
    for norm in dict.fromkeys(r.norm for r in rs):
        reached = np.isfinite(np.stack([r.distances for r in rs if r.norm == norm]).min(0))[correct]
        n = int((~reached).sum())
        out[norm] = {"passed": n <= max_fraction * max(len(reached), 1), "n_unreached": n, "n_correct": len(reached),
                     "max_fraction": max_fraction}
    return {"passed": all(v["passed"] for v in out.values()), "n_failed": per, "per_norm": out}


def clean_accuracy(model, x, y, device="cpu") -> dict:
    own = float((~A.is_adversarial(model.eval().to(device), x.to(device), y.to(device))).float().mean())
    wrapped = float(fb.utils.accuracy(A.wrap(model, device), x.to(device), y.to(device)))
    return {"passed": abs(own - wrapped) < 1e-12, "model": own, "foolbox": wrapped}


def gradient_masking(records, starts, correct, tolerance=0.05, max_fraction=0.05) -> dict:
    from .minimal import main_records

    out = {}
    for norm, ref in starts.items():
        rs = [r for r in main_records(records, norm) if r.attack in A.GRADIENT_ONLY]
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


def floor(records, correct, max_fraction=0.05) -> dict:
    """Check 4 (module doc) per norm: ``fraction_at_floor`` (the reported distances), and per attack run the share of
    its distances at its own floor (``attacks``: "not applicable" where it has none)."""
    from .minimal import at_floor, floor_tolerance, main_records

    out = {}
    for norm in dict.fromkeys(r.norm for r in records):
        rs = main_records(records, norm)
        if not any(r.floor is not None for r in rs) or not correct.any():
            out[norm] = {"passed": True, "applicable": False}
            continue
        frac = float(at_floor(records, norm)[correct].mean())
        per = {}
        for r in rs:
            key = f"{r.attack}/{r.setting}/steps={r.steps}"
            if r.floor is None:
                per[key] = "not applicable"
                continue
            d, f = r.distances[correct], r.floor[correct]
            tol = floor_tolerance(r)
            per[key] = {"fraction_at_floor": float(((d > 0) & (d <= f * (1 + tol))).mean()),
                        "median_floor": float(np.median(f))}
        out[norm] = {"passed": frac <= max_fraction, "applicable": True, "fraction_at_floor": frac, "attacks": per,
                     "max_fraction": max_fraction}
    return {"passed": all(v["passed"] for v in out.values()), "per_norm": out}


def convergence(records, correct, images, tolerance=0.05) -> dict:
    """Check 5 (module doc): per norm the median over the convergence ``images`` that are correct, at the main
    budget and at the rerun's, ``drop`` = 1 - larger / main (per attack under ``attacks``)."""
    from .minimal import best_per_image

    images = np.asarray([i for i in images if correct[i]], dtype=int)
    out = {}
    for norm in dict.fromkeys(r.norm for r in records):
        budgets = sorted({r.budget for r in records if r.norm == norm})
        if len(budgets) < 2 or not len(images):
            out[norm] = {"passed": True, "applicable": False}
            continue
        lo, hi = budgets[0], budgets[-1]
        m = {b: float(np.median(best_per_image(records, norm, b)[0][images])) for b in (lo, hi)}
        drop = 1 - m[hi] / m[lo] if m[lo] > 0 and np.isfinite(m[lo]) else 0.0
        per = {}
        for name in dict.fromkeys(r.attack for r in records if r.norm == norm):
            med = {b: float(np.median(np.min(np.stack([r.distances for r in records if r.norm == norm and
                                                         r.attack == name and r.budget == b]), 0)[images]))
                   for b in (lo, hi)}
            per[name] = {"median": med[lo], "median_larger_budget": med[hi],
                         "drop": 1 - med[hi] / med[lo] if med[lo] > 0 and np.isfinite(med[lo]) else 0.0}
        out[norm] = {"passed": bool(drop <= tolerance), "applicable": True, "n_images": int(len(images)),
                     "factor": hi, "median": m[lo], "median_larger_budget": m[hi], "drop": float(drop),
                     "tolerance": tolerance, "attacks": per}
    return {"passed": all(v["passed"] for v in out.values()), "per_norm": out}


CHECKS = ("unbounded_success", "clean_accuracy", "gradient_masking", "floor", "convergence")


def failed_checks(report: dict) -> list[str]:
    """Names of the failed checks of a :func:`run_checks` report, each with the norms it failed for
    (``convergence (Linf)``)."""
    out = []
    for name in CHECKS:
        c = report.get(name, {})
        if c.get("passed", True):
            continue
        norms = [n for n, v in c.get("per_norm", {}).items() if not v["passed"]]
        out.append(f"{name} ({', '.join(norms)})" if norms else name)
    return out


def run_checks(model, x, y, result, *, device="cpu", tolerance=0.05, max_fraction=0.05,
               convergence_tolerance=0.05) -> dict:
    """All checks as a JSON-ready dict: one entry per check, ``passed`` (all of them) and ``failed``
    (:func:`failed_checks`). A failure is logged as a warning and shown beside the numbers it concerns
    (tables/verdict.csv, paper_vs_run.csv, Fig. 5, 7; neuroreg.figures)."""
    correct = result["correct"]
    checks = {
        "unbounded_success": unbounded_success(result["records"], correct, max_fraction),
        "clean_accuracy": clean_accuracy(model, x, y, device),
        "gradient_masking": gradient_masking(result["records"], result["starts"], correct, tolerance, max_fraction),
        "floor": floor(result["records"], correct, max_fraction),
        "convergence": convergence(result["records"], correct, result["convergence_images"], convergence_tolerance),
    }
    for name, c in checks.items():
        if not c["passed"]:  # one line on the terminal; the details in the log (and in checks.json)
            log.warning("sanity check FAILED: %s (details: this job's log, checks.json)", ", ".join(failed_checks({name: c})))
            log.info("%s: %s", name, c)
    checks["passed"] = all(c["passed"] for c in checks.values())
    checks["failed"] = failed_checks(checks)
    return checks


def combine(reports: dict) -> dict:
    """One checks.json for the BatchNorm variants: ``bn`` = {variant: :func:`run_checks` report}, ``passed`` (all of
    them) and ``failed`` (each failed check prefixed with its variant, ``cifar: convergence (Linf)``)."""
    return {"bn": reports, "passed": all(r["passed"] for r in reports.values()),
            "failed": [f"{name}: {f}" for name, r in reports.items() for f in r["failed"]]}
