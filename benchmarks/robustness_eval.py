"""Time one model's adversarial evaluation, and compare the bf16 search (every distance verified in fp32) with fp32.

    python benchmarks/robustness_eval.py --run results/laptop --condition none --seed 0 --n 300 --precision fp32 bf16
    python benchmarks/robustness_eval.py --width 8 --n 20 --norms L2 Linf L1 L0 [--device cuda]   # untrained model

The scheme is ``neuroreg.robustness.minimal.evaluate`` with the robustness settings of ``--config`` (default:
``config/laptop.yaml``; ``--steps`` overrides its iterations) on the first ``--n`` test images of the run's CIFAR-10
file, for the model of ``--run``/cotrain/{condition}/alpha{alpha}/seed{seed} (its primary BatchNorm variant, as the
robustness stage loads it), or for an untrained ResNet of ``--width`` on random images (BatchNorm calibrated on
them so that its classes vary) when no run is given. For each ``--precision`` (the attacks' search model: fp32, or
bf16 autocast with every distance verified on the fp32 model) it prints the wall time, each attack's seconds and
the median distances over the correct images; with two precisions, per norm, the per-image ratio of their
distances (median, 5th and 95th percentile, the share within 2 %) and the ratio of their medians. Also the noise
curve's time on ``--n-noise`` images. Brendel & Bethge (``--norms L1 L0``) compiles numba's solver once per process
and norm: ``--warmup`` runs each norm on 2 images first.
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from neuroreg import config as C
from neuroreg import resnet
from neuroreg import noise
from neuroreg.robustness import loading, minimal

REPO = Path(__file__).resolve().parents[1]


def untrained(width, arch, n, device):
    torch.manual_seed(0)
    model = resnet.build(arch=arch, width=width).to(device)
    g = torch.Generator().manual_seed(0)
    imgs = torch.randint(0, 256, (max(n, 500), 1, 32, 32), generator=g, dtype=torch.uint8)
    for m in model.modules():  # calibrate BatchNorm on the images, so that the untrained model's classes vary
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = None
    with torch.no_grad():
        model.train()(imgs[:500].float().to(device) / 255)
    model.eval()
    with torch.no_grad():
        labels = torch.cat([model(imgs[i:i + 500].float().to(device) / 255).argmax(1).cpu()
                            for i in range(0, len(imgs), 500)])
    return model, imgs, labels


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", type=Path, default=None, help="a run's results folder (results/laptop)")
    p.add_argument("--config", type=Path, default=REPO / "config" / "laptop.yaml")
    p.add_argument("--condition", default="none")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--arch", default="resnet18")
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--n-noise", type=int, default=1000)
    p.add_argument("--norms", nargs="+", default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--warmup", action="store_true")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cfg = C.load([a.config], base=REPO / "config.yaml")
    r = cfg["robustness"]
    if a.run:
        alpha = "0" if a.condition == "none" else f"{float(cfg['cotrain']['alpha']):g}"
        run = a.run / "cotrain" / a.condition / f"alpha{alpha}" / f"seed{a.seed}"
        rc = {**r, "bn": r["bn"][:1], "bn_images": min(r["bn_images"], cfg["cotrain"]["n_train"] or 10**9)}
        model = next(iter(loading.load_variants(run / "model.pt", run / "metrics.json", a.run / "data" / "cifar10.h5", rc,
                                           a.device).values()))
        imgs, labels = loading.load_test(a.run / "data" / "cifar10.h5", max(a.n, a.n_noise))
        print(f"model: {run}, BatchNorm {rc['bn'][0]}", flush=True)
    else:
        model, imgs, labels = untrained(a.width, a.arch, max(a.n, a.n_noise), a.device)
        print("untrained model; classes predicted:", torch.bincount(labels, minlength=10).tolist(), flush=True)
    t = time.time()
    noise.noise_accuracy(model, imgs[: a.n_noise], labels[: a.n_noise], r["noise_levels"], 0, device=a.device)
    print(f"noise: {len(r['noise_levels'])} levels x {a.n_noise} images: {time.time() - t:.1f} s", flush=True)
    x, y = imgs[: a.n].float().div(255).to(a.device), labels[: a.n].to(a.device)
    over = {"processes": a.processes, **({"norms": tuple(a.norms)} if a.norms else {}),
            **({"steps": a.steps} if a.steps else {})}
    distances = {}
    for precision in a.precision:
        s = minimal.Settings.from_config(r, precision=precision, **over)
        if a.warmup:
            minimal.evaluate(model, x[:2], y[:2], minimal.Settings.from_config(r, **{**over, "steps": 2}))
        t = time.time()
        res = minimal.evaluate(model, x, y, s, device=a.device)
        seconds = time.time() - t
        adv, per_image, _ = minimal.tables(res, np.arange(a.n))
        distances[precision] = per_image.set_index(["norm", "image_index"])
        per = {f"{rec.norm} {rec.attack} x{rec.budget}": round(rec.seconds, 1) for rec in res["records"]}
        moved = {f"{rec.norm} {rec.attack} x{rec.budget}": rec.moved for rec in res["records"] if rec.moved}
        print(f"{precision}: {a.n} images ({int(res['correct'].sum())} correct), {s.steps} iterations: {seconds:.1f} s; "
              f"median over correct images {dict(zip(adv['norm'], adv['median_correct'].round(5)))}; seconds {per}; "
              f"moved to the fp32 boundary {moved}", flush=True)
    if len(distances) == 2:
        (p0, d0), (p1, d1) = distances.items()
        for norm in d0.index.get_level_values(0).unique():
            ok = d0.loc[norm]["clean_correct"].to_numpy(bool)
            u, v = d0.loc[norm]["distance"].to_numpy()[ok], d1.loc[norm]["distance"].to_numpy()[ok]
            ratio = v / u
            print(f"{norm}: {p1} / {p0} per image: median {np.median(ratio):.4f}, 5-95 % "
                  f"{np.quantile(ratio, 0.05):.4f}-{np.quantile(ratio, 0.95):.4f}, within 2 %: "
                  f"{np.mean(np.abs(ratio - 1) <= 0.02):.1%}; ratio of medians {np.median(v) / np.median(u):.4f}",
                  flush=True)


if __name__ == "__main__":
    main()
