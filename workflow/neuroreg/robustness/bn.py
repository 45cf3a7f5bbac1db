"""BatchNorm running statistics: as trained, or re-estimated on CIFAR-10 training images (``robustness.bn``).

With ``cotrain.bn_running_stats: all`` (the paper's code path) the stimulus pass updates every BatchNorm layer's
running mean and variance too, so a model with alpha > 0 is evaluated with estimates that are about half photo
statistics (36 x 64 natural images), while ``none`` never saw a photo. That alone changes noise robustness
(docs/RESULTS.md, "How the laptop run's settings were chosen"), so a gain over ``none`` could be BatchNorm's rather than the
regularizer's. The evaluation therefore runs each model in up to two variants:

* ``trained``: the running estimates the model was saved with;
* ``cifar``: every BatchNorm layer's running mean and variance replaced by their average over batches of the first
  ``n_images`` CIFAR-10 training images the run trained on, computed with the final weights (forward passes in
  train mode with a cumulative average, momentum None: "precise BN", Wu & Johnson 2021). Nothing else changes:
  weights, biases, BatchNorm's affine parameters, the classifier and the blur front end are untouched
  (``tests/test_robustness.py`` checks that only ``running_mean``, ``running_var`` and ``num_batches_tracked`` move).

docs/RESULTS.md, "The verdict", says which variant is primary and why.
"""

from __future__ import annotations

import copy

import torch

VARIANTS = ("cifar", "trained")


@torch.no_grad()
def recalibrate(model: torch.nn.Module, images_u8: torch.Tensor, *, batch_size: int = 64) -> torch.nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are re-estimated on ``images_u8``.

    images_u8: (N, 1, H, W) uint8 training images, in the order given (no augmentation, no shuffling: the result
    depends only on the images). Batches of ``batch_size`` (the training batch; the last, partial one is dropped
    unless it is the only one). Returns the copy in eval mode.
    """
    if len(images_u8) == 0:
        raise ValueError("recalibrate: no images")
    out = copy.deepcopy(model)
    bns = [m for m in out.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return out.eval()
    saved = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: the mean of the batch statistics
    out.train()
    device = next(out.parameters()).device
    n = len(images_u8)
    stops = range(batch_size, n + 1, batch_size) if n >= batch_size else [n]
    start = 0
    for stop in stops:
        out(images_u8[start:stop].to(device).float().div_(255.0))
        start = stop
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
    return out.eval()


def variants(model: torch.nn.Module, names, train_images_u8: torch.Tensor | None, *, batch_size: int = 64) -> dict:
    """{name: model} for the BatchNorm variants ``names`` (of :data:`VARIANTS`), in that order."""
    out = {}
    for name in names:
        if name == "trained":
            out[name] = model
        elif name == "cifar":
            if train_images_u8 is None:
                raise ValueError("the 'cifar' BatchNorm variant needs CIFAR-10 training images")
            out[name] = recalibrate(model, train_images_u8, batch_size=batch_size)
        else:
            raise ValueError(f"robustness.bn: {name!r} is not one of {VARIANTS}")
    return out
