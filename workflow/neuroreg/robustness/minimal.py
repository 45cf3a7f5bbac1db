"""Minimal adversarial perturbations of one model: the attacks of each norm, the per-image minimum, and its tables.

Scheme (section 4.2; supplement, after Brendel et al. 2019; the practice of RobustBench and AttackBench):

* For each norm every attack of ``settings.attacks[norm]`` (L2: DDN and FMN; Linf: FMN and PGD with a per-image
  epsilon bisection; Brendel & Bethge and C&W where configured) runs on every correctly classified image, with
  ``settings.steps`` iterations (PGD: ``pgd.steps`` at each of ``pgd.search_steps`` bisection steps) and each of
  its hyper-parameter settings. The reported distance of an image is the minimum over all of them; which attack
  found it is kept; the gradient-free starting point (nearest other-class image or blended noise) is a record
  too (``start``), so an image no gradient attack reached reports that upper bound (checks.unbounded_success
  counts them). PGD's bisection starts from the smallest distance known so far for the image (the gradient-
  free starting point, or an attack listed before it), so listing ``fmn`` before ``pgd`` lets PGD refine FMN.
* Convergence: the first ``convergence.n_images`` correct images are attacked again with ``convergence.factor`` x
  the iterations of every attack (Fig. 5's second point); doubling the budget may lower the median over them by at
  most ``convergence.tolerance`` (:func:`neuroreg.robustness.checks.convergence`).
* Floors: each attack's smallest reportable distance per image (:func:`attacks.floor`); an image whose best
  distance sits at the floor measures the attack's schedule, not the model (checks.floor).
* Scores: ``median`` is the paper's (images the model misclassifies count as distance 0: at 55-60 % clean accuracy
  it moves with accuracy); ``median_correct`` is the median over the correctly classified images alone; the
  comparison of two conditions uses the per-image distances on the images both classify correctly
  (:mod:`neuroreg.effects`).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import logging
import math
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from ..config import defaults as config_defaults
from ..progress import Progress
from . import attacks as A
from .parallel import run_minimal_parallel

log = logging.getLogger(__name__)
QUANTILES = {"q10": 0.10, "q25": 0.25, "median": 0.50, "q75": 0.75, "q90": 0.90}
PRECISIONS = ("fp32", "bf16")
MISCLASSIFIED = "misclassified"
START = "start"  # the gradient-free starting point (attacks.starting_points) as a record: the fallback of every image

_DEFAULT = config_defaults("robustness")


def _default(key):
    return field(default_factory=lambda: copy.deepcopy(_DEFAULT[key]))


@dataclass
class Settings:
    """The ``robustness`` config keys of the adversarial evaluation; defaults: the schema's."""

    norms: tuple = tuple(_DEFAULT["norms"])
    attacks: dict = _default("attacks")
    secondary_attacks: dict | None = _default("secondary_attacks")  # the later BatchNorm variants' (None: attacks)
    steps: int = _DEFAULT["steps"]  # iterations of every minimal attack (PGD: pgd.steps per bisection step)
    precision: str = _DEFAULT["precision"]  # the attacks' search model: fp32 | bf16 (every distance verified in fp32)
    hyperparameters: dict = _default("hyperparameters")
    pgd: dict = _default("pgd")
    convergence: dict = _default("convergence")  # n_images, factor, tolerance
    repetitions: int = _DEFAULT["repetitions"]
    start_directions: int = _DEFAULT["start_directions"]  # blended-noise starting points: directions and line-search steps
    processes: int | None = _DEFAULT["processes"]  # Brendel & Bethge's CPU processes (None: 1 here; the rule's threads)
    seed: int = 0  # neuroreg.seeds.attack_seed of the master seed
    masking_tolerance: float = _DEFAULT["masking_tolerance"]
    masking_max_fraction: float = _DEFAULT["masking_max_fraction"]

    @classmethod
    def from_config(cls, cfg: dict, **over) -> "Settings":
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in {**cfg, **over}.items() if k in keys})

    def for_variant(self, k: int) -> "Settings":
        """The settings of the k-th BatchNorm variant (``robustness.bn``): the first, the primary, runs everything; a
        later one runs ``secondary_attacks`` (where set) and no convergence rerun: the rerun asks whether the
        budget suffices, answered on the same weights under the primary statistics."""
        if k == 0:
            return self
        return dataclasses.replace(self, attacks=self.secondary_attacks or self.attacks,
                                   convergence={**self.convergence, "n_images": 0})

    def budgets(self) -> tuple[int, int]:
        """(the main budget, the convergence rerun's): the multiplier of every attack's iterations."""
        return 1, int(self.convergence["factor"])


