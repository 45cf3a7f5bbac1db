"""Co-training step speed (ms/step, images/s) on whatever device is there: the plain eager loop.

    python benchmarks/cotrain_step.py [--steps 100] [--arch resnet18] [--width 64] [--device auto]

Synthetic data of the paper's shapes, resident on the device: 50,000 CIFAR images 32 x 32,
5,000 stimuli 36 x 64 and a 5,000 x 5,000 target. Each step is exactly
``neuroreg.cotrain.train.train_step``: a CIFAR batch of 64 (augmented, cross-entropy) and,
for alpha > 0, a batch of 64 stimuli (similarity loss, Eq. 8-10). Variants: fp32 (no
autocast, contiguous) and, on CUDA, bf16 autocast + channels_last (the training default).
Images/s counts CIFAR and stimulus images. A model at the recipe is 40 x 782 steps.
"""

from __future__ import annotations

import argparse
import time

import torch

from neuroreg.cotrain import data, resnet, train
from neuroreg.cotrain.similarity_loss import LayerMixer


def synthetic(device, n_train=50_000, n_stim=5_000, seed=0):
    g = torch.Generator().manual_seed(seed)
    cifar = data.Cifar(
        torch.randint(0, 256, (n_train, 1, 32, 32), generator=g, dtype=torch.uint8).to(device),
        torch.randint(0, 10, (n_train,), generator=g).to(device),
        torch.randint(0, 256, (1000, 1, 32, 32), generator=g, dtype=torch.uint8).to(device),
        torch.randint(0, 10, (1000,), generator=g).to(device),
        10,
    )
    x = torch.randn(n_stim, 64, generator=g)
    x = torch.nn.functional.normalize(x - x.mean(0), dim=1)
    stim = data.Stimuli(
        torch.randint(0, 256, (n_stim, 1, 36, 64), generator=g, dtype=torch.uint8).to(device),
        (x @ x.T).to(device),
        None,
        {},
    )
    return cifar, stim


def bench(cifar, stim, *, arch, width, alpha, amp, steps, warmup, device):
    r = train.Recipe(arch=arch, width=width, alpha=alpha)
    torch.manual_seed(0)
    model = resnet.build(arch=arch, width=width).to(device)
    mixer = LayerMixer(r.layers).to(device)
    if amp:
        model.to(memory_format=torch.channels_last)
    opt = train.make_optimizer(model, mixer, r)
    g = torch.Generator(device=device).manual_seed(0)
    n = len(cifar.train_labels)
    model.train()

    def run(k):
        for _ in range(k):
            idx = torch.randint(0, n, (r.batch_size,), device=device, generator=g)
            s = torch.randint(0, len(stim.images), (r.batch_size,), device=device, generator=g) if alpha > 0 else None
            train.train_step(model, mixer, opt, cifar, idx, stim, s, r, g, amp)

    run(warmup)
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    run(steps)
    if device.type == "cuda":
        torch.cuda.synchronize()
    ms = (time.perf_counter() - t0) / steps * 1e3
    images = r.batch_size * (2 if alpha > 0 else 1)
    return ms, images / ms * 1e3


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--device", default="auto")
    a = p.parse_args()
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else ("cpu" if a.device == "auto" else a.device))
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
        torch.backends.cudnn.benchmark = True
    else:
        print(f"device: cpu ({torch.get_num_threads()} threads), torch {torch.__version__}")
    cifar, stim = synthetic(device)
    variants = [("fp32", False)] + ([("bf16+channels_last", True)] if device.type == "cuda" else [])
    steps_per_model = 40 * 782
    print(f"{'variant':22s} {'alpha':>5s} {'ms/step':>8s} {'images/s':>9s} {'min/model':>9s}")
    for name, amp in variants:
        for alpha in (0.0, 20.0):
            ms, ips = bench(cifar, stim, arch=a.arch, width=a.width, alpha=alpha, amp=amp, steps=a.steps, warmup=a.warmup, device=device)
            print(f"{name:22s} {alpha:5g} {ms:8.2f} {ips:9.0f} {ms * steps_per_model / 6e4:9.1f}", flush=True)


if __name__ == "__main__":
    main()
