"""Minimal-perturbation attacks (Foolbox 3), their starting points, and PGD with an epsilon search.

All images are float tensors (N, C, H, W) in pixel space [0, 1] (the models normalize
inside); labels (N,) int64; untargeted, ``fb.criteria.Misclassification``. Minimal
attacks run with ``epsilons=None`` and return the raw adversarials; a distance is
``inf`` where the returned point is not adversarial (the model re-classifies it).

Attacks by norm (supplement, "More extensive tests on adversarial robustness"):
L2: Brendel & Bethge, Carlini & Wagner, DDN; Linf: PGD (Madry et al.) with a per-image
epsilon search, Brendel & Bethge; L1, L0: Brendel & Bethge. Brendel & Bethge starts from
points that are already adversarial (:func:`starting_points`), as its authors recommend.
``steps`` is each attack's own iteration count (C&W: per binary-search step).
"""

from __future__ import annotations

import math

import foolbox as fb
import numpy as np
import torch
import torch.nn.functional as F

NORMS = {"L0": 0, "L1": 1, "L2": 2, "Linf": math.inf}
BB = {
    "L0": fb.attacks.L0BrendelBethgeAttack,
    "L1": fb.attacks.L1BrendelBethgeAttack,
    "L2": fb.attacks.L2BrendelBethgeAttack,
    "Linf": fb.attacks.LinfinityBrendelBethgeAttack,
}
ATTACKS = {"L0": ("brendel_bethge",), "L1": ("brendel_bethge",), "L2": ("brendel_bethge", "carlini_wagner", "ddn"),
           "Linf": ("brendel_bethge", "pgd")}
GRADIENT_ONLY = ("carlini_wagner", "ddn", "pgd")  # gradient attacks that do not use the starting points


def wrap(model, device="cpu") -> fb.PyTorchModel:
    """The Foolbox model of a pixel-space classifier (inputs in [0, 1])."""
    return fb.PyTorchModel(model.eval(), bounds=(0, 1), device=device)


def distance(adv: torch.Tensor, x: torch.Tensor, norm: str) -> torch.Tensor:
    """(N,) Lp distance of each adversarial to its image; L0 counts changed pixels."""
    d = (adv - x).flatten(1)
    if norm == "L0":
        return (d != 0).sum(1).to(torch.float64)
    return d.norm(p=NORMS[norm], dim=1).to(torch.float64)


@torch.no_grad()
def is_adversarial(model, adv: torch.Tensor, y: torch.Tensor, batch_size=500) -> torch.Tensor:
    """(N,) bool: the model (not Foolbox) classifies ``adv`` as anything but ``y``."""
    if len(adv) == 0:  # e.g. a model that gets none of the attacked images right
        return torch.zeros(0, dtype=torch.bool, device=y.device)
    pred = torch.cat([model(adv[i : i + batch_size]).argmax(1) for i in range(0, len(adv), batch_size)])
    return pred != y


def checked_distance(model, adv, x, y, norm) -> np.ndarray:
    """(N,) float64 numpy: the distance where ``adv`` is adversarial, inf where it is not."""
    d = distance(adv, x, norm)
    return torch.where(is_adversarial(model, adv, y), d, torch.full_like(d, math.inf)).cpu().numpy()


@torch.no_grad()
def dataset_starts(model, x, y, pool_x, norm):
    """Per image the nearest (in ``norm``) pool image the model assigns to another class.

    Deterministic stand-in for Foolbox's ``DatasetAttack`` (which shuffles with the global
    numpy RNG). Returns (starts (N, ...) tensor, found (N,) bool).
    """
    pool_pred = torch.cat([model(pool_x[i : i + 500]).argmax(1) for i in range(0, len(pool_x), 500)])
    starts, found = x.clone(), torch.zeros(len(x), dtype=torch.bool, device=x.device)
    for i in range(len(x)):
        ok = pool_pred != y[i]
        if ok.any():
            cand = pool_x[ok]
            d = distance(cand, x[i : i + 1].expand_as(cand), norm)
            starts[i], found[i] = cand[int(d.argmin())], True
    return starts, found


def starting_points(model, x, y, pool_x, norm, *, seed=0, directions=1000, steps=1000):
    """Adversarial starting points: the closer of the dataset start and blended uniform noise.

    The blended-noise attack (``fb.attacks.LinearSearchBlendedUniformNoiseAttack``, gradient-
    free) draws from torch's global RNG, seeded here. Returns (starts, distances (N,) numpy,
    inf where neither found an adversarial). This is also the gradient-free reference of
    the gradient-masking check.
    """
    fmodel = wrap(model, x.device)
    data, found = dataset_starts(model, x, y, pool_x, norm)
    d_data = checked_distance(model, data, x, y, norm)
    d_data[~found.cpu().numpy()] = math.inf
    torch.manual_seed(seed)
    blend = fb.attacks.LinearSearchBlendedUniformNoiseAttack(directions=directions, steps=steps)
    noise, _, _ = blend(fmodel, x, fb.criteria.Misclassification(y), epsilons=None)
    d_noise = checked_distance(model, noise, x, y, norm)
    use_noise = torch.from_numpy(d_noise < d_data).to(x.device)
    starts = torch.where(use_noise[:, None, None, None], noise, data)
    return starts, np.minimum(d_noise, d_data)


