"""Minimal adversarial perturbations of one model: the evaluation and its tables.

Scheme (section 4.2; supplement, after Brendel et al. 2019): for each norm, every attack
of ``settings.attacks[norm]`` runs with every hyper-parameter setting, repetition and step
budget; per image the score is the smallest distance over all of them ("best"); images
the model already misclassifies count as distance 0; the model's robustness score is the
median over images (other quantiles alongside). Fig. 5: at each step budget the per-image
best over the attacks run with that many steps, and its median.
"""

from __future__ import annotations

import copy
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


_DEFAULT = config_defaults("robustness")


def _default(key):
    return field(default_factory=lambda: copy.deepcopy(_DEFAULT[key]))


@dataclass
class Settings:
    """The ``robustness`` config keys of the adversarial evaluation; defaults: the schema's."""

    norms: tuple = tuple(_DEFAULT["norms"])
    attacks: dict = _default("attacks")
    step_budgets: tuple = tuple(_DEFAULT["step_budgets"])
    hyperparameters: dict = _default("hyperparameters")
    pgd: dict = _default("pgd")
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


@dataclass
class Record:
    """One attack run: per-image distances over all images (0 misclassified, inf failed)."""

    norm: str
    attack: str
    setting: str
    steps: int
    distances: np.ndarray
    seconds: float = 0.0
    floor: float | None = None  # attacks.radius_floor: the smallest distance this run can report (DDN)


def grid(hp: dict) -> list[dict]:
    """Cartesian product of a {name: [values]} dict -> list of {name: value}."""
    names = sorted(hp)
    return [dict(zip(names, vals)) for vals in itertools.product(*(np.atleast_1d(hp[k]).tolist() for k in names))] or [{}]


def evaluate(model, x, y, s: Settings, *, device="cpu") -> dict:
    """Run the scheme on images x (N, C, H, W) in [0, 1], labels y (N,).

    Returns {"records": [Record], "starts": {norm: (N,) gradient-free distances},
    "correct": (N,) bool, "clean_accuracy": float}.
    """
    model = model.eval().to(device)
    x, y = x.to(device), y.to(device)
    correct = (~A.is_adversarial(model, x, y)).cpu().numpy()
    idx = np.flatnonzero(correct)
    xc, yc = x[idx], y[idx]
    records, starts_out = [], {}
    runs = [int(steps) * len(_settings(name, s)) for norm in s.norms for steps in s.step_budgets
            for name in s.attacks.get(norm, [])]
    progress = Progress(f"attacks on {len(idx)} images", sum(runs), unit="attack step", logger=log)
    for norm in s.norms:
        start_d = np.zeros(len(x))
        if len(idx):  # a model that gets none of the images right has nothing to attack
            starts, d = A.starting_points(model, xc, yc, x, norm, seed=s.seed, directions=s.start_directions,
                                          steps=s.start_directions)
            start_d[idx] = d
        starts_out[norm] = start_d
        for steps in s.step_budgets:
            for name in s.attacks.get(norm, []):
                for hp, label in _settings(name, s):
                    dist, t0 = np.zeros(len(x)), time.perf_counter()
                    if len(idx):
                        if name == "pgd":
                            _, dc = A.pgd_minimal(model, xc, yc, d, steps=min(int(steps), int(s.pgd["max_steps"])),
                                                  rel_stepsizes=[hp["rel_stepsize"]], search_steps=s.pgd["search_steps"],
                                                  repetitions=s.repetitions, seed=s.seed)
                        elif name == "brendel_bethge":  # only from an adversarial start; inf where none was found
                            dc, ok = np.full(len(idx), math.inf), np.isfinite(d)
                            if ok.any():
                                k = torch.from_numpy(np.flatnonzero(ok)).to(x.device)
                                adv = run_minimal_parallel(model, xc[k], yc[k], name, norm, steps, hp, starts=starts[k],
                                                           processes=s.processes or 1, device=device)
                                dc[ok] = A.checked_distance(model, adv, xc[k], yc[k], norm)
                        else:
                            adv = run_minimal_parallel(model, xc, yc, name, norm, steps, hp, device=device)
                            dc = A.checked_distance(model, adv, xc, yc, norm)
                        dist[idx] = dc
                    records.append(Record(norm, name, label, int(steps), dist, time.perf_counter() - t0,
                                          A.radius_floor(name, steps, hp)))
                    progress.update(int(steps), note=f"({norm} {name} {label} steps={steps})")
                    log.info("%s %s %s steps=%d: median %.4g, %d failed, %.1f s", norm, name, label, steps,
                             np.median(dist), int(np.isinf(dist).sum()), records[-1].seconds)
    return {"records": records, "starts": starts_out, "correct": correct,
            "clean_accuracy": float(correct.mean()) if len(correct) else math.nan}


