"""Minimal-perturbation attacks (Foolbox 3), their starting points, and PGD with an epsilon search.

All images are float tensors (N, C, H, W) in pixel space [0, 1] (the models normalize
inside); labels (N,) int64; untargeted, ``fb.criteria.Misclassification``. Minimal
attacks run with ``epsilons=None`` and return the raw adversarials; a distance is
``inf`` where the returned point is not adversarial (the model re-classifies it).

Attacks by norm (supplement, "More extensive tests on adversarial robustness"):
L2: Brendel & Bethge, Carlini & Wagner, DDN, FMN; Linf: PGD (Madry et al.) with a per-image
epsilon search, FMN, Brendel & Bethge; L1: Brendel & Bethge, FMN; L0: Brendel & Bethge. FMN (Fast
Minimum Norm, Pintor et al. 2021) starts from the clean image; Brendel & Bethge starts from
points that are already adversarial (:func:`starting_points`), as its authors recommend.
``steps`` is each attack's own iteration count (C&W: per binary-search step).
"""

from __future__ import annotations

import math

import eagerpy as ep
import foolbox as fb
import numpy as np
import torch
import torch.nn.functional as F
from foolbox.devutils import atleast_kd, flatten

NORMS = {"L0": 0, "L1": 1, "L2": 2, "Linf": math.inf}
BB = {
    "L0": fb.attacks.L0BrendelBethgeAttack,
    "L1": fb.attacks.L1BrendelBethgeAttack,
    "L2": fb.attacks.L2BrendelBethgeAttack,
    "Linf": fb.attacks.LinfinityBrendelBethgeAttack,
}


class L2FMN(fb.attacks.L2FMNAttack):
    """Foolbox's L2 FMN (Pintor et al. 2021) with its projection mended.

    Foolbox 3.3.4 (and its main branch) computes ``factor = min(1, norms / norms)`` from the norms of x rather than
    x - x0, which is always 1: the iterate is never projected onto the epsilon ball, and the attack returns its
    first adversarial iterate, at distance ``max_stepsize`` (tests/test_robustness.py shows both). This is the
    paper's projection, x0 + (x - x0) min(1, epsilon / ||x - x0||_2).
    """

    def project(self, x, x0, epsilon):
        norms = ep.maximum(flatten(x - x0).norms.l2(axis=-1), 1e-12)
        return x0 + (x - x0) * atleast_kd(ep.minimum(1, epsilon / norms), x.ndim)


FMN = {"L1": fb.attacks.L1FMNAttack, "L2": L2FMN, "Linf": fb.attacks.LInfFMNAttack}
ATTACKS = {"L0": ("brendel_bethge",), "L1": ("brendel_bethge", "fmn"),
           "L2": ("brendel_bethge", "carlini_wagner", "ddn", "fmn"), "Linf": ("brendel_bethge", "fmn", "pgd")}
GRADIENT_ONLY = ("carlini_wagner", "ddn", "fmn", "pgd")  # gradient attacks that do not use the starting points


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


