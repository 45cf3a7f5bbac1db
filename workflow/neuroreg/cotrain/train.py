"""The training recipe of section 4.1 with the neural similarity loss (Eq. 7), resumable.

Each step: a CIFAR batch (cross-entropy) and, when alpha > 0, a batch of stimulus images
whose pairwise similarities S^CNN (Eq. 9-10) are compared with the target (Eq. 8):
L = L_task + alpha * L_similarity (Eq. 7). alpha = 0 skips the stimulus pass entirely.

Recipe: SGD, momentum 0.9, weight decay 5e-4 (the usual CIFAR-ResNet values; on every
network weight incl. BatchNorm, none on the gamma logits: decay would pull gamma towards
uniform), 40 epochs, batch 64, lr 0.1 * 0.3 ** ((epoch % 20) // 4) (decay x0.3 every 4
epochs, reset to 0.1 after epoch 20), held for the whole epoch. The last, partial CIFAR
batch of an epoch is kept. Stimulus batches: 64 images per step, drawn without
replacement from a fresh permutation of the n stimuli each time one is used up. The
stimulus pass runs in train mode, so BatchNorm sees (and its running statistics
include) stimulus batches as well. ``stimulus_every: k`` (1 in the paper) runs the stimulus
pass on every k-th step only, its loss weighted k x alpha, its BatchNorm momentum raised so
that the running statistics hold as much of the photos as with every step (a CPU saving,
docs/RESULTS.md "The CPU fast path").

Data are resident on the device; the network runs channels_last and, where the hardware has
bf16 arithmetic (CUDA; CPUs with AVX-512 bf16 or AMX), under bf16 autocast (``precision: auto``;
the loss math, the similarities and the weights stay fp32). ``precision: fp32`` is the plain loop. Randomness: the initial weights come from
``torch.manual_seed(seed)``; every epoch draws its order, stimulus batches and augmentation
from its own generator seeded by (seed, epoch), so an epoch replayed after a resume draws
exactly what it drew the first time. A checkpoint (model, gamma, optimizer, RNG states,
history) is written atomically after every epoch; a killed job restarts from the last
one and ends bit-identical (on the CPU) to an uninterrupted run.
"""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

from neuroreg import regularize
from neuroreg.config import defaults as config_defaults
from neuroreg.config import schema as config_schema
from neuroreg.files import InputError, atomic_output
from neuroreg.progress import Progress
from neuroreg.regularize import frozen_bn_statistics, stimulus_bn_momentum  # noqa: F401 - the trainer's names too

from .data import Cifar, Stimuli, augment, target_block, to_float
from ..resnet import ResNet, build
from .multitask import MultitaskReadout
from .similarity_loss import CKA_FORMS, LayerMixer

log = logging.getLogger(__name__)


_DEFAULT = config_defaults("cotrain")
_MTL = config_defaults("cotrain")["mtl"]
REGULARIZERS = ("similarity", "mtl")