def _settings(name, s: Settings):
    hp = dict(s.hyperparameters.get(name, {}))
    if name == "pgd":
        hp = {"rel_stepsize": s.pgd["rel_stepsize"]}
    return [(h, ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in h.items())) for h in grid(hp)]


def best_per_image(records, norm, steps=None):
    """(distances (N,), best attack (N,) str, its setting (N,) str) over the records of a norm
    (and one step budget if given)."""
    rs = [r for r in records if r.norm == norm and (steps is None or r.steps == steps)]
    D = np.stack([r.distances for r in rs])  # (R, N)
    k = D.argmin(0)
    label = [",".join(filter(None, [r.setting, f"steps={r.steps}"])) for r in rs]
    return D.min(0), np.array([rs[i].attack for i in k]), np.array([label[i] for i in k])


def at_floor(records, norm, steps) -> np.ndarray:
    """(N,) bool: the image's best distance at this step budget comes from an attack run that reports it
    at that run's radius floor (:func:`attacks.radius_floor`, within half a schedule step), so it is an
    upper bound set by the attack's schedule rather than a measured minimum."""
    rs = [r for r in records if r.norm == norm and r.steps == steps]
    best = np.stack([r.distances for r in rs]).min(0)
    out = np.zeros(len(best), dtype=bool)
    for r in rs:
        if r.floor is not None:
            gamma = _gamma(r.setting)
            out |= (r.distances == best) & (r.distances > 0) & (r.distances <= r.floor * (1 + gamma / 2))
    return out


def _gamma(setting: str) -> float:
    """The gamma of a DDN setting label ('gamma=0.05,init_epsilon=0.1'); the default 0.05 when absent."""
    pairs = dict(kv.split("=", 1) for kv in setting.split(",") if "=" in kv)
    return float(pairs.get("gamma", 0.05))


def quantile(d: np.ndarray, q: float) -> float:
    """numpy's linear quantile, with inf (a failed attack) kept as inf instead of inf - inf = NaN."""
    s = np.sort(np.asarray(d, dtype=np.float64))
    pos = q * (len(s) - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, len(s) - 1)
    if pos == lo or np.isinf(s[hi]):
        return float(s[lo] if pos == lo else np.inf)
    return float(s[lo] + (s[hi] - s[lo]) * (pos - lo))


def quantiles(d: np.ndarray) -> dict:
    return {**{k: quantile(d, q) for k, q in QUANTILES.items()}, "mean": float(np.mean(d))}


def tables(result: dict, image_index: np.ndarray):
    """(adversarial, adversarial_images, adversarial_steps) DataFrames; schemas in the README."""
    records, correct = result["records"], result["correct"]
    norms = list(dict.fromkeys(r.norm for r in records))
    summary, images, steps_rows = [], [], []
    for norm in norms:
        d, attack, setting = best_per_image(records, norm)
        attack = np.where(correct, attack, "misclassified")
        setting = np.where(correct, setting, "")
        row = {"norm": norm, **quantiles(d), "n_images": len(d), "n_failed": int(np.isinf(d).sum()),
               "clean_accuracy": result["clean_accuracy"]}
        for name in sorted({r.attack for r in records if r.norm == norm}):
            row[f"best_share_{name}"] = float((attack[correct] == name).mean()) if correct.any() else math.nan
        summary.append(row)
        images.append(pd.DataFrame({"image_index": image_index, "norm": norm, "distance": d, "best_attack": attack,
                                    "best_setting": setting, "clean_correct": correct}))
        for st in sorted({r.steps for r in records if r.norm == norm}):
            ds, _, _ = best_per_image(records, norm, st)
            floor = at_floor(records, norm, st)[correct]
            steps_rows.append({"norm": norm, "steps": st, **quantiles(ds), "n_images": len(ds),
                               "floor_fraction": float(floor.mean()) if len(floor) else 0.0})
    cols = ["norm", "median", "q10", "q25", "q75", "q90", "mean", "n_images", "n_failed", "clean_accuracy"]
    adv = pd.DataFrame(summary)
    adv = adv[cols + sorted(c for c in adv.columns if c not in cols)]
    steps = pd.DataFrame(steps_rows)[["norm", "steps", "median", "q10", "q25", "q75", "q90", "mean", "n_images",
                                      "floor_fraction"]]
    return adv, pd.concat(images, ignore_index=True), steps