class Autocast(torch.nn.Module):
    """``model`` under bf16 autocast with fp32 logits: the attacks' search model (``robustness.precision: bf16``).
    Every distance it finds is then checked on the fp32 model (:func:`verified_distance`)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        with torch.autocast(x.device.type, torch.bfloat16):
            return self.model(x).float()


RAY_SCALES = (1 + 1 / 64, 1 + 1 / 32, 1 + 1 / 16, 1.125, 1.25, 1.5, 2.0)


@torch.no_grad()
def verified_distance(model, adv, x, y, norm, *, bisection_steps: int = 5) -> tuple[np.ndarray, int]:
    """(distances (N,) float64 numpy, how many were moved): the distance of each ``adv`` that ``model`` (fp32)
    misclassifies; where it does not (a point found on the bf16 search model can sit just inside the fp32
    boundary), the point is moved out along its own perturbation, x + t (adv - x) clipped to [0, 1], to the
    smallest t of :data:`RAY_SCALES` (1.016 ... 2) that ``model`` misclassifies, refined by ``bisection_steps``
    bisection steps between that t and the one before; inf where even t = 2 is not adversarial (the attack failed).
    Forward passes only, on the images that need them."""
    ok = is_adversarial(model, adv, y)
    out = adv.clone()
    need = torch.nonzero(~ok).flatten()
    moved = 0
    if len(need):
        xs, delta, ys = x[need], (adv - x)[need], y[need]
        lo = torch.ones(len(need), dtype=x.dtype, device=x.device)
        hi = torch.full_like(lo, math.inf)
        for t in RAY_SCALES:
            todo = torch.isinf(hi)
            if not todo.any():
                break
            pts = (xs[todo] + t * delta[todo]).clamp(0, 1)
            hit = is_adversarial(model, pts, ys[todo])
            sel = torch.nonzero(todo).flatten()
            hi[sel[hit]] = t
            lo[sel[~hit]] = t
        found = torch.isfinite(hi)
        for _ in range(int(bisection_steps) if found.any() else 0):
            mid = (lo + hi) / 2
            pts = (xs[found] + mid[found, None, None, None] * delta[found]).clamp(0, 1)
            hit = is_adversarial(model, pts, ys[found])
            sel = torch.nonzero(found).flatten()
            hi[sel[hit]] = mid[sel[hit]]
            lo[sel[~hit]] = mid[sel[~hit]]
        idx = need[found]
        out[idx] = (xs[found] + hi[found, None, None, None] * delta[found]).clamp(0, 1)
        ok[idx] = True
        moved = int(found.sum())
    d = distance(out, x, norm)
    return torch.where(ok, d, torch.full_like(d, math.inf)).cpu().numpy(), moved


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


def blended_noise(model, x, y, *, seed=0, directions=1000, steps=1000) -> torch.Tensor:
    """Gradient-free adversarials: ``fb.attacks.LinearSearchBlendedUniformNoiseAttack`` (each image blended with
    uniform noise, the smallest blend the model misclassifies along a line search of ``steps``); it draws from
    torch's global RNG, seeded here. The same points serve every norm (:func:`starting_points`)."""
    torch.manual_seed(seed)
    blend = fb.attacks.LinearSearchBlendedUniformNoiseAttack(directions=directions, steps=steps)
    noise, _, _ = blend(wrap(model, x.device), x, fb.criteria.Misclassification(y), epsilons=None)
    return noise


def starting_points(model, x, y, pool_x, norm, *, seed=0, directions=1000, steps=1000, noise=None):
    """Adversarial starting points: the closer (in ``norm``) of the dataset start and blended uniform noise.

    ``noise``: the points of :func:`blended_noise` for x (computed here when None). Returns (starts,
    distances (N,) numpy, inf where neither found an adversarial). This is also the gradient-free reference of
    the gradient-masking check.
    """
    data, found = dataset_starts(model, x, y, pool_x, norm)
    d_data = checked_distance(model, data, x, y, norm)
    d_data[~found.cpu().numpy()] = math.inf
    if noise is None:
        noise = blended_noise(model, x, y, seed=seed, directions=directions, steps=steps)
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
    if name == "fmn" and norm in FMN:  # Fast Minimum Norm (Pintor et al. 2021), from the clean image
        return FMN[norm](steps=int(steps), max_stepsize=float(hp.get("max_stepsize", 1.0)),
                         gamma=float(hp.get("gamma", 0.05)))
    raise ValueError(f"robustness.attacks: no attack {name!r} for {norm}")


def floor(name: str, steps: int, hp: dict, n: int) -> np.ndarray | None:
    """(n,) the smallest distance each image's run of a Foolbox minimal attack can report, or None (C&W, Brendel &
    Bethge: no schedule floor). DDN: :func:`radius_floor`. FMN: 0; its radius follows the linearised distance to
    the boundary, ||delta|| + |margin| / ||gradient||_dual (Pintor et al. 2021), so no schedule bounds it below."""
    if name == "ddn":
        return np.full(n, radius_floor(name, steps, hp))
    if name == "fmn":
        return np.zeros(n)
    return None


def bisection_floor(eps_hi, search_steps: int, lower: float = 0.0) -> np.ndarray:
    """(N,) the smallest Linf distance :func:`pgd_minimal` can report from upper bounds ``eps_hi``: min(eps_hi, 1)
    times (1 + lower) / 2 at each bisection step after the first (PGD succeeded at the bound and at every midpoint;
    lower 0: halved)."""
    return (np.minimum(np.asarray(eps_hi, dtype=np.float64), 1.0)
            * ((1.0 + float(lower)) / 2.0) ** max(int(search_steps) - 1, 0))


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


def margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(N,) the largest other logit minus the true one (> 0: misclassified; Carlini & Wagner's margin)."""
    true = logits.gather(1, y[:, None])[:, 0]
    return logits.scatter(1, y[:, None], -math.inf).amax(1) - true


def pgd(model, x, y, eps, *, steps, rel_stepsize, generator=None, loss="ce", start=None):
    """Linf PGD (Madry et al.) with a per-image epsilon (N,): Foolbox LinfPGD's update
    (random start in the eps-ball, steps of rel_stepsize * eps along the sign of the
    gradient, projection, clipping to [0, 1]) with eps a tensor; an image stops at the first iterate the model
    misclassifies (so later steps cost only the images still going). ``loss``: ``ce``, the cross-entropy
    (Foolbox's), or ``margin`` (:func:`margin`, which keeps its gradient near the boundary where the
    cross-entropy's flattens). ``start``: optional (points (N, ...), use (N,) bool): where ``use``, PGD starts from
    the point projected into the eps-ball (a warm start) instead of a random one; the random draw is the same."""
    if loss not in ("ce", "margin"):
        raise ValueError(f"robustness.pgd.loss: {loss!r} is not ce or margin")
    e = eps.to(x)[:, None, None, None]
    u = torch.rand(x.shape, generator=generator, device="cpu").to(x) if generator is not None else torch.rand_like(x)
    adv = (x + (2 * u - 1) * e).clamp(0, 1)
    if start is not None and start[1].any():
        w = start[1]
        adv[w] = (x[w] + (start[0][w] - x[w]).clamp(-e[w], e[w])).clamp(0, 1)
    active = torch.arange(len(x), device=x.device)  # images not yet adversarial: an image stops where it first is
    for _ in range(int(steps)):
        xa, ya, ea = x[active], y[active], e[active]
        a = adv[active].requires_grad_(True)
        logits = model(a)
        going = logits.argmax(1) == ya
        if not going.any():
            break
        objective = (F.cross_entropy(logits[going], ya[going], reduction="sum") if loss == "ce"
                     else margin(logits[going].float(), ya[going]).sum())
        (grad,) = torch.autograd.grad(objective, a)
        with torch.no_grad():
            step = a + rel_stepsize * ea * grad.sign()
            step = (xa + (step - xa).clamp(-ea, ea)).clamp(0, 1)
            adv[active[going]] = step[going]
        active = active[going]
    return adv.detach()


def pgd_minimal(model, x, y, eps_hi, *, steps, rel_stepsizes, search_steps=10, repetitions=1, seed=0, loss="ce",
                lower=0.0):
    """Minimal Linf adversarials by bisection over epsilon per image.

    eps_hi: (N,) upper bounds (the Linf distance of a known adversarial: the starting point, or another attack's;
    inf -> 1). The first of ``search_steps`` steps runs PGD (:func:`pgd`, its ``loss``) at eps = the bound itself
    (so PGD finds its own adversarial there), each later one at the midpoint of [lo, hi], with every rel_stepsize
    and repetition (random start from a generator seeded by ``seed``); an image whose PGD succeeds lowers its upper
    bound to the distance found, one where it fails raises its lower bound to the midpoint. Once an image has an
    adversarial, each later step starts from it projected into the smaller box (a warm start: on validation images
    of two laptop models the same distances at 17-18 % less time than random starts). Until PGD first fails
    on an image, its lower end is ``lower`` x its upper bound (0: plain bisection from 0, which resolves only
    halvings of a near-minimal bound; 0.9: the search spends its steps within 10 % below the bound, where a
    refinement of a strong attack's distance lies). Returns (advs, distances (N,) numpy, inf where PGD never
    succeeded); the smallest it can report is :func:`bisection_floor`.
    """
    if not 0.0 <= float(lower) < 1.0:
        raise ValueError(f"robustness.pgd.lower: {lower!r} is not in [0, 1)")
    model.eval()
    hi = torch.as_tensor(np.minimum(np.asarray(eps_hi, dtype=np.float64), 1.0), device=x.device)
    lo = hi * float(lower)
    failed = torch.zeros(len(x), dtype=torch.bool, device=x.device)  # lo is a failure's epsilon, not a guess
    best = torch.full_like(hi, math.inf)
    best_adv = x.clone()
    g = torch.Generator().manual_seed(int(seed))
    for k in range(int(search_steps)):
        mid = hi if k == 0 else (lo + hi) / 2
        ok_any = torch.zeros(len(x), dtype=torch.bool, device=x.device)
        for rel in rel_stepsizes:
            for _ in range(int(repetitions)):
                adv = pgd(model, x, y, mid, steps=steps, rel_stepsize=float(rel), generator=g, loss=loss,
                          start=(best_adv, torch.isfinite(best)))
                ok = is_adversarial(model, adv, y)
                d = distance(adv, x, "Linf")
                better = ok & (d < best)
                best = torch.where(better, d, best)
                best_adv[better] = adv[better]
                ok_any |= ok
        hi = torch.where(ok_any, torch.minimum(mid, best), hi)
        lo = torch.where(ok_any, torch.where(failed, lo, hi * float(lower)), mid)
        failed |= ~ok_any
    return best_adv, best.cpu().numpy()