@dataclass
class Record:
    """One attack run over all N images: distances 0 where misclassified, inf where it failed, NaN where not run
    (the convergence rerun covers only its images). ``steps``: gradient steps per image (PGD: search x per-search);
    ``budget``: 1 for the main run, the convergence factor for the rerun; ``floor``: (N,) the smallest distance the
    run could report per image, or None where the attack has no schedule floor."""

    norm: str
    attack: str
    setting: str
    steps: int
    distances: np.ndarray
    budget: int = 1
    seconds: float = 0.0
    floor: np.ndarray | None = None
    moved: int = 0  # adversarials of the bf16 search moved out to the fp32 boundary (attacks.verified_distance)


def grid(hp: dict) -> list[dict]:
    """Cartesian product of a {name: [values]} dict -> list of {name: value}."""
    names = sorted(hp)
    return [dict(zip(names, vals)) for vals in itertools.product(*(np.atleast_1d(hp[k]).tolist() for k in names))] or [{}]


def settings_of(name: str, s: Settings, norm: str | None = None) -> list[tuple[dict, str]]:
    """[(hyper-parameters, label)] of attack ``name`` for ``norm``: its grid (PGD: its rel_stepsize list). A grid may
    hold a sub-grid per norm (``fmn: {L2: {max_stepsize: [0.3]}, Linf: {max_stepsize: [1.0]}}``), which replaces the
    shared keys for that norm; ``precision`` in a grid is that attack's search model (:func:`search_precision`)."""
    hp = {k: v for k, v in s.hyperparameters.get(name, {}).items() if k not in A.NORMS}
    hp.update(s.hyperparameters.get(name, {}).get(norm, {}) if norm else {})
    if name == "pgd":
        hp = {"rel_stepsize": s.pgd["rel_stepsize"]}
    return [(h, ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in h.items())) for h in grid(hp)]


def search_precision(name: str, hp: dict, s: Settings) -> str:
    """The search model of one attack setting: its grid's ``precision``, else PGD's ``pgd.precision``, else
    ``robustness.precision`` (fp32, or bf16 autocast with every distance verified in fp32)."""
    own = hp.get("precision") or (s.pgd.get("precision") if name == "pgd" else None) or s.precision
    if own not in PRECISIONS:
        raise ValueError(f"robustness: the precision {own!r} of attack {name} is not one of {', '.join(PRECISIONS)}")
    return own


def attack_steps(name: str, s: Settings, budget: int = 1) -> int:
    """Gradient steps per image of one run of ``name`` at ``budget`` x the configured iterations."""
    if name == "pgd":
        return int(s.pgd["steps"]) * budget * int(s.pgd["search_steps"])
    return int(s.steps) * budget


