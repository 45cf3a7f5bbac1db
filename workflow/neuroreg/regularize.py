"""Learning from brains in your own training loop: the neural regularizers of Li et al. 2019 for any PyTorch model.

:class:`NeuralRegularizer` wraps a model you already have (a torchvision or timm network, the pipeline's
ResNet, anything that is an ``nn.Module``) and gives, for a batch of stimulus indices, the term you add to your
task loss (Eq. 7: L = L_task + alpha * L_brain). The model's code does not change: the features of the named layers
are taken with forward hooks while the regularizer runs the stimuli through the model, and only then.

Forms of L_brain (``form``):

* ``arctanh`` (the paper, Eq. 8-10): S^CNN = sum_k gamma_k S^CNN-k, the centred cosine similarities of each layer's
  features over the stimulus batch (Eq. 9), mixed by gamma = softmax(trainable logits) (Eq. 10), compared with the
  neural similarities S^neural pair by pair, [arctanh S^CNN_ij - arctanh S^neural_ij]^2, mean over i < j (Eq. 8).
* ``cka`` / ``logcka`` (Dapello et al. 2022): 1 - CKA or log(1 - CKA) between the gamma-weighted sum of the layers'
  unit-norm centred linear kernels and S^neural taken as a kernel.
* ``readout`` (multi-task co-training): a Gaussian readout (a position, spread, feature vector and bias per neuron;
  ELU + 1) predicts every neuron's response to the stimuli from one layer; L_brain is its Poisson loss.

The target is a stage-4 file of the pipeline (``results/<run>/similarity/<target>.h5``, ``similarity`` (n, n) over
its ``image_index`` rows of ``stimuli.h5``; for ``readout`` a response set ``results/<run>/responses/<set>.h5``) or
an array: S^neural (n, n) in [-1, 1], or responses (n, N) >= 0, with the n stimulus images (n, [C,] H, W).

The building blocks are public too, and the pipeline's trainer (:func:`neuroreg.cotrain.train.train_step`) is
built from them, so the reproduction runs this code: :func:`layer_features` (hooks), :func:`regularization_loss`
(the forms), :func:`bn_statistics` (what the stimulus pass does to BatchNorm's running estimates),
:func:`param_groups` (what the optimizer gets) and :func:`stimulus_batches` (the stimulus indices of an epoch).
Not here: loading your data and your training loop (see docs/REGULARIZE.md).

Defaults are the paper's, read from the config schema (``workflow/neuroreg/config.schema.yaml``, section cotrain):
alpha 20 for Eq. 8 (1 for the CKA forms and the readout, as config.yaml), clamp 1e-3, the batch mean as f-bar, the
readout's init (positions in [-0.3, 0.3], spread 0.1) and its per-neuron learning rate (0.1).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from .config import defaults as config_defaults
from .cotrain.data import Stimuli, load_stimuli, target_block, to_float
from .cotrain.multitask import MultitaskReadout, load_responses, mtl_loss
from .cotrain.similarity_loss import CKA_FORMS, LayerMixer, cka_loss, similarity_loss
from .features import find_modules, layer_features

_COTRAIN = config_defaults("cotrain")
SIMILARITY_FORMS = ("arctanh",) + CKA_FORMS
FORMS = SIMILARITY_FORMS + ("readout",)
#: alpha (Eq. 7) per form when none is given: the paper's main-text 20 for Eq. 8, config.yaml's 1 for the others.
DEFAULT_ALPHA = {"arctanh": _COTRAIN["alpha"], "cka": _COTRAIN["cka"]["alpha"], "logcka": _COTRAIN["cka"]["alpha"],
                 "readout": _COTRAIN["mtl"]["alpha"]}


# ---------------------------------------------------------------- features by forward hooks
# ---------------------------------------------------------------- the loss forms
def regularization_loss(features: Sequence[torch.Tensor], target: torch.Tensor, *, form: str = "arctanh",
                        mixer: LayerMixer | None = None, readout: MultitaskReadout | None = None,
                        clamp_eps: float = _COTRAIN["clamp_eps"]) -> torch.Tensor:
    """L_brain of one stimulus batch, a scalar, computed in fp32 whatever autocast region it is called in.

    features: K tensors (B, ...) of the layers (:func:`layer_features`); for ``readout`` one (B, C, H, W).
    target: for the similarity forms S^neural of the batch (B, B) (``target[idx][:, idx]``); for ``readout`` the
    responses (B, N). form: ``arctanh`` = Eq. 8 on S^CNN of Eq. 9-10 (``mixer``: gamma), similarities clamped to
    [-1 + clamp_eps, 1 - clamp_eps]; ``cka`` = 1 - CKA, ``logcka`` = log(1 - CKA) of the gamma-mixed kernel
    (``mixer``); ``readout`` = the Poisson loss of ``readout`` (rate - y log rate, mean over images and neurons).
    """
    if form not in FORMS:
        raise ValueError(f"form: {form!r} is not one of {', '.join(FORMS)}")
    with torch.autocast(device_type=features[0].device.type, enabled=False):
        if form == "readout":
            if readout is None or len(features) != 1:
                raise ValueError(f"form readout: needs a readout and one layer's features, got {len(features)} layers")
            return mtl_loss(readout(features[0]), target)
        if mixer is None:
            raise ValueError(f"form {form}: needs the layer mixer (gamma, Eq. 10)")
        if form in CKA_FORMS:
            return cka_loss(mixer.kernel(features), target, form)
        return similarity_loss(mixer(features), target, clamp_eps)


# ---------------------------------------------------------------- BatchNorm during the stimulus pass
def stimulus_bn_momentum(momentum: float, every: int) -> float:
    """BatchNorm momentum of a stimulus pass that runs after every ``every`` task updates, chosen so that the running
    estimates hold the same share of photo statistics right after it as when both passes alternate every step.

    Alternating (one task then one stimulus update of momentum m) leaves the share p = m / (1 - (1 - m)^2)
    (0.53 at m = 0.1); after k task updates the stimulus update of momentum m_s leaves
    m_s / (1 - (1 - m_s)(1 - m)^k), equal to p for m_s = p (1 - (1 - m)^k) / (1 - p (1 - m)^k) (0.28 at k = 4).
    """
    if every == 1:
        return momentum
    p = momentum / (1 - (1 - momentum) ** 2)
    q = (1 - momentum) ** every
    return p * (1 - q) / (1 - p * q)


@contextlib.contextmanager
def frozen_bn_statistics(model: nn.Module, frozen: bool = True):
    """BatchNorm normalizes with the batch's own statistics (train mode) but leaves its running estimates as they
    are: the stimulus pass then does not mix the statistics of the stimuli into the estimates the classifier uses at
    test time (momentum 0 for the pass, the batch counters restored)."""
    if not frozen:
        yield
        return
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, None if m.num_batches_tracked is None else m.num_batches_tracked.clone()) for m in bns]
    for m in bns:
        m.momentum = 0.0
    try:
        yield
    finally:
        for m, (momentum, tracked) in zip(bns, saved):
            m.momentum = momentum
            if tracked is not None:
                m.num_batches_tracked.copy_(tracked)


@contextlib.contextmanager
def bn_statistics(model: nn.Module, *, update: bool = True, every: int = 1):
    """What the stimulus pass (in train mode) does to BatchNorm's running estimates.

    update: True (the paper) = they include the stimulus batches; False = they do not (:func:`frozen_bn_statistics`).
    every: the stimulus pass runs after every ``every`` task steps; with update, each BatchNorm's momentum is raised
    for the pass to :func:`stimulus_bn_momentum` so that the estimates keep the share of stimulus statistics they
    have when the pass runs every step (1: the layers' own momentum; a cumulative average, momentum None, stays).
    """
    if not update:
        with frozen_bn_statistics(model, True):
            yield
        return
    if every == 1:
        yield
        return
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.momentum]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = stimulus_bn_momentum(m.momentum, every)
    try:
        yield
    finally:
        for m, momentum in zip(bns, saved):
            m.momentum = momentum


# ---------------------------------------------------------------- optimizer groups, stimulus batches
def param_groups(mixer: LayerMixer | None = None, readout: MultitaskReadout | None = None, *,
                 readout_lr: float = _COTRAIN["mtl"]["readout_lr"], lr: float | None = None) -> list[dict]:
    """The optimizer parameter groups the regularizer adds to your network's.

    The gamma logits (``mixer``): no weight decay (decay would pull gamma towards uniform). The readout: no weight
    decay (its feature weights start at 1/C, decay would pull its positions to the centre), and a learning rate of
    ``lr * readout_lr * N`` for N neurons: its loss is a mean over the neurons, so at the network's rate each neuron's
    own weights would learn at lr / N. The readout group carries that factor as ``lr_scale``; give ``lr`` (the
    network's learning rate) to have its ``lr`` set too (a scheduler then scales it with the others).
    """
    groups = []
    if mixer is not None:
        groups.append({"params": mixer.parameters(), "weight_decay": 0.0})
    if readout is not None:
        group = {"params": readout.parameters(), "weight_decay": 0.0, "lr_scale": readout_lr * readout.n_neurons}
        if lr is not None:
            group["lr"] = lr * group["lr_scale"]
        groups.append(group)
    return groups


def stimulus_batches(n: int, batch_size: int, steps: int, *, generator: torch.Generator | None = None,
                     device=None) -> torch.Tensor:
    """(steps, batch) stimulus indices: successive fresh permutations of 0..n-1 cut into batches (each stimulus once
    per pass over the n, no repeats within a batch); batch = min(batch_size, n)."""
    batch = min(batch_size, n)
    perms = [torch.randperm(n, generator=generator, device=device) for _ in range(math.ceil(steps * batch / n))]
    return torch.cat(perms)[: steps * batch].view(steps, batch)


# ---------------------------------------------------------------- the wrapper
class NeuralRegularizer(nn.Module):
    """The brain-data regularizer of one model: ``reg(indices)`` is alpha x L_brain of those stimuli (Eq. 7).

    Args (keyword-only but ``model``):
        model: the network to regularize (not changed; not part of this module's parameters or state).
        layers: module names of ``model`` (``model.named_modules()``) whose outputs are the features, e.g.
            ``["relu", "layer1", "layer2", "layer3", "layer4"]`` for a torchvision ResNet (the paper's layers 1, 5, 9,
            13, 17: the stem and the end of each stage); or a mapping label -> name (labels name gamma). The readout
            form reads exactly one layer.
        target: a stage-4 HDF5 file (``similarity`` (n, n) and its ``image_index`` rows of ``stimuli``; for
            ``readout`` a response set with ``responses`` (n, N)), or an array: S^neural (n, n) in [-1, 1] /
            responses (n, N) >= 0, row i for stimulus i.
        stimuli: with a file target, the stimulus bank (``results/<run>/data/stimuli.h5``); with an array target the
            n images (n, H, W) or (n, C, H, W), uint8 (pixels 0-255) or float.
        form: ``arctanh`` (Eq. 8-10, the paper) | ``cka`` | ``logcka`` | ``readout`` (module doc).
        alpha: the weight of Eq. 7 (None: :data:`DEFAULT_ALPHA`, 20 for Eq. 8 as in the paper, else 1).
        transform: stimuli batch -> model input, e.g. channel replication or a normalization (default: uint8 / 255,
            float unchanged; the pipeline's ResNet normalizes inside).
        center: Eq. 9's f-bar: ``batch`` (the stimulus batch's mean, the paper) or ``ema`` (a running mean).
        clamp_eps: Eq. 8's similarities are clamped to [-1 + eps, 1 - eps] (1e-3).
        update_bn_statistics: whether the stimulus pass updates BatchNorm's running estimates (True, the paper).
        every: you call the regularizer every ``every``-th step: its term weighs ``every`` x alpha and the pass's
            BatchNorm momentum is raised (:func:`bn_statistics`); 1 (every step) is the paper.
        readout_init_mu_range, readout_init_sigma, readout_lr, seed: the readout's initial positions (uniform in
            [-r, r] grid units), position noise, per-neuron learning-rate factor and the seed of its init.
        stop_early: end the stimulus pass after the deepest layer (:func:`layer_features`).
        dtype: the similarity target's dtype when read from a file (float32; float16 halves it).

    ``reg.loss(indices)`` is L_brain unweighted; ``reg.param_groups(lr=...)`` what your optimizer adds;
    ``reg.state_dict()`` / ``load_state_dict`` the gamma logits (and running means) or the readout, for
    checkpoints (the stimuli and target are data, not state); ``reg.to(device)`` moves them all.
    """

    def __init__(self, model: nn.Module, *, layers: Sequence[str] | Mapping[object, str], target, stimuli=None,
                 form: str = "arctanh", alpha: float | None = None, transform: Callable | None = None,
                 center: str = _COTRAIN["center"], clamp_eps: float = _COTRAIN["clamp_eps"],
                 update_bn_statistics: bool = True, every: int = 1,
                 readout_init_mu_range: float = _COTRAIN["mtl"]["init_mu_range"],
                 readout_init_sigma: float = _COTRAIN["mtl"]["init_sigma"],
                 readout_lr: float = _COTRAIN["mtl"]["readout_lr"], seed: int = 0, stop_early: bool = True,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if form not in FORMS:
            raise ValueError(f"form: {form!r} is not one of {', '.join(FORMS)}")
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: a torch.nn.Module, got {type(model).__name__}")
        if isinstance(layers, str):
            raise TypeError(f"layers: a list of module names, got the string {layers!r} (write [{layers!r}])")
        labels, names = (list(layers.keys()), list(layers.values())) if isinstance(layers, Mapping) else (list(layers), list(layers))
        if not names:
            raise ValueError("layers: name at least one module of the model")
        if len(set(names)) != len(names):
            raise ValueError(f"layers: {names} names a module twice")
        if form == "readout" and len(names) != 1:
            raise ValueError(f"layers: the readout form reads one layer, got {len(names)}: {names}")
        if not int(every) >= 1:
            raise ValueError(f"every: {every} (the regularizer runs every k-th step, k >= 1)")
        self.__dict__["model"] = model  # a plain attribute: not a submodule, so not in state_dict() or parameters()
        self.layers, self.labels = tuple(names), tuple(labels)
        self._modules_hooked = find_modules(model, names)
        self.form, self.clamp_eps, self.every = form, float(clamp_eps), int(every)
        self.alpha = float(DEFAULT_ALPHA[form] if alpha is None else alpha)
        self.update_bn_statistics, self.stop_early = bool(update_bn_statistics), bool(stop_early)
        self.transform = transform if transform is not None else _default_transform
        self.readout_lr = float(readout_lr)
        data = _load(target, stimuli, form, dtype)
        self.register_buffer("images", data.images, persistent=False)  # (n, C, H, W) as given (uint8 or float)
        self.register_buffer("target", data.target, persistent=False)  # (n, n) S^neural or (n, N) responses
        self.attrs = data.attrs
        self.mixer = LayerMixer(self.labels, center=center) if form in SIMILARITY_FORMS else None
        self.readout = None
        if form == "readout":
            channels = self._probe_channels()
            self.readout = MultitaskReadout(channels, self.target.shape[1], seed=seed,
                                            init_mu_range=readout_init_mu_range, init_sigma=readout_init_sigma)
        self.to(_device_of(model, self.images.device))

    @property
    def n_stimuli(self) -> int:
        return len(self.images)

    def _probe_channels(self) -> int:
        """Channels of the readout layer's feature map, from one forward pass of two stimuli in eval mode (running
        estimates untouched; each module's train/eval mode restored)."""
        modes = {m: m.training for m in self.model.modules()}
        self.model.eval()
        try:
            with torch.no_grad():
                x = self.transform(self.images[:2]).to(_device_of(self.model, self.images.device))
                f = layer_features(self.model, x, self._modules_hooked, stop_early=self.stop_early)[0]
        finally:
            for m, training in modes.items():
                m.training = training
        if f.ndim != 4:
            raise ValueError(f"layers: the readout reads a feature map (B, C, H, W); {self.layers[0]!r} gives "
                             f"{tuple(f.shape)}")
        return f.shape[1]

    @property
    def gamma(self) -> torch.Tensor | None:
        """(K,) Eq. 10's layer weights (softmax of the trainable logits, 1/K each at the start); None for readout."""
        return None if self.mixer is None else self.mixer.gamma

    def gamma_dict(self) -> dict[str, float]:
        """``{"gamma_<label>": weight}`` per layer ({} for the readout form)."""
        return {} if self.mixer is None else self.mixer.gamma_dict()

    def features(self, images: torch.Tensor) -> list[torch.Tensor]:
        """The layers' features of a batch of stimuli as the model takes them (after ``transform``), under the
        BatchNorm rule of the regularizer (``update_bn_statistics``, ``every``)."""
        with bn_statistics(self.model, update=self.update_bn_statistics, every=self.every):
            return layer_features(self.model, images, self._modules_hooked, stop_early=self.stop_early)

    def target_of(self, indices: torch.Tensor) -> torch.Tensor:
        """The target of a batch: S^neural (B, B) (``target[idx][:, idx]``) or responses (B, N), fp32."""
        return self.target[indices].float() if self.form == "readout" else target_block(self.target, indices)

    def loss(self, indices) -> torch.Tensor:
        """L_brain (unweighted) of the stimuli ``indices`` (B,) (B >= 2 distinct stimuli): a scalar tensor.

        Runs the stimuli through the model (train or eval mode: yours), so call it inside your step, after
        ``optimizer.zero_grad()`` and before ``backward()``, and inside your autocast region if you use one (the
        loss math runs in fp32 regardless)."""
        idx = torch.as_tensor(indices, dtype=torch.long, device=self.images.device)
        if idx.ndim != 1 or len(idx) < 2:
            raise ValueError(f"indices: a (B,) batch of B >= 2 stimulus indices, got shape {tuple(idx.shape)}")
        if int(idx.min()) < 0 or int(idx.max()) >= self.n_stimuli:
            raise IndexError(f"indices: outside the {self.n_stimuli} stimuli (0..{self.n_stimuli - 1})")
        x = self.transform(self.images[idx]).to(_device_of(self.model, self.images.device))
        feats = self.features(x)
        return regularization_loss(feats, self.target_of(idx).to(feats[0].device), form=self.form, mixer=self.mixer,
                                   readout=self.readout, clamp_eps=self.clamp_eps)

    def forward(self, indices) -> torch.Tensor:
        """alpha x every x L_brain of the stimuli ``indices``: the term to add to your task loss (Eq. 7)."""
        return self.alpha * self.every * self.loss(indices)

    def param_groups(self, *, lr: float | None = None) -> list[dict]:
        """The optimizer parameter groups this regularizer adds (:func:`param_groups`): gamma's logits or the readout,
        without weight decay; the readout at ``lr * readout_lr * N`` when ``lr`` is given."""
        return param_groups(self.mixer, self.readout, readout_lr=self.readout_lr, lr=lr)

    def batches(self, batch_size: int, steps: int, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """(steps, batch) stimulus indices for ``steps`` calls (:func:`stimulus_batches`)."""
        return stimulus_batches(self.n_stimuli, batch_size, steps, generator=generator, device=self.images.device)

    def extra_repr(self) -> str:
        return (f"form={self.form}, alpha={self.alpha:g}, layers={list(self.layers)}, n_stimuli={self.n_stimuli}, "
                f"target={tuple(self.target.shape)}, every={self.every}")


def _device_of(model: nn.Module, default) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device(default)


def _default_transform(images: torch.Tensor) -> torch.Tensor:
    return to_float(images) if images.dtype == torch.uint8 else images


def _load(target, stimuli, form: str, dtype: torch.dtype) -> Stimuli:
    """The stimuli and target as a :class:`Stimuli` (images (n, C, H, W), target (n, n) or (n, N)), checked."""
    if isinstance(target, (str, os.PathLike)):
        if not isinstance(stimuli, (str, os.PathLike)):
            raise TypeError(f"stimuli: with a target file ({target}), the stimulus bank it indexes (stimuli.h5), "
                            f"got {type(stimuli).__name__}")
        if form == "readout":
            return load_responses(stimuli, target, "cpu")
        return load_stimuli(stimuli, target, "cpu", dtype=dtype)
    if stimuli is None or isinstance(stimuli, (str, os.PathLike)):
        raise TypeError("stimuli: with a target array, the n stimulus images as an array (n, H, W) or (n, C, H, W)")
    images = torch.as_tensor(np.asarray(stimuli) if not isinstance(stimuli, torch.Tensor) else stimuli)
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise ValueError(f"stimuli: images (n, H, W) or (n, C, H, W), got shape {tuple(images.shape)}")
    t = torch.as_tensor(np.asarray(target) if not isinstance(target, torch.Tensor) else target).float()
    n = len(images)
    if not torch.isfinite(t).all():
        raise ValueError("target: non-finite values")
    if form == "readout":
        if t.ndim != 2 or t.shape[0] != n:
            raise ValueError(f"target: responses of shape {tuple(t.shape)} for {n} stimuli: expected ({n}, n_neurons), "
                             "row i the responses to stimulus i")
        if (t < 0).any():
            raise ValueError("target: negative responses: the readout's Poisson loss needs rates or counts >= 0")
    else:
        if t.ndim != 2 or t.shape[0] != t.shape[1]:
            raise ValueError(f"target: a similarity matrix (n, n), got shape {tuple(t.shape)}")
        if t.shape[0] != n:
            raise ValueError(f"target: a {t.shape[0]} x {t.shape[0]} similarity matrix for {n} stimuli: its size must "
                             "match the stimuli (row and column i for stimulus i)")
        if form == "arctanh" and t.abs().max() > 1 + 1e-4:
            raise ValueError("target: values outside [-1, 1]: Eq. 8 compares similarities (cosines)")
    if n < 2:
        raise ValueError(f"stimuli: {n} image(s); the similarities of a batch need at least 2")
    return Stimuli(images, t.to(dtype) if form != "readout" else t, np.arange(n, dtype=np.int64), {})
