"""Whole co-trainings side by side: the neural-condition training as it was (the stimulus pass every step) against
the fast path (every k-th step), and either against ``none``, as one-thread processes running at the same time on
the same machine, as the laptop run runs its jobs.

    python benchmarks/cotrain_training.py --pair today fast          # the speed-up of the fast path
    python benchmarks/cotrain_training.py --pair exact fast          # ... over the paper's schedule in plain fp32
    python benchmarks/cotrain_training.py --pair fast none           # the neural loss's cost over a plain training
    python benchmarks/cotrain_training.py ... --data results/laptop  # the laptop run's CIFAR-10, stimuli and target

Each variant is one call of ``neuroreg.cotrain.train.train`` (the pipeline's trainer, nothing else) with the recipe of
``config/laptop.yaml`` (width 16, the first 10,000 training images, 6 epochs, flips, alpha 2, 500 monitoring
images), overridden per variant: ``today``: ``stimulus_every: 1`` (the paper's schedule, under the recipe's
precision: bf16 autocast where the CPU has bf16); ``exact``: the same in fp32 (``precision: fp32``, the reference the
validation split compares the fast path with: docs/RESULTS.md, "The CPU fast path"); ``fast``:
``stimulus_every: --every`` (default: the laptop config's); ``none``: alpha 0. With ``--data`` the data are that run's
``data/cifar10.h5``, ``data/stimuli.h5`` and ``similarity/neural_model.h5``; without, synthetic images and a synthetic
target of the same shapes (the same work; the accuracies mean nothing). Both processes start together, one thread
each; the script prints each one's wall seconds (the whole training, with its per-epoch monitoring), ms per step,
GFLOP per step (counted by ``torch.utils.flop_counter`` over one stimulus cycle) and GFLOP/s, the 2048 x 2048
matmul rates of one thread (the ceilings), and the ratio of the two trainings' times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from cotrain_step import matmul_gflops, synthetic  # noqa: E402

from neuroreg import config as C  # noqa: E402
from neuroreg.cotrain import data, train  # noqa: E402


def recipe(variant: str, every: int | None) -> train.Recipe:
    cfg = C.load([REPO / "config" / "laptop.yaml"], base=REPO / "config.yaml")["cotrain"]
    over = {"today": {"alpha": cfg["alpha"], "stimulus_every": 1},
            "exact": {"alpha": cfg["alpha"], "stimulus_every": 1, "precision": "fp32"},
            "fast": {"alpha": cfg["alpha"], "stimulus_every": every or cfg["stimulus_every"]},
            "none": {"alpha": 0.0}}[variant]
    return train.Recipe.from_config(cfg, seed=0, **over), cfg


def load(cfg, data_dir: Path | None):
    if data_dir is None:
        cifar, stim = synthetic("cpu", n_train=cfg["n_train"], n_stim=5000)
        cifar.test_images, cifar.test_labels = cifar.test_images[:cfg["n_test"]], cifar.test_labels[:cfg["n_test"]]
        return cifar, stim
    cifar = data.load_cifar(data_dir / "data" / "cifar10.h5", "cpu", n_train=cfg["n_train"], n_test=cfg["n_test"])
    stim = data.load_stimuli(data_dir / "data" / "stimuli.h5", data_dir / "similarity" / "neural_model.h5", "cpu")
    return cifar, stim


def flops_per_step(r: train.Recipe, cifar, stim) -> float:
    """FLOPs of one optimizer step, averaged over one cycle of ``stimulus_every`` steps."""
    from torch.utils.flop_counter import FlopCounterMode

    from neuroreg import resnet
    from neuroreg.cotrain.similarity_loss import LayerMixer

    torch.manual_seed(0)
    model = resnet.build(width=r.width).to(memory_format=torch.channels_last)
    mixer = LayerMixer(r.layers)
    opt = train.make_optimizer(model, mixer, r)
    g = torch.Generator().manual_seed(0)
    amp = train.use_bf16(r, "cpu")
    model.train()
    k = r.stimulus_every if r.alpha > 0 else 1
    with FlopCounterMode(display=False) as counter:
        for step in range(k):
            idx = torch.randint(0, len(cifar.train_labels), (r.batch_size,), generator=g)
            s = torch.randint(0, len(stim.images), (r.batch_size,), generator=g) \
                if r.alpha > 0 and train.stimulus_step(step, k) else None
            train.train_step(model, mixer, opt, cifar, idx, stim, s, r, g, amp)
    return counter.get_total_flops() / k


def worker(variant: str, every: int | None, data_dir: Path | None) -> dict:
    torch.set_num_threads(1)
    r, cfg = recipe(variant, every)
    cifar, stim = load(cfg, data_dir)
    t0 = time.perf_counter()
    _, mixer, hist = train.train(r, cifar, stim if r.alpha > 0 else None, device="cpu")
    seconds = time.perf_counter() - t0
    steps = r.epochs * -(-len(cifar.train_labels) // r.batch_size)
    flops = flops_per_step(r, cifar, stim)
    return {"variant": variant, "stimulus_every": r.stimulus_every, "alpha": r.alpha, "seconds": seconds,
            "steps": steps, "ms_per_step": 1e3 * seconds / steps, "gflop_per_step": flops / 1e9,
            "gflops": flops * steps / seconds / 1e9, "final_monitor_accuracy": hist[-1]["test_accuracy"],
            "similarity_loss": hist[-1]["similarity_loss"]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pair", nargs=2, default=["today", "fast"], choices=["today", "exact", "fast", "none"])
    p.add_argument("--every", type=int, default=None, help="the fast path's stimulus_every (default: config/laptop.yaml's)")
    p.add_argument("--data", type=Path, default=None, help="a laptop run's results folder (results/laptop)")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        print(json.dumps(worker(a.worker, a.every, a.data)))
        return
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, bf16 native: {train.cpu_has_bf16()}; one thread: matmul 2048 x 2048 "
          f"fp32 {matmul_gflops(torch.float32):.0f} GFLOP/s, bf16 {matmul_gflops(torch.bfloat16):.0f} GFLOP/s")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__] + (["--every", str(a.every)] if a.every else []) + \
          (["--data", str(a.data)] if a.data else [])
    procs = [subprocess.Popen(cmd + ["--worker", v], stdout=subprocess.PIPE, text=True, env=env) for v in a.pair]
    out = [json.loads(proc.communicate()[0].strip().splitlines()[-1]) for proc in procs]
    print(f"{'variant':8s} {'every':>5s} {'seconds':>8s} {'steps':>6s} {'ms/step':>8s} {'GFLOP/step':>10s} "
          f"{'GFLOP/s':>8s} {'monitor acc':>11s} {'sim loss':>8s}")
    for o in out:
        print(f"{o['variant']:8s} {o['stimulus_every']:5d} {o['seconds']:8.1f} {o['steps']:6d} {o['ms_per_step']:8.1f} "
              f"{o['gflop_per_step']:10.2f} {o['gflops']:8.0f} {o['final_monitor_accuracy']:11.3f} "
              f"{o['similarity_loss']:8.3f}")
    print(f"{a.pair[0]} / {a.pair[1]}: {out[0]['seconds'] / out[1]['seconds']:.2f}x the time "
          f"(two one-thread processes at once, {'data: ' + str(a.data) if a.data else 'synthetic data'})")


if __name__ == "__main__":
    main()