def evaluate(model, x, y, s: Settings, *, device="cpu") -> dict:
    """Run the scheme on images x (N, C, H, W) in [0, 1], labels y (N,).

    Returns {"records": [Record], "starts": {norm: (N,) gradient-free distances (0 misclassified)},
    "correct": (N,) bool, "convergence_images": (K,) indices of the rerun's images, "clean_accuracy": float}.
    """
    if s.precision not in PRECISIONS:
        raise ValueError(f"robustness.precision: {s.precision!r} is not one of {', '.join(PRECISIONS)}")
    if s.pgd.get("precision") not in (None, *PRECISIONS):
        raise ValueError(f"robustness.pgd.precision: {s.pgd['precision']!r} is not one of {', '.join(PRECISIONS)}")
    for norm in s.norms:
        for name in s.attacks.get(norm, []):
            for hp, _ in settings_of(name, s, norm):
                search_precision(name, hp, s)
    model = model.eval().to(device)
    search = {"fp32": model, "bf16": A.Autocast(model)}  # the attacks' search models (search_precision)
    x, y = x.to(device), y.to(device)
    correct = (~A.is_adversarial(model, x, y)).cpu().numpy()
    idx = np.flatnonzero(correct)
    conv = idx[: int(s.convergence["n_images"])]
    records, starts_out = [], {}
    total = sum(attack_steps(name, s, b) * len(settings_of(name, s, norm)) * n
                for norm in s.norms for name in s.attacks.get(norm, [])
                for b, n in zip(s.budgets(), (len(idx), len(conv))))
    progress = Progress(f"attacks on {len(idx)} images", total, unit="image step", logger=log)
    noise = A.blended_noise(model, x[idx], y[idx], seed=s.seed, directions=s.start_directions,
                            steps=s.start_directions) if len(idx) else None
    for norm in s.norms:
        start_d = np.zeros(len(x))
        starts = None
        if len(idx):  # a model that gets none of the images right has nothing to attack
            starts, d = A.starting_points(model, x[idx], y[idx], x, norm, noise=noise)
            start_d[idx] = d
        starts_out[norm] = start_d
        for budget, images in zip(s.budgets(), (idx, conv)):
            known = start_d[images].copy()  # the smallest distance found so far per image: PGD's upper bound
            for name in s.attacks.get(norm, []):
                for hp, label in settings_of(name, s, norm):
                    t0 = time.perf_counter()
                    dist = np.full(len(x), np.nan)
                    dist[~correct] = 0.0
                    floor, moved = None, 0
                    if len(images):
                        dc, fl, moved = _run(model, search, x, y, images, idx, starts, start_d[images], known, name,
                                             norm, hp, s, budget, device)
                        dist[images] = dc
                        known = np.fmin(known, dc)
                        if fl is not None:
                            floor = np.full(len(x), np.nan)
                            floor[images] = fl
                    steps = attack_steps(name, s, budget)
                    records.append(Record(norm, name, label, steps, dist, budget, time.perf_counter() - t0, floor,
                                          moved))
                    progress.update(steps * len(images), note=f"({norm} {name} {label} {steps} steps)")
                    d = dist[images]
                    log.info("%s %s %s, %d steps on %d images: median %.4g, %d failed, %d moved to the fp32 boundary, "
                             "%.1f s", norm, name, label, steps, len(images), np.median(d) if len(d) else math.nan,
                             int(np.isinf(d).sum()), moved, records[-1].seconds)
            # the gradient-free start is an adversarial too: the reported distance of an image no attack reached
            dist = np.full(len(x), np.nan)
            dist[~correct] = 0.0
            dist[images] = start_d[images]
            records.append(Record(norm, START, "gradient-free", 0, dist, budget))
    return {"records": records, "starts": starts_out, "correct": correct, "convergence_images": conv,
            "clean_accuracy": float(correct.mean()) if len(correct) else math.nan}


def _run(model, search, x, y, images, idx, starts, start_d, known, name, norm, hp, s: Settings, budget: int, device):
    """(distances (len(images),), floor per image or None, how many points were moved) of one attack run on
    ``images`` (indices into x, a subset of the correct ones ``idx``), inf where it failed. The attack searches on
    ``search[precision]`` (the model, or it under bf16 autocast: :func:`search_precision`); every distance is verified
    on the fp32 ``model`` (:func:`attacks.verified_distance`). ``starts``: the gradient-free adversarials of ``idx`` and ``start_d`` their
    distances on ``images``; ``known``: the smallest distance found so far per image."""
    xi, yi = x[images], y[images]
    steps = int(s.steps) * budget
    model_of_search = search[search_precision(name, hp, s)]
    hp = {k: v for k, v in hp.items() if k != "precision"}
    if name == "pgd":
        pgd_steps = int(s.pgd["steps"]) * budget
        lower = float(s.pgd.get("lower") or 0.0)  # a pgd section without the refinement keys: plain Foolbox-style PGD
        adv, _ = A.pgd_minimal(model_of_search, xi, yi, known, steps=pgd_steps, rel_stepsizes=[hp["rel_stepsize"]],
                               search_steps=s.pgd["search_steps"], repetitions=s.repetitions, seed=s.seed,
                               loss=s.pgd.get("loss") or "ce", lower=lower)
        d, moved = A.verified_distance(model, adv, xi, yi, norm)
        return d, A.bisection_floor(known, s.pgd["search_steps"], lower), moved
    if name == "brendel_bethge":  # fp32, only from an adversarial start; inf where none was found
        pos = np.searchsorted(idx, images)
        ok = np.isfinite(start_d)
        d = np.full(len(images), math.inf)
        if ok.any():
            k = torch.from_numpy(np.flatnonzero(ok)).to(x.device)
            adv = run_minimal_parallel(model, xi[k], yi[k], name, norm, steps, hp,
                                       starts=starts[torch.from_numpy(pos).to(x.device)][k],
                                       processes=s.processes or 1, device=device)
            d[ok] = A.checked_distance(model, adv, xi[k], yi[k], norm)
        return d, None, 0
    adv = run_minimal_parallel(model_of_search, xi, yi, name, norm, steps, hp, device=device)
    d, moved = A.verified_distance(model, adv, xi, yi, norm)
    return d, A.floor(name, steps, hp, len(images)), moved


