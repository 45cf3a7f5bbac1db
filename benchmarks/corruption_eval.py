"""The CIFAR-10-C stage's two costs: generating the corruption sets, and evaluating one model on all of them.

    python benchmarks/corruption_eval.py [--n-images 10000] [--width 16] [--threads 2] [--device cpu]

Generates every corruption x severity set (15 x 5 = 75) of the first ``--n-images`` CIFAR-10 test images
with neuroreg.robustness.corruptions (what rule corrupt_cifar does, once per run), timing each
corruption, then evaluates one CIFAR ResNet18 of ``--width`` (eval mode, channels_last fp32, as stage 6
loads its models; untrained weights: the cost does not depend on them) on every set, as rule
corruption_robustness does for each co-trained model. Prints seconds per phase and images per second.
The CIFAR-10 folder is config.yaml's ``data.cifar10`` unless ``--cifar`` is given.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from neuroreg.config import load
from neuroreg.resnet import build
from neuroreg.ingest.cifar import grayscale_hwc, load_cifar
from neuroreg.robustness import corruptions as C
from neuroreg.noise import predict


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-images", type=int, default=10000)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--cifar", default=None, help="CIFAR-10 python folder (default: config.yaml's data.cifar10)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cifar = a.cifar or load()["data"]["cifar10"]
    rgb = load_cifar(cifar, rgb=True)["test"]["images"][: a.n_images]
    print(f"{len(rgb)} test images, {a.threads} thread(s), torch {torch.__version__}, device {a.device}")

    t_all, sets = time.perf_counter(), {}
    for name in C.CORRUPTIONS:
        t0 = time.perf_counter()
        for s in C.SEVERITIES:
            sets[(name, s)] = grayscale_hwc(C.corrupt(rgb, name, s, seed=0))
        print(f"  generate {name:18s} 5 severities: {time.perf_counter() - t0:6.1f} s", flush=True)
    gen = time.perf_counter() - t_all
    print(f"generation: {len(sets)} sets in {gen:.1f} s ({len(sets) * len(rgb) / gen:.0f} images/s)")

    torch.manual_seed(0)
    model = build(arch="resnet18", num_classes=10, width=a.width).eval().to(a.device)
    model = model.to(memory_format=torch.channels_last)
    predict(model, torch.from_numpy(sets[("contrast", 1)][: a.batch_size, None]), device=a.device)  # warm-up
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for img in sets.values():
        predict(model, torch.from_numpy(np.ascontiguousarray(img[:, None])), batch_size=a.batch_size, device=a.device)
    if a.device.startswith("cuda"):
        torch.cuda.synchronize()
    ev = time.perf_counter() - t0
    n = len(sets) * len(rgb)
    print(f"evaluation of one width-{a.width} model on all {len(sets)} sets: {ev:.1f} s ({n / ev:.0f} images/s)")


if __name__ == "__main__":
    main()
