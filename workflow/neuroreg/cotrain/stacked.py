"""Several co-training runs trained at once on one device: K models stacked with ``torch.func``.

The K runs share the recipe's architecture, batch size and schedule; each keeps its own seed
(initial weights, data order, stimulus batches and augmentation: the very draws that
:func:`neuroreg.cotrain.train.train` makes for that seed), its own alpha and its own similarity
target. Parameters and buffers are stacked along a leading model axis
(``torch.func.stack_module_state``) and one ``vmap``-ed ``functional_call`` runs the K models as
one network K times wider (convolutions become grouped convolutions, BatchNorm stays per model),
so a step launches the kernels of one model instead of K times as many small ones. The summed
loss has per-model gradients (the parameters are disjoint) and SGD is elementwise, so each model
follows the path it would follow alone, up to floating-point summation order
(``tests/test_cotrain_stacked.py`` checks it against :func:`train.train`).

The stacked network runs NCHW (no channels_last: the grouped convolutions of vmap). Restrictions (checked): all runs have alpha > 0 or all have alpha = 0 (an alpha = 0 run makes no
stimulus pass, which BatchNorm would otherwise see), and ``center='batch'`` (Eq. 9 with the batch
mean). ``benchmarks/cotrain_stacked.py`` times it against the plain loop.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import asdict, replace

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from .data import Cifar, Stimuli, augment, target_block, to_float
from .resnet import build
from .similarity_loss import LayerMixer, similarity_loss
from ..regularize import stimulus_batches
from .train import Recipe, _set_determinism, epoch_generator, history_row, learning_rate, use_bf16

log = logging.getLogger(__name__)


class _Joint(nn.Module):
    """The network and its layer mixer as one module: ``forward(x[, xs])`` -> logits [, S^CNN]."""

    def __init__(self, model, mixer):
        super().__init__()
        self.model, self.mixer = model, mixer

    def forward(self, x, xs=None):
        logits = self.model(x)  # CIFAR pass first, stimulus pass second: the order BatchNorm sees in train.train
        if xs is None:
            return logits
        return logits, self.mixer(self.model.features(xs))


def _check(recipes: list[Recipe], stimuli: list[Stimuli | None]):
    if not recipes:
        raise ValueError("stacked training: no runs")
    if len(stimuli) != len(recipes):
        raise ValueError(f"stacked training: {len(recipes)} recipes but {len(stimuli)} stimulus sets")
    shared = {k: v for k, v in asdict(recipes[0]).items() if k not in ("seed", "alpha")}
    for r in recipes[1:]:
        other = {k: v for k, v in asdict(r).items() if k not in ("seed", "alpha")}
        diff = sorted(k for k in shared if shared[k] != other[k])
        if diff:
            raise ValueError(f"stacked training: runs differ in {diff}; only seed and alpha may differ")
    with_sim = [r.alpha > 0 for r in recipes]
    if any(with_sim) and not all(with_sim):
        raise ValueError("stacked training: mix of alpha = 0 and alpha > 0 runs; stack them separately")
    if recipes[0].center != "batch":
        raise ValueError("stacked training: center must be 'batch'")
    for r, s in zip(recipes, stimuli):
        if r.alpha > 0 and s is None:
            raise ValueError("stacked training: alpha > 0 needs stimuli and a similarity target")


def train_stacked(recipes: list[Recipe], cifar: Cifar, stimuli: list[Stimuli | None], *, device):
    """Train K runs together. Returns a list of K ``(model, mixer, history)``, as :func:`train.train` does.

    ``stimuli[k]`` is the stimulus set and target of run k (None when alpha = 0).
    """
    _check(recipes, stimuli)
    device = torch.device(device)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        return _train_stacked(recipes, cifar, stimuli, device)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _train_stacked(recipes, cifar, stimuli, device):
    r0, K = recipes[0], len(recipes)
    _set_determinism(r0, device)
    amp = use_bf16(r0, device)
    pixels = cifar.train_images.float().div(255)
    mean, std = pixels.mean().item(), pixels.std().item()
    del pixels
    joints = []
    for r in recipes:  # the initial weights of each run: as train.train makes them
        torch.manual_seed(r.seed)
        model = build(arch=r.arch, num_classes=cifar.n_classes, width=r.width, layers=r.layers)
        model.set_normalization(mean, std)
        joints.append(_Joint(model, LayerMixer(r.layers, center=r.center)).to(device))
    params, buffers = stack_module_state(joints)
    base = copy.deepcopy(joints[0]).to("meta")
    alphas = torch.tensor([r.alpha for r in recipes], device=device)
    with_sim = r0.alpha > 0

    net = [p for n, p in params.items() if not n.startswith("mixer.")]
    opt = torch.optim.SGD(
        [{"params": net, "weight_decay": r0.weight_decay},
         {"params": [p for n, p in params.items() if n.startswith("mixer.")], "weight_decay": 0.0}],
        lr=r0.lr, momentum=r0.momentum, nesterov=r0.nesterov,
    )

    def one(p, b, x, xs=None):
        return functional_call(base, (p, b), (x,) if xs is None else (x, xs))

    forward = vmap(one)
    evaluate = vmap(one, in_dims=(0, 0, None))
    n_train, bsz = len(cifar.train_labels), r0.batch_size
    steps = math.ceil(n_train / bsz)
    histories = [[] for _ in recipes]
    for epoch in range(r0.epochs):
        t0 = time.perf_counter()
        lr = learning_rate(epoch, r0)
        for group in opt.param_groups:
            group["lr"] = lr
        gens = [epoch_generator(r.seed, epoch, device) for r in recipes]
        orders = [torch.randperm(n_train, generator=g, device=device) for g in gens]
        stim_idx = ([stimulus_batches(len(s.images), r0.stimulus_batch_size or bsz, steps, generator=g, device=device)
                     for s, g in zip(stimuli, gens)]
                    if with_sim else None)
        ce_sum = torch.zeros(K, device=device)
        sim_sum = torch.zeros(K, device=device)
        correct = torch.zeros(K, dtype=torch.int64, device=device)
        base.train()
        for step in range(steps):
            idx = torch.stack([o[step * bsz:(step + 1) * bsz] for o in orders])  # (K, B)
            x = torch.stack([augment(cifar.train_images[i], g, mode=r0.augment) for i, g in zip(idx, gens)])
            y = cifar.train_labels[idx]
            with torch.autocast(device.type, torch.bfloat16, enabled=amp):
                if with_sim:
                    si = [s_idx[step] for s_idx in stim_idx]
                    xs = torch.stack([to_float(s.images[i]) for s, i in zip(stimuli, si)])
                    logits, s_cnn = forward(params, buffers, x, xs)
                else:
                    logits = forward(params, buffers, x)
            ce = F.cross_entropy(logits.float().flatten(0, 1), y.flatten(), reduction="none").view(K, -1).mean(1)
            loss = ce.sum()
            if with_sim:
                targets = torch.stack([target_block(s.target, i) for s, i in zip(stimuli, si)])
                sim = vmap(similarity_loss, in_dims=(0, 0, None))(s_cnn.float(), targets, r0.clamp_eps)
                loss = loss + (alphas * sim).sum()
                sim_sum += sim.detach()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ce_sum += ce.detach() * idx.shape[1]
            correct += (logits.detach().argmax(2) == y).sum(1)
        test_acc = _evaluate(evaluate, params, buffers, base, cifar, r0, amp, K)
        base.train()
        seconds = (time.perf_counter() - t0) / K  # wall time of the epoch, amortized over the K runs
        gammas = torch.softmax(params["mixer.logits"].detach().float(), 1).cpu()
        for k, r in enumerate(recipes):
            row = history_row(epoch, lr, ce_sum[k].item(), sim_sum[k].item() if with_sim else None,
                              correct[k].item(), n_train, steps, test_acc[k],
                              {f"gamma_{layer}": float(g) for layer, g in zip(r.layers, gammas[k])})
            histories[k].append({**row, "seconds": seconds})
        log.info("epoch %d/%d, %d runs: test accuracy %s, %.1f s per run", epoch + 1, r0.epochs, K,
                 " ".join(f"{a:.4f}" for a in test_acc), seconds)
    return _unstack(joints, params, buffers, histories)


@torch.no_grad()
def _evaluate(evaluate, params, buffers, base, cifar, r, amp, K) -> list[float]:
    base.eval()
    correct = torch.zeros(K, dtype=torch.int64, device=cifar.test_images.device)
    for s in range(0, len(cifar.test_images), r.eval_batch_size):
        x = to_float(cifar.test_images[s:s + r.eval_batch_size])
        with torch.autocast(x.device.type, torch.bfloat16, enabled=amp):
            logits = evaluate(params, buffers, x)
        correct += (logits.argmax(2) == cifar.test_labels[s:s + r.eval_batch_size]).sum(1)
    return (correct.double() / len(cifar.test_images)).tolist()


def _unstack(joints, params, buffers, histories):
    out = []
    for k, joint in enumerate(joints):
        joint.load_state_dict({**{n: p[k].detach() for n, p in params.items()},
                               **{n: b[k] for n, b in buffers.items()}})
        out.append((joint.model, joint.mixer, histories[k]))
    return out


def recipes_for(recipe: Recipe, seeds, alphas) -> list[Recipe]:
    """K recipes that differ from ``recipe`` only in seed and alpha."""
    return [replace(recipe, seed=int(s), alpha=float(a)) for s, a in zip(seeds, alphas)]