def main_records(records, norm=None) -> list[Record]:
    """The records of the main budget (every correct image), optionally of one norm."""
    return [r for r in records if r.budget == 1 and (norm is None or r.norm == norm)]


def best_per_image(records, norm, budget: int = 1):
    """(distances (N,), best attack (N,) str, its setting (N,) str) over the records of a norm at one budget
    (NaN where no record of that budget ran the image)."""
    rs = [r for r in records if r.norm == norm and r.budget == budget]
    D = np.stack([r.distances for r in rs])  # (R, N)
    filled = np.where(np.isnan(D), np.inf, D)
    k = filled.argmin(0)
    best = np.where(np.isnan(D).all(0), np.nan, filled.min(0))
    return best, np.array([rs[i].attack for i in k]), np.array([rs[i].setting for i in k])


def wins(records, norm, correct) -> dict:
    """Per attack: the fraction of correct images where it alone found the smallest distance (``wins_{attack}``),
    and ``ties``: the fraction where two attacks found the same smallest distance (within 1e-9 relative)."""
    rs = main_records(records, norm)
    names = list(dict.fromkeys(r.attack for r in rs))
    per_attack = np.stack([np.min(np.stack([r.distances for r in rs if r.attack == n]), 0) for n in names])[:, correct]
    best = per_attack.min(0)
    at_best = per_attack <= best * (1 + 1e-9)
    unique = at_best.sum(0) == 1
    n = max(int(correct.sum()), 1)
    out = {f"wins_{a}": float((at_best[i] & unique).sum() / n) for i, a in enumerate(names)}
    out["ties"] = float((~unique).sum() / n)
    return out


def at_floor(records, norm, budget: int = 1) -> np.ndarray:
    """(N,) bool: the image's best distance at this budget comes from an attack run that reports it at that run's
    floor (:func:`attacks.floor`; within half a DDN schedule step or 1e-6 of a bisection's last bound), so it is
    an upper bound set by the attack rather than a measured minimum."""
    rs = [r for r in records if r.norm == norm and r.budget == budget]
    best, _, _ = best_per_image(records, norm, budget)
    out = np.zeros(len(best), dtype=bool)
    for r in rs:
        if r.floor is not None:
            with np.errstate(invalid="ignore"):
                out |= (r.distances == best) & (r.distances > 0) & (r.distances <= r.floor * (1 + floor_tolerance(r)))
    return out


def floor_tolerance(r: Record) -> float:
    """How close to its floor a distance of run ``r`` counts as at it (relative): half a DDN schedule step (gamma / 2
    of its setting label, 'gamma=0.05,init_epsilon=0.1'; 0.05 when absent), 1e-6 for a bisection bound."""
    if r.attack != "ddn":
        return 1e-6
    pairs = dict(kv.split("=", 1) for kv in r.setting.split(",") if "=" in kv)
    return float(pairs.get("gamma", 0.05)) / 2


def quantile(d: np.ndarray, q: float) -> float:
    """numpy's linear quantile, with inf (a failed attack) kept as inf instead of inf - inf = NaN; NaN for no data."""
    s = np.sort(np.asarray(d, dtype=np.float64))
    if len(s) == 0:
        return math.nan
    pos = q * (len(s) - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    if pos == lo or np.isinf(s[hi]):
        return float(s[lo] if pos == lo else np.inf)
    return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))