@dataclass
class Recipe:
    """One run's recipe (section 4.1). Defaults: the schema's cotrain section; alpha and seed are the run's."""

    arch: str = _DEFAULT["arch"]
    width: int = _DEFAULT["width"]  # channels of stage 1 (64 = the standard ResNet)
    epochs: int = _DEFAULT["epochs"]
    batch_size: int = _DEFAULT["batch_size"]  # CIFAR images and stimulus images per step
    lr: float = _DEFAULT["lr"]
    lr_decay: float = _DEFAULT["lr_decay"]
    lr_step: int = _DEFAULT["lr_step"]  # epochs between decays
    lr_reset_epoch: int = _DEFAULT["lr_reset_epoch"]  # lr back to `lr` every this many epochs (0 = never)
    momentum: float = _DEFAULT["momentum"]
    weight_decay: float = _DEFAULT["weight_decay"]
    nesterov: bool = _DEFAULT["nesterov"]
    layers: tuple = tuple(_DEFAULT["layers"])  # conv layers of Eq. 10
    alpha: float = 0.0  # Eq. 7, the run's (0 = no similarity loss); config cotrain.alpha is the main-text runs'
    clamp_eps: float = _DEFAULT["clamp_eps"]  # Eq. 8: similarities clamped to [-1 + eps, 1 - eps]
    center: str = _DEFAULT["center"]  # Eq. 9: f-bar = batch mean ('batch') or running mean ('ema')
    seed: int = 0  # the run's torch seed (neuroreg.seeds.cotrain_seed)
    eval_batch_size: int = _DEFAULT["eval_batch_size"]
    deterministic: bool = _DEFAULT["deterministic"]  # deterministic kernels (always bit-identical on the CPU)
    precision: str = _DEFAULT["precision"]  # network arithmetic: auto (bf16 where the device has it) | bf16 | fp32
    channels_last: bool = _DEFAULT["channels_last"]  # NHWC activations (oneDNN / cuDNN's fast layout)
    augment: str = _DEFAULT["augment"]  # CIFAR augmentation: crop_flip | flip | none
    stimulus_batch_size: int | None = _DEFAULT["stimulus_batch_size"]  # stimuli per step (None = batch_size)
    bn_running_stats: str = _DEFAULT["bn_running_stats"]  # BatchNorm's running estimates from: cifar | all batches
    stimulus_every: int = _DEFAULT["stimulus_every"]  # the stimulus pass every k-th step, weighted k x alpha (1 = the paper)
    # the other methods (docs/RESULTS.md, "Other ways to learn from brains"); set from the run's condition (conditions.Condition.recipe)
    regularizer: str = "similarity"  # what alpha weighs: similarity (S^CNN vs the target) | mtl (a readout's Poisson loss)
    loss: str = "arctanh"  # similarity loss: arctanh (Eq. 8) | cka (1 - linear CKA) | logcka (log(1 - CKA))
    mtl_layer: int = _MTL["layer"]  # conv layer the multi-task readout reads
    mtl_init_mu_range: float = _MTL["init_mu_range"]
    mtl_init_sigma: float = _MTL["init_sigma"]
    mtl_readout_lr: float = _MTL["readout_lr"]  # readout lr = lr * this * n_neurons (the loss is a mean over neurons)
    blur_sigma: float = 0.0  # the fixed Gaussian low-pass front end (0 = none)

    @classmethod
    def from_config(cls, cfg: dict, **overrides) -> "Recipe":
        """From a ``cotrain`` config section: its recipe keys (the section's others, such as ``conditions`` or
        ``threads``, say what runs and how, not how a model trains); a key that is neither is an error naming it,
        as in ``EncoderConfig``."""
        names = {f.name for f in fields(cls)}
        section = set(config_schema()["properties"]["cotrain"]["properties"])
        unknown = sorted(set(cfg) - names - section)
        if unknown:
            raise InputError("config", "cotrain", f"unknown keys {unknown}")
        merged = {**cfg, **overrides}
        for k, v in (merged.get("mtl") or {}).items():  # the cotrain.mtl section -> mtl_* fields
            if f"mtl_{k}" in names and f"mtl_{k}" not in overrides:
                merged[f"mtl_{k}"] = v
        kw = {k: v for k, v in merged.items() if k in names}
        if "layers" in kw:
            kw["layers"] = tuple(kw["layers"])
        return cls(**kw)


PRECISIONS = ("auto", "bf16", "fp32")


def cpu_has_bf16() -> bool:
    """True when this CPU does bf16 arithmetic natively (AVX-512 bf16 or AMX), where oneDNN runs
    bf16 convolutions about twice as fast as fp32; without it bf16 is emulated and slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # an older torch without the probes
        return False


def use_bf16(r: "Recipe", device) -> bool:
    """Whether the network runs under bf16 autocast on ``device`` (``Recipe.precision``)."""
    device = torch.device(device)
    if r.precision not in PRECISIONS:
        raise ValueError(f"cotrain.precision: {r.precision!r} is not one of {', '.join(PRECISIONS)}")
    if r.precision == "fp32":
        return False
    native = device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16())
    if r.precision == "bf16" and device.type == "cpu" and not native:
        log.warning("cotrain.precision: bf16 on a CPU without native bf16 arithmetic: emulated, slower than fp32")
    return r.precision == "bf16" or native


def learning_rate(epoch: int, r: Recipe) -> float:
    """Section 4.1: lr at (0-based) ``epoch``: 0.1 * 0.3 ** ((epoch % 20) // 4)."""
    e = epoch % r.lr_reset_epoch if r.lr_reset_epoch else epoch
    return r.lr * r.lr_decay ** (e // r.lr_step)


def epoch_generator(seed: int, epoch: int, device) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))
    return g


