"""A model's features at chosen layers by forward hooks: the one way every stage takes a network's features (the
content targets of stage 4, the regularizer of stage 5, brain-likeness), whatever the model's class.

:func:`find_modules` resolves layer names (``model.named_modules()``), with a suggestion for a misspelt one;
:func:`layer_features` runs the model once with a hook on each and returns their outputs, stopping the pass after
the deepest one.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import torch
from torch import nn


class _AllCaptured(Exception):
    """Raised by the hook of the last layer to run: every feature is there, the rest of the forward pass is skipped."""


def find_modules(model: nn.Module, layers: Sequence[str]) -> list[nn.Module]:
    """The submodules of ``model`` named ``layers`` (names as in ``model.named_modules()``, e.g. ``"layer2"`` or
    ``"features.3"``). A name that is not there is a ``ValueError`` naming it, the closest names and some others."""
    modules = dict(model.named_modules())
    out = []
    for name in layers:
        if not isinstance(name, str) or name not in modules or name == "":
            names = [n for n in modules if n]
            close = difflib.get_close_matches(str(name), names, n=3)
            hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
            raise ValueError(f"layers: {name!r} is not a module of this {type(model).__name__}; {hint}its modules "
                             f"are model.named_modules(), e.g. {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}")
        out.append(modules[name])
    return out


def layer_features(model: nn.Module, images: torch.Tensor, layers: Sequence[str | nn.Module], *,
                   stop_early: bool = True) -> list[torch.Tensor]:
    """``model(images)`` with a forward hook on each layer: their outputs, in the order of ``layers``.

    images: whatever ``model`` takes, a batch of B stimuli (B, C, H, W). layers: module names (:func:`find_modules`)
    or the modules themselves. Returns K tensors (B, ...) (for a conv layer (B, C_k, H_k, W_k)), part of the
    autograd graph. With ``stop_early`` (the default) the forward pass ends as soon as every layer has given its
    output: the layers above the deepest one, the classifier among them, are not run (no compute, no BatchNorm
    updates there); ``stop_early=False`` runs the whole model. The hooks exist only during this call, so the model's
    other forward passes (your task batches) are untouched. A layer that runs twice in one pass (a module used twice)
    or not at all is an error: its feature would be ambiguous or missing.
    """
    modules = find_modules(model, layers) if any(isinstance(x, str) for x in layers) else list(layers)
    if len(set(map(id, modules))) != len(modules):
        raise ValueError(f"layers: {list(layers)} names one module twice")
    found: dict[int, torch.Tensor] = {}

    def hook(i: int):
        def capture(module, inputs, output):
            if i in found:
                raise RuntimeError(f"layers: {_name(layers[i])} ran twice in one forward pass (a module used twice): "
                                   "its feature is ambiguous; name a module that runs once")
            if not isinstance(output, torch.Tensor):
                raise TypeError(f"layers: {_name(layers[i])} returns {type(output).__name__}, not a tensor: name a "
                                "module whose output is the feature map")
            found[i] = output
            if stop_early and len(found) == len(modules):
                raise _AllCaptured

        return capture

    handles = [m.register_forward_hook(hook(i)) for i, m in enumerate(modules)]
    try:
        model(images)
    except _AllCaptured:
        pass
    finally:
        for h in handles:
            h.remove()
    missing = [_name(layers[i]) for i in range(len(modules)) if i not in found]
    if missing:
        raise RuntimeError(f"layers: {', '.join(missing)} did not run in the model's forward pass")
    return [found[i] for i in range(len(modules))]


def _name(layer) -> str:
    return repr(layer) if isinstance(layer, str) else type(layer).__name__
