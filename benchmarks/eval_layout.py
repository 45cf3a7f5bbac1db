"""The robustness stage's fp32 passes in NCHW against channels_last (NHWC), side by side in one run.

    python benchmarks/eval_layout.py [--width 16] [--threads 1]

A forward pass of 500 images (the noise evaluation's batch) and a forward + backward pass to the input of
200 images (one step of a gradient attack), through the CIFAR ResNet18 at eval mode; the best of 3
timed calls after a warm-up, and the largest difference between the two layouts' outputs. Stage 6 loads
its models channels_last (``neuroreg.robustness.loading.load_model``), because of this ratio.
"""

from __future__ import annotations

import argparse
import time

import torch

from neuroreg.resnet import build


def bench(width: int, channels_last: bool, backward: bool, batch: int):
    torch.manual_seed(0)
    model = build(arch="resnet18", num_classes=10, width=width, layers=(1, 5, 9, 13, 17)).eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.rand(batch, 1, 32, 32, generator=torch.Generator().manual_seed(0))

    def step():
        if backward:
            xi = x.clone().requires_grad_(True)
            model(xi).logsumexp(1).sum().backward()
            return xi.grad
        with torch.no_grad():
            return model(x)

    step()
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = step()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (a laptop-run job has 1)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f"ResNet18 width {a.width}, fp32, {a.threads} thread(s), torch {torch.__version__}")
    for what, backward, batch in (("forward (noise evaluation)", False, 500), ("forward + backward to the input (attack step)", True, 200)):
        t0, o0 = bench(a.width, False, backward, batch)
        t1, o1 = bench(a.width, True, backward, batch)
        print(f"{what}, batch {batch}: NCHW {1e3 * t0:.0f} ms, channels_last {1e3 * t1:.0f} ms, "
              f"ratio {t0 / t1:.2f}x, largest difference {float((o0 - o1).abs().max()):.1e}")


if __name__ == "__main__":
    main()