@torch.no_grad()
def evaluate(model: ResNet, images: torch.Tensor, labels: torch.Tensor, r: Recipe, amp: bool) -> float:
    """Accuracy (0..1) on uint8 images (N, 1, H, W) in eval mode, in batches."""
    model.eval()
    correct = torch.zeros((), dtype=torch.int64, device=images.device)
    for s in range(0, len(images), r.eval_batch_size):
        x = _layout(to_float(images[s : s + r.eval_batch_size]), r)
        with torch.autocast(images.device.type, torch.bfloat16, enabled=amp):
            correct += (model(x).argmax(1) == labels[s : s + r.eval_batch_size]).sum()
    return correct.item() / len(images)


def _layout(x, r: "Recipe"):
    return x.contiguous(memory_format=torch.channels_last) if r.channels_last else x


def _rng_state(device):
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_determinism(r: Recipe, device):
    if device.type == "cuda":
        if r.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = not r.deterministic
        torch.use_deterministic_algorithms(r.deterministic, warn_only=True)
    else:
        torch.use_deterministic_algorithms(True)


def train_step(model, mixer, opt, cifar: Cifar, idx, stimuli: Stimuli | None, stim_idx, r: Recipe, g, amp: bool,
               head=None):
    """One optimizer step of Eq. 7 on CIFAR batch ``idx`` (+ stimulus batch ``stim_idx`` unless None).

    The regularizer is the public API's (:mod:`neuroreg.regularize`, the code a user's own loop runs): the
    features of the conv layers by forward hooks (:func:`~neuroreg.regularize.layer_features`, the pass stopping
    after the deepest layer) and :func:`~neuroreg.regularize.regularization_loss` of ``r.regularizer``:
    ``similarity``, S^CNN (Eq. 9-10, ``mixer``) against the target block with Eq. 8 or, for ``r.loss`` cka / logcka,
    the CKA loss; ``mtl``, the Poisson loss of ``head`` (a :class:`MultitaskReadout` of layer ``r.mtl_layer``) on the
    stimulus batch's responses. Its weight is ``r.alpha * r.stimulus_every``: a stimulus pass every k-th step weighs
    k times, so that over the steps the regularizer's gradient is alpha's in expectation (:func:`stimulus_step`).
    Returns detached (cross-entropy, regularizer loss or None, logits).
    """
    device = cifar.train_images.device
    x = _layout(augment(cifar.train_images[idx], g, mode=r.augment), r)
    y = cifar.train_labels[idx]
    with torch.autocast(device.type, torch.bfloat16, enabled=amp):
        logits = model(x)
    ce = F.cross_entropy(logits.float(), y)
    loss, sim = ce, None
    if stim_idx is not None:
        xs = _layout(to_float(stimuli.images[stim_idx]), r)
        mtl = r.regularizer == "mtl"
        names = [model.layer_name(k) for k in ((r.mtl_layer,) if mtl else r.layers)]
        with torch.autocast(device.type, torch.bfloat16, enabled=amp), stimulus_bn_statistics(model, r):
            feats = regularize.layer_features(model, xs, names)
        target = stimuli.target[stim_idx] if mtl else target_block(stimuli.target, stim_idx)
        sim = regularize.regularization_loss(feats, target, form="readout" if mtl else r.loss, mixer=mixer, readout=head,
                                             clamp_eps=r.clamp_eps)  # fp32
        loss = loss + r.alpha * r.stimulus_every * sim
        sim = sim.detach()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return ce.detach(), sim, logits.detach()


