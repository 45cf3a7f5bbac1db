"""Time the robustness evaluation of one (untrained) CIFAR ResNet on this machine.

python benchmarks/robustness_eval.py --width 8 --n 20 --norms L2 Linf L1 L0 --budgets 10 100 [--device cuda] [--processes 2]

Prints, per norm, the wall time of the whole scheme (starting points, every attack at every
budget) and of the noise curve on --n_noise images. Numba compiles Brendel & Bethge's
solver once per process and norm; the first B&B run of a norm includes it (reported apart
by --warmup, which runs each norm once on 2 images first).
"""

import argparse
import time

import numpy as np
import torch

from neuroreg.cotrain import resnet
from neuroreg.robustness import minimal, noise

p = argparse.ArgumentParser()
p.add_argument("--width", type=int, default=8)
p.add_argument("--arch", default="resnet18")
p.add_argument("--n", type=int, default=20)
p.add_argument("--n_noise", type=int, default=1000)
p.add_argument("--norms", nargs="+", default=["L2", "Linf", "L1", "L0"])
p.add_argument("--budgets", nargs="+", type=int, default=[10, 100])
p.add_argument("--device", default="cpu")
p.add_argument("--processes", type=int, default=1)
p.add_argument("--warmup", action="store_true")
a = p.parse_args()

torch.manual_seed(0)
model = resnet.build(arch=a.arch, width=a.width).to(a.device)
g = torch.Generator().manual_seed(0)
imgs = torch.randint(0, 256, (max(a.n, a.n_noise), 1, 32, 32), generator=g, dtype=torch.uint8)
for m in model.modules():  # calibrate BatchNorm on the images, so that the untrained model's classes vary
    if isinstance(m, torch.nn.BatchNorm2d):
        m.momentum = None
with torch.no_grad():
    model.train()(imgs[:500].float().to(a.device) / 255)
model.eval()
with torch.no_grad():
    labels = torch.cat([model(imgs[i:i + 500].float().to(a.device) / 255).argmax(1).cpu() for i in range(0, len(imgs), 500)])
print("classes predicted:", torch.bincount(labels, minlength=10).tolist(), flush=True)
t = time.time()
noise.noise_accuracy(model, imgs[: a.n_noise], labels[: a.n_noise], [0, 0.04, 0.1, 0.3], 0, device=a.device)
print(f"noise: 4 levels x {a.n_noise} images: {time.time() - t:.2f} s", flush=True)
x, y = imgs[: a.n].float().div(255).to(a.device), labels[: a.n].to(a.device)
for norm in a.norms:
    s = minimal.Settings(norms=(norm,), step_budgets=tuple(a.budgets), processes=a.processes, start_directions=100)
    if a.warmup:
        t = time.time()
        minimal.evaluate(model, x[:2], y[:2], minimal.Settings(norms=(norm,), step_budgets=(2,), start_directions=10))
        print(f"{norm}: warm-up (numba compile) {time.time() - t:.1f} s", flush=True)
    t = time.time()
    r = minimal.evaluate(model, x, y, s, device=a.device)
    adv, _, steps = minimal.tables(r, np.arange(a.n))
    per = {f"{rec.attack}@{rec.steps}": round(rec.seconds, 1) for rec in r["records"]}
    print(f"{norm}: {a.n} images, budgets {a.budgets}: {time.time() - t:.1f} s, median {adv['median'].iloc[0]:.4g}",
          steps[["steps", "median"]].to_dict("records"), per, flush=True)
