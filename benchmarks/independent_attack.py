"""An independent minimal-perturbation search on the models of a run: does it find smaller adversarial distances than
the run reports? (DESIGN: "an independent search should rarely, under 5 % of images, find a smaller one".)

    python benchmarks/independent_attack.py --run results/laptop --condition none --seed 0 [--bn cifar]
                                            [--norms L2 Linf] [--steps 50] [--search-steps 10] [--restarts 1]

Written here from Madry et al. (2018), without the project's attack code and without Foolbox: projected gradient
ascent on the margin loss (the largest other logit minus the true one, not the cross-entropy the project's PGD uses),
from a random start in the epsilon ball (L2: a uniformly drawn direction and radius; Linf: uniform in the box),
``--steps`` iterations of step 2.5 epsilon / steps (L2 along the normalised gradient, projection onto the ball;
Linf along its sign, projection onto the box), clipping to [0, 1], ``--restarts`` random starts. The epsilon of each
image is searched on its own: doubled from 1/16 of a fixed start (L2 2, Linf 1/32) until PGD succeeds (at most 8
doublings), then ``--search-steps`` bisection steps between the last failure and that success; the reported
distance is the norm of the best adversarial found, checked on the fp32 model. The model (and its BatchNorm
variant, ``--bn``) is loaded like the robustness stage loads it. On the run's correctly classified images it
compares with ``adversarial_images.csv``: the share of images where this search is smaller by more than 1 %, the
median ratio, and the ratio's 10th percentile; one JSON line per norm to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neuroreg import config as C
from neuroreg.robustness import loading

REPO = Path(__file__).resolve().parents[1]
START = {"L2": 2.0, "Linf": 1 / 32}


def margin(model, x, y):
    logits = model(x)
    true = logits.gather(1, y[:, None])[:, 0]
    other = logits.scatter(1, y[:, None], -torch.inf).amax(1)
    return other - true  # > 0: misclassified


def pgd(model, x, y, eps, norm, steps, restarts, g):
    """(best adversarial (N, ...), success (N,) bool) of PGD at per-image radius ``eps`` (N,)."""
    e = eps.view(-1, 1, 1, 1)
    best, found = x.clone(), torch.zeros(len(x), dtype=torch.bool)
    for _ in range(restarts):
        if norm == "L2":
            d = torch.randn(x.shape, generator=g)
            d = d / d.flatten(1).norm(dim=1).view(-1, 1, 1, 1) * torch.rand(len(x), 1, 1, 1, generator=g) * e
        else:
            d = (2 * torch.rand(x.shape, generator=g) - 1) * e
        adv = (x + d).clamp(0, 1)
        for _ in range(steps):
            adv.requires_grad_(True)
            (grad,) = torch.autograd.grad(margin(model, adv, y).sum(), adv)
            with torch.no_grad():
                if norm == "L2":
                    step = grad / grad.flatten(1).norm(dim=1).clamp_min(1e-12).view(-1, 1, 1, 1)
                    adv = adv + 2.5 * e / steps * step
                    delta = adv - x
                    n = delta.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
                    adv = (x + delta * torch.clamp(e / n.clamp_min(1e-12), max=1.0)).clamp(0, 1)
                else:
                    adv = adv + 2.5 * e / steps * grad.sign()
                    adv = (x + (adv - x).clamp(-e, e)).clamp(0, 1)
                ok = margin(model, adv, y) > 0
            new = ok & ~found
            best[new] = adv[new].detach()
            found |= ok
    return best, found


def distance(adv, x, norm):
    d = (adv - x).flatten(1)
    return d.norm(dim=1) if norm == "L2" else d.abs().amax(1)


def search(model, x, y, norm, steps, search_steps, restarts, seed):
    """Per-image minimal distances (N,) (inf where none was found) of the doubling + bisection search."""
    g = torch.Generator().manual_seed(seed)
    n = len(x)
    lo = torch.zeros(n)
    hi = torch.full((n,), START[norm] / 16)
    best = torch.full((n,), float("inf"))
    pending = torch.ones(n, dtype=torch.bool)
    for _ in range(9):  # doubling until PGD succeeds
        if not pending.any():
            break
        idx = pending.nonzero()[:, 0]
        adv, ok = pgd(model, x[idx], y[idx], hi[idx], norm, steps, restarts, g)
        d = distance(adv, x[idx], norm)
        best[idx[ok]] = torch.minimum(best[idx[ok]], d[ok])
        lo[idx[~ok]] = hi[idx[~ok]]
        hi[idx[~ok]] *= 2
        pending[idx[ok]] = False
    live = torch.isfinite(best)
    hi = torch.where(live, torch.minimum(hi, best), hi)
    for _ in range(search_steps):
        idx = live.nonzero()[:, 0]
        mid = (lo[idx] + hi[idx]) / 2
        adv, ok = pgd(model, x[idx], y[idx], mid, norm, steps, restarts, g)
        d = distance(adv, x[idx], norm)
        best[idx[ok]] = torch.minimum(best[idx[ok]], d[ok])
        hi[idx[ok]] = torch.minimum(mid[ok], best[idx[ok]])
        lo[idx[~ok]] = mid[~ok]
    return best.numpy()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=Path("results/laptop"))
    p.add_argument("--config", type=Path, default=REPO / "config" / "laptop.yaml")
    p.add_argument("--condition", default="none")
    p.add_argument("--alpha", default=None, help="the run's alpha label (default: 0 for none, else cotrain.alpha)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--bn", default=None, help="BatchNorm variant (default: the run's primary)")
    p.add_argument("--norms", nargs="+", default=["L2", "Linf"])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--search-steps", type=int, default=10)
    p.add_argument("--restarts", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "independent_attack.jsonl")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cfg = C.load([a.config], base=REPO / "config.yaml")
    alpha = a.alpha or ("0" if a.condition == "none" else f"{float(cfg['cotrain']['alpha']):g}")
    bn = a.bn or cfg["robustness"]["bn"][0]
    model_dir = a.run / "cotrain" / a.condition / f"alpha{alpha}" / f"seed{a.seed}"
    robust_dir = a.run / "robustness" / a.condition / f"alpha{alpha}" / f"seed{a.seed}"
    rcfg = {**cfg["robustness"], "bn": [bn], "bn_images": min(cfg["robustness"]["bn_images"],
                                                                cfg["cotrain"]["n_train"] or 10**9)}
    model = loading.load_variants(model_dir / "model.pt", model_dir / "metrics.json", a.run / "data" / "cifar10.h5", rcfg,
                             "cpu")[bn]
    for prm in model.parameters():
        prm.requires_grad_(False)
    images = pd.read_csv(robust_dir / "adversarial_images.csv")
    images = images[images["bn"] == bn] if "bn" in images else images
    x_all, y_all = loading.load_test(a.run / "data" / "cifar10.h5", int(images["image_index"].max()) + 1)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for norm in a.norms:
        rows = images[(images["norm"] == norm) & images["clean_correct"]].sort_values("image_index")
        idx = torch.as_tensor(rows["image_index"].to_numpy())
        x = x_all[idx].float().div(255.0)
        y = y_all[idx]
        t0 = time.perf_counter()
        ours = search(model, x, y, norm, a.steps, a.search_steps, a.restarts, seed=a.seed)
        reported = rows["distance"].to_numpy(float)
        ratio = ours / reported
        res = {"run": str(a.run), "condition": a.condition, "seed": a.seed, "bn": bn, "norm": norm,
               "n_images": len(rows), "steps": a.steps, "search_steps": a.search_steps, "restarts": a.restarts,
               "smaller_share": float(np.mean(ratio < 0.99)), "median_ratio": float(np.median(ratio)),
               "q10_ratio": float(np.quantile(ratio, 0.1)), "failed": int(np.isinf(ours).sum()),
               "median_independent": float(np.median(ours)), "median_reported": float(np.median(reported)),
               "seconds": time.perf_counter() - t0}
        with open(a.out, "a") as f:
            f.write(json.dumps(res) + "\n")
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