def stimulus_step(step: int, every: int) -> bool:
    """Whether (0-based) ``step`` of an epoch runs the stimulus pass: every ``every``-th step from the first."""
    return step % every == 0


def stimulus_bn_statistics(model, r: "Recipe"):
    """The stimulus pass's BatchNorm updates (``r.bn_running_stats``), :func:`neuroreg.regularize.bn_statistics`:
    none with ``cifar`` (:func:`frozen_bn_statistics`); with ``all``, each layer's own momentum when the pass runs
    every step, the momentum of :func:`stimulus_bn_momentum` when it runs every ``r.stimulus_every``-th step."""
    return regularize.bn_statistics(model, update=r.bn_running_stats == "all", every=r.stimulus_every)


def history_row(epoch: int, lr: float, ce_total: float, sim_total: float | None, correct: int, n_train: int,
                steps: int, test_accuracy: float, gamma: dict) -> dict:
    """One row of history.csv for (0-based) ``epoch``, without ``seconds``: the cross-entropy summed over
    the training images, the similarity loss summed over the ``steps`` steps that ran the stimulus pass (None
    when alpha = 0)."""
    return {
        "epoch": epoch + 1,
        "lr": lr,
        "cross_entropy": ce_total / n_train,
        "similarity_loss": sim_total / steps if sim_total is not None else float("nan"),
        "train_accuracy": correct / n_train,
        "test_accuracy": test_accuracy,
        **gamma,
    }


def set_learning_rate(opt, lr: float) -> None:
    """The epoch's learning rate on every group, times the group's ``lr_scale`` (the readout's)."""
    for group in opt.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)


def make_optimizer(model, mixer, r: Recipe, head=None) -> torch.optim.SGD:
    """SGD with momentum; weight decay on the network, none on the gamma logits (nor on the multi-task
    readout ``head``, whose feature weights start at 1/C and whose positions decay would pull to the centre).
    The readout's group steps at ``lr * r.mtl_readout_lr * n_neurons``: its loss is a mean over the
    neurons, so without the factor each neuron's own weights would learn at lr / n_neurons."""
    groups = [{"params": model.parameters(), "weight_decay": r.weight_decay},
              *regularize.param_groups(mixer, head, readout_lr=r.mtl_readout_lr)]  # lr_scale: Recipe.mtl_readout_lr
    opt = torch.optim.SGD(groups, lr=r.lr, momentum=r.momentum, nesterov=r.nesterov)
    set_learning_rate(opt, r.lr)
    return opt


def train(r: Recipe, cifar: Cifar, stimuli: Stimuli | None, *, device, checkpoint_path=None):
    """Train one model. Returns (model, mixer, history: list of per-epoch dicts).

    ``stimuli`` may be None only when ``r.alpha == 0``. ``checkpoint_path``: written after
    every epoch and resumed from when present (and written by the same recipe).
    """
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    try:
        return _train(r, cifar, stimuli, device=torch.device(device), checkpoint_path=checkpoint_path)
    finally:  # leave the process-wide switch as it was
        torch.use_deterministic_algorithms(was_deterministic)


