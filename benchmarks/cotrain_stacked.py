"""Co-training K models at once (neuroreg.cotrain.stacked) against K plain runs (neuroreg.cotrain.train).

    python benchmarks/cotrain_stacked.py [--k 1 2 4 8] [--steps 50] [--width 64] [--alpha 20]
                                         [--device auto] [--fast]

Synthetic data of the paper's shapes (cotrain_step.synthetic: CIFAR 32 x 32, 5,000 stimuli 36 x 64
and their target, resident on the device). Each measurement is one real epoch of ``--steps``
steps of batch 64 (+ 64 stimuli when alpha > 0) through the very functions the pipeline runs,
after a warm-up epoch; the per-epoch test pass is on 256 images. Prints ms per step per model,
images per second and the GPU-minutes one model of the recipe (40 epochs x 782 steps) would take,
amortized over the K models trained together. ``--fast`` turns the recipe's deterministic kernels
off (cudnn.benchmark on). Equivalence with the plain loop is tested in tests/test_cotrain_stacked.py.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cotrain_step import synthetic  # noqa: E402

from neuroreg.cotrain import data, stacked, train  # noqa: E402

STEPS_PER_MODEL = 40 * 782  # the recipe: 40 epochs of 50,000 / 64 steps


def subset(cifar: data.Cifar, n: int) -> data.Cifar:
    return data.Cifar(cifar.train_images[:n], cifar.train_labels[:n], cifar.test_images[:256],
                      cifar.test_labels[:256], cifar.n_classes)


def plain_seconds(recipes, cifar, stim):
    return sum(train.train(r, cifar, stim if r.alpha > 0 else None, device=cifar.train_images.device)[2][0]["seconds"]
               for r in recipes)


def stacked_seconds(recipes, cifar, stim):
    runs = stacked.train_stacked(recipes, cifar, [stim if r.alpha > 0 else None for r in recipes],
                                 device=cifar.train_images.device)
    return runs[0][2][0]["seconds"] * len(recipes)  # history seconds are amortized per run


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--k", type=int, nargs="+", default=[1, 2, 4, 8])
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--alpha", type=float, default=20.0)
    p.add_argument("--device", default="auto")
    p.add_argument("--fast", action="store_true", help="non-deterministic kernels (cudnn.benchmark)")
    a = p.parse_args()
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if a.device == "auto" else a.device))
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device: {name}, torch {torch.__version__}, {a.arch} width {a.width}, alpha {a.alpha:g}, "
          f"{a.steps} steps of 64{' + 64 stimuli' if a.alpha > 0 else ''}, deterministic={not a.fast}")
    full, stim = synthetic(device)
    cifar = subset(full, a.steps * 64)
    base = train.Recipe(arch=a.arch, width=a.width, epochs=1, alpha=a.alpha, deterministic=not a.fast)
    images = 64 * (2 if a.alpha > 0 else 1)
    print(f"{'path':8s} {'K':>3s} {'ms/step/model':>14s} {'images/s':>9s} {'min/model':>10s} {'speed-up':>8s}")
    reference = None
    for k in a.k:
        recipes = stacked.recipes_for(base, seeds=range(k), alphas=[a.alpha] * k)
        for path, fn in (("plain", plain_seconds), ("stacked", stacked_seconds)):
            if path == "plain" and k > 1:
                continue  # K plain runs take K times one plain run
            fn(recipes[:1] if path == "plain" else recipes, cifar, stim)  # warm-up (cudnn autotune, allocator)
            seconds = fn(recipes[:1] if path == "plain" else recipes, cifar, stim)
            per_model = seconds / (1 if path == "plain" else k)
            ms = per_model / a.steps * 1e3
            reference = reference or ms
            print(f"{path:8s} {k:3d} {ms:14.2f} {images / ms * 1e3:9.0f} {ms * STEPS_PER_MODEL / 6e4:10.2f} "
                  f"{reference / ms:8.2f}", flush=True)


if __name__ == "__main__":
    main()