def build(name: str, norm: str, steps: int, hp: dict, n: int = 1):
    """A Foolbox minimal attack: ``name`` in ATTACKS[norm], ``hp`` its hyper-parameters.

    Brendel & Bethge's ``lr`` is per sample (trust region lr x pixels, as in the paper's
    Foolbox 2): Foolbox 3.3.4 scales its trust region by the whole batch size
    (``rate_normalization = prod(x.shape)``), so it gets ``lr / n`` for a batch of ``n``;
    results then do not depend on batch size or chunking.
    """
    if name == "brendel_bethge":
        return BB[norm](steps=int(steps), lr=float(hp.get("lr", 1e-3)) / max(1, int(n)))
    if name == "carlini_wagner" and norm == "L2":
        return fb.attacks.L2CarliniWagnerAttack(
            steps=int(steps), stepsize=float(hp.get("stepsize", 1e-2)),
            binary_search_steps=int(hp.get("binary_search_steps", 5)), initial_const=float(hp.get("initial_const", 1e-3)))
    if name == "ddn" and norm == "L2":
        return fb.attacks.DDNAttack(steps=int(steps), gamma=float(hp.get("gamma", 0.05)),
                                    init_epsilon=float(hp.get("init_epsilon", 1.0)))
    raise ValueError(f"robustness.attacks: no attack {name!r} for {norm}")


def radius_floor(name: str, steps: int, hp: dict) -> float | None:
    """The smallest distance an attack with a radius schedule can report, or None (no such floor).

    DDN (Foolbox ``DDNAttack``) checks the iterate of the previous step at each of its ``steps`` steps;
    its radius starts at ``init_epsilon``, grows by (1 + gamma) after the clean first step and shrinks
    by at most (1 - gamma) a step after that, so no iterate it checks is smaller than
    init_epsilon (1 + gamma) (1 - gamma)^(steps - 2). An image whose distance sits there was adversarial
    at every step: its true minimal perturbation may be smaller, and a median of such images measures
    the schedule, not the model (checks.radius_floor).
    """
    if name != "ddn":
        return None
    gamma, init = float(hp.get("gamma", 0.05)), float(hp.get("init_epsilon", 1.0))
    return init * (1 + gamma) * (1 - gamma) ** max(int(steps) - 2, 0)


def run_minimal(model, x, y, name, norm, steps, hp, starts=None, device="cpu") -> torch.Tensor:
    """Raw adversarials (N, ...) of one Foolbox minimal attack (epsilons=None)."""
    attack = build(name, norm, steps, hp, n=len(x))
    kwargs = {"starting_points": starts} if name == "brendel_bethge" else {}
    raw, _, _ = attack(wrap(model, device), x, fb.criteria.Misclassification(y), epsilons=None, **kwargs)
    return raw


def pgd(model, x, y, eps, *, steps, rel_stepsize, generator=None):
    """Linf PGD (Madry et al.) with a per-image epsilon (N,): Foolbox LinfPGD's update
    (random start in the eps-ball, steps of rel_stepsize * eps along the sign of the
    cross-entropy gradient, projection, clipping to [0, 1]) with eps a tensor."""
    e = eps.to(x)[:, None, None, None]
    u = torch.rand(x.shape, generator=generator, device="cpu").to(x) if generator is not None else torch.rand_like(x)
    adv = (x + (2 * u - 1) * e).clamp(0, 1)
    for _ in range(int(steps)):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = adv + rel_stepsize * e * grad.sign()
            adv = (x + (adv - x).clamp(-e, e)).clamp(0, 1)
    return adv.detach()


def pgd_minimal(model, x, y, eps_hi, *, steps, rel_stepsizes, search_steps=10, repetitions=1, seed=0):
    """Minimal Linf adversarials by bisection over epsilon per image.

    eps_hi: (N,) upper bounds (the Linf distance of a known adversarial, e.g. the starting
    point; inf -> 1). At each of ``search_steps`` bisection steps PGD runs at eps = the
    midpoint with every rel_stepsize and repetition (random start from a generator seeded
    by ``seed``); an image whose PGD succeeds lowers its upper bound to the distance found.
    Returns (advs, distances (N,) numpy, inf where PGD never succeeded).
    """
    model.eval()
    hi = torch.as_tensor(np.minimum(np.asarray(eps_hi, dtype=np.float64), 1.0), device=x.device)
    lo = torch.zeros_like(hi)
    best = torch.full_like(hi, math.inf)
    best_adv = x.clone()
    g = torch.Generator().manual_seed(int(seed))
    for _ in range(int(search_steps)):
        mid = (lo + hi) / 2
        ok_any = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for rel in rel_stepsizes:
            for _ in range(int(repetitions)):
                adv = pgd(model, x, y, mid, steps=steps, rel_stepsize=float(rel), generator=g)
                ok = is_adversarial(model, adv, y)
                d = distance(adv, x, "Linf")
                better = ok & (d < best)
                best = torch.where(better, d, best)
                best_adv[better] = adv[better]
                ok_any |= ok
        hi = torch.where(ok_any, torch.minimum(mid, best), hi)
        lo = torch.where(ok_any, lo, mid)
    return best_adv, best.cpu().numpy()