def _train(r: Recipe, cifar: Cifar, stimuli: Stimuli | None, *, device, checkpoint_path):
    if r.alpha > 0 and stimuli is None:
        raise ValueError("alpha > 0 needs stimuli and a similarity target (or responses, regularizer mtl)")
    if r.regularizer not in REGULARIZERS:
        raise ValueError(f"regularizer: {r.regularizer!r} is not one of {REGULARIZERS}")
    if r.loss not in ("arctanh",) + CKA_FORMS:
        raise ValueError(f"loss: {r.loss!r} is not one of arctanh, {', '.join(CKA_FORMS)}")
    _set_determinism(r, device)
    amp = use_bf16(r, device)
    torch.manual_seed(r.seed)
    model = build(arch=r.arch, num_classes=cifar.n_classes, width=r.width, layers=r.layers, blur_sigma=r.blur_sigma)
    head = None
    if r.regularizer == "mtl" and r.alpha > 0:
        if stimuli.target.ndim != 2 or stimuli.target.shape[0] != len(stimuli.images):
            raise ValueError(f"mtl: responses of shape {tuple(stimuli.target.shape)} for {len(stimuli.images)} stimuli")
        head = MultitaskReadout(model.layer_channels(r.mtl_layer), stimuli.target.shape[1], seed=r.seed,
                                init_mu_range=r.mtl_init_mu_range, init_sigma=r.mtl_init_sigma).to(device)
    pixels = cifar.train_images.float().div(255)
    model.set_normalization(pixels.mean().item(), pixels.std().item())
    del pixels
    mixer = LayerMixer(r.layers, center=r.center)
    model.to(device)
    mixer.to(device)
    if r.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = make_optimizer(model, mixer, r, head)
    history, start_epoch = [], 0
    if checkpoint_path is not None and os.path.exists(checkpoint_path):
        ckpt = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if ckpt.get("recipe") != asdict(r):
            log.warning("%s: written by another recipe; starting from scratch", checkpoint_path)
        else:
            model.load_state_dict(ckpt["model"])
            mixer.load_state_dict(ckpt["mixer"])
            if head is not None:
                head.load_state_dict(ckpt["head"])
            opt.load_state_dict(ckpt["optimizer"])
            history, start_epoch = ckpt["history"], ckpt["epoch"]
            torch.set_rng_state(ckpt["rng"]["torch"].cpu())
            if device.type == "cuda" and "cuda" in ckpt["rng"]:
                torch.cuda.set_rng_state(ckpt["rng"]["cuda"].cpu(), device)
            log.info("resumed from %s after epoch %d", checkpoint_path, start_epoch)

    n_train, b = len(cifar.train_labels), r.batch_size
    steps = math.ceil(n_train / b)
    progress = Progress("co-training", (r.epochs - start_epoch) * steps, logger=log)
    for epoch in range(start_epoch, r.epochs):
        t0 = time.perf_counter()
        lr = learning_rate(epoch, r)
        set_learning_rate(opt, lr)
        g = epoch_generator(r.seed, epoch, device)
        order = torch.randperm(n_train, generator=g, device=device)
        n_stim = sum(stimulus_step(k, r.stimulus_every) for k in range(steps))
        stim_idx = (regularize.stimulus_batches(len(stimuli.images), r.stimulus_batch_size or b, n_stim, generator=g,
                                                device=device) if r.alpha > 0 else None)
        ce_sum = torch.zeros((), device=device)
        sim_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        model.train()
        for step in range(steps):
            idx = order[step * b : (step + 1) * b]
            s = None if stim_idx is None or not stimulus_step(step, r.stimulus_every) else stim_idx[step // r.stimulus_every]
            ce, sim, logits = train_step(model, mixer, opt, cifar, idx, stimuli, s, r, g, amp, head)
            ce_sum += ce * len(idx)
            correct += (logits.argmax(1) == cifar.train_labels[idx]).sum()
            if sim is not None:
                sim_sum += sim
            progress.update(note=f"epoch {epoch + 1}/{r.epochs}, step {step + 1}/{steps}")
        row = history_row(epoch, lr, ce_sum.item(), sim_sum.item() if stim_idx is not None else None,
                          correct.item(), n_train, n_stim,
                          evaluate(model, cifar.test_images, cifar.test_labels, r, amp), mixer.gamma_dict())
        row["seconds"] = time.perf_counter() - t0
        history.append(row)
        if checkpoint_path is not None:  # before the epoch's log line: a logged epoch is a resumable one
            state = {
                "epoch": epoch + 1,
                "model": model.state_dict(),
                "mixer": mixer.state_dict(),
                **({"head": head.state_dict()} if head is not None else {}),
                "optimizer": opt.state_dict(),
                "history": history,
                "recipe": asdict(r),
                "rng": _rng_state(device),
            }
            with atomic_output(checkpoint_path) as tmp:
                torch.save(state, tmp)
        log.info(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
    return model, mixer, history