def quantiles(d: np.ndarray) -> dict:
    return {**{k: quantile(d, q) for k, q in QUANTILES.items()}, "mean": float(np.mean(d)) if len(d) else math.nan}


SUMMARY_COLUMNS = ["norm", "median", "median_correct", "q10", "q25", "q75", "q90", "mean", "n_images", "n_correct",
                   "n_failed", "clean_accuracy", "floor_fraction"]
IMAGE_COLUMNS = ["image_index", "norm", "distance", "best_attack", "best_setting", "clean_correct", "at_floor"]
STEP_COLUMNS = ["norm", "attack", "steps", "budget", "n_images", "median", "floor_fraction"]


def tables(result: dict, image_index: np.ndarray):
    """(adversarial, adversarial_images, adversarial_steps) DataFrames (docs/STAGES.md, "6. Robustness", for the schemas).

    adversarial: one row per norm: ``median`` (the paper's, misclassified = 0), ``median_correct`` (over the correctly
    classified images), quantiles and mean of the paper's distances, counts, the share of correct images at an
    attack's floor, ``wins_{attack}`` and ``ties`` (:func:`wins`). adversarial_images: per norm and image the best
    distance (0 misclassified), the attack and setting that found it, ``distance_{attack}`` per attack (NaN where
    misclassified), whether it sits at a floor. adversarial_steps: per norm, attack (``best`` = the minimum over
    them) and budget, the median over the convergence images (correct ones) and the share of them at a floor.
    """
    records, correct = result["records"], result["correct"]
    conv = np.asarray(result["convergence_images"], dtype=int)
    norms = list(dict.fromkeys(r.norm for r in records))
    summary, images, steps_rows = [], [], []
    for norm in norms:
        d, attack, setting = best_per_image(records, norm)
        attack = np.where(correct, attack, MISCLASSIFIED)
        setting = np.where(correct, setting, "")
        floor = at_floor(records, norm) & correct
        summary.append({"norm": norm, **quantiles(d), "median_correct": quantile(d[correct], 0.5), "n_images": len(d),
                        "n_correct": int(correct.sum()), "n_failed": int((correct & (attack == START)).sum()),
                        "clean_accuracy": result["clean_accuracy"],
                        "floor_fraction": float(floor[correct].mean()) if correct.any() else 0.0,
                        **wins(records, norm, correct)})
        frame = pd.DataFrame({"image_index": image_index, "norm": norm, "distance": d, "best_attack": attack,
                              "best_setting": setting, "clean_correct": correct, "at_floor": floor})
        for name in dict.fromkeys(r.attack for r in main_records(records, norm)):
            per = np.min(np.stack([r.distances for r in main_records(records, norm) if r.attack == name]), 0)
            frame[f"distance_{name}"] = np.where(correct, per, np.nan)
        images.append(frame)
        for budget in sorted({r.budget for r in records if r.norm == norm}):
            rs = [r for r in records if r.norm == norm and r.budget == budget]
            fl = at_floor(records, norm, budget)[conv]
            best_conv, _, _ = best_per_image(records, norm, budget)
            for name in dict.fromkeys(r.attack for r in rs):
                per = np.min(np.stack([r.distances for r in rs if r.attack == name]), 0)[conv]
                steps_rows.append({"norm": norm, "attack": name, "steps": max(r.steps for r in rs if r.attack == name),
                                   "budget": budget, "n_images": len(conv), "median": quantile(per, 0.5),
                                   "floor_fraction": math.nan})
            steps_rows.append({"norm": norm, "attack": "best", "steps": max(r.steps for r in rs), "budget": budget,
                               "n_images": len(conv), "median": quantile(best_conv[conv], 0.5),
                               "floor_fraction": float(fl.mean()) if len(fl) else 0.0})
    adv = pd.DataFrame(summary)
    adv = adv[SUMMARY_COLUMNS + [c for c in adv.columns if c not in SUMMARY_COLUMNS]]
    per_image = pd.concat(images, ignore_index=True)
    per_image = per_image[IMAGE_COLUMNS + [c for c in per_image.columns if c not in IMAGE_COLUMNS]]
    return adv, per_image, pd.DataFrame(steps_rows, columns=STEP_COLUMNS)
