"""Co-training step speed: the plain fp32 eager loop against the fast paths, side by side in one run.

    python benchmarks/cotrain_step.py [--width 16] [--steps 30] [--threads 2] [--procs 2]
                                      [--alpha 20] [--device auto] [--compile]

Each step is exactly ``neuroreg.cotrain.train.train_step`` on synthetic data of the paper's shapes,
resident on the device (CIFAR batch of 64 images 32 x 32, augmented, cross-entropy; for alpha > 0
a batch of 64 stimuli 36 x 64 and Eq. 8-10). Variants, each measured after a warm-up:

* ``baseline``: the plain loop as it was before the fast path: fp32, contiguous (NCHW) tensors, and
  Eq. 9 written out on the (B, D) features (``measures.centered_cosine_similarity_direct``);
* ``fp32+cl``: fp32, channels_last, Eq. 9 from the Gram matrix (the pipeline's implementation);
* ``bf16+cl``: the same under bf16 autocast (``precision: auto`` on a CPU with AVX-512 bf16 / AMX,
  and on CUDA): the training default;
* ``bf16+cl+compile`` (``--compile``): the same with every residual block ``torch.compile``-d
  (inductor fuses BatchNorm and ReLU; compiling the whole network instead breaks on the two passes
  of a step, whose BatchNorm updates conflict in one graph);
* cheaper stimulus passes (alpha > 0 only; the candidates of the CPU fast path, README): ``32 stimuli`` a step
  instead of 64, and ``every k-th`` step (``cotrain.stimulus_every: k``, the loss weighted k x alpha), each
  timed over whole cycles of k steps;
* ``bf16+cl x P procs``: P processes of one thread each training at once (how Snakemake runs the
  laptop configuration's jobs on P cores: ``--cores P``, ``threads: 1`` per job): the time per step
  of each, and the throughput per step (time / P).

Prints ms per step, GFLOP/s (floating-point operations of one step counted by
``torch.utils.flop_counter`` from the layers: 2 per multiply-add) and the speed-up over
``baseline``; on a CPU also the rate of a 2048 x 2048 matmul in fp32 and bf16, the ceiling of what
the cores do. The laptop configuration is width 16; the paper's network is width 64.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from neuroreg import measures
from neuroreg.cotrain import data, similarity_loss, train
from neuroreg import resnet
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


VARIANTS = {  # name: (precision, channels_last, direct Eq. 9, compile, stimulus_every, stimulus batch)
    "baseline": ("fp32", False, True, False, 1, 64),
    "fp32+cl": ("fp32", True, False, False, 1, 64),
    "bf16+cl": ("bf16", True, False, False, 1, 64),
    "bf16+cl+compile": ("bf16", True, False, True, 1, 64),
    "bf16+cl, 32 stimuli": ("bf16", True, False, False, 1, 32),
    "bf16+cl, every 2nd": ("bf16", True, False, False, 2, 64),
    "bf16+cl, every 3rd": ("bf16", True, False, False, 3, 64),
    "bf16+cl, every 4th": ("bf16", True, False, False, 4, 64),
}
STIMULUS_ONLY = ("bf16+cl, 32 stimuli", "bf16+cl, every 2nd", "bf16+cl, every 3rd", "bf16+cl, every 4th")


def bench(variant, *, width, alpha, steps, warmup, device, n_stim=2_000):
    """(ms per step, FLOPs per step) of ``variant``, averaged over ``steps`` steps (a multiple of stimulus_every)."""
    precision, cl, direct, compiled, every, stim_batch = VARIANTS[variant]
    steps = max(every, steps - steps % every)
    fast_ccs = similarity_loss.centered_cosine_similarity
    if direct:  # the loop before the fast path computed Eq. 9 on the (B, D) arrays
        similarity_loss.centered_cosine_similarity = measures.centered_cosine_similarity_direct
    try:
        cifar, stim = synthetic(device, n_train=10_000, n_stim=n_stim)
        r = train.Recipe(width=width, alpha=alpha, precision=precision, channels_last=cl, stimulus_every=every,
                         stimulus_batch_size=stim_batch)
        amp = train.use_bf16(r, device)
        torch.manual_seed(0)
        model = resnet.build(width=width).to(device)
        mixer = LayerMixer(r.layers).to(device)
        if cl:
            model.to(memory_format=torch.channels_last)
        if compiled:
            for block in model.blocks:
                block.compile()
        opt = train.make_optimizer(model, mixer, r)
        g = torch.Generator(device=device).manual_seed(0)
        model.train()

        def run(k):
            for step in range(k):
                idx = torch.randint(0, len(cifar.train_labels), (r.batch_size,), device=device, generator=g)
                s = None
                if alpha > 0 and train.stimulus_step(step, every):
                    s = torch.randint(0, n_stim, (stim_batch,), device=device, generator=g)
                train.train_step(model, mixer, opt, cifar, idx, stim, s, r, g, amp)

        run(warmup)
        with FlopCounterMode(display=False) as counter:
            run(every)  # one cycle: the FLOPs of a step, on average
        sync(device)
        t0 = time.perf_counter()
        run(steps)
        sync(device)
        return (time.perf_counter() - t0) / steps * 1e3, counter.get_total_flops() / every
    finally:
        similarity_loss.centered_cosine_similarity = fast_ccs


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_gflops(dtype, n=2048, reps=20):
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    for _ in range(3):
        a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9


def concurrent(procs, args):
    """ms per step of each of ``procs`` one-thread processes running the fast variant at once."""
    cmd = [sys.executable, __file__, "--worker", "--width", str(args.width), "--alpha", str(args.alpha),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) for _ in range(procs)]
    outs = [json.loads(w.communicate()[0].strip().splitlines()[-1]) for w in workers]
    return max(o["ms"] for o in outs), outs[0]["flops"]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--alpha", type=float, nargs="+", default=[0.0, 20.0])
    p.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's, = cores)")
    p.add_argument("--procs", type=int, default=2, help="concurrent one-thread processes (0: skip)")
    p.add_argument("--device", default="auto")
    p.add_argument("--compile", action="store_true", help="also time torch.compile")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device("cuda" if a.device == "auto" and torch.cuda.is_available() else ("cpu" if a.device == "auto" else a.device))
    if a.worker:
        a.alpha = a.alpha[0] if isinstance(a.alpha, list) else a.alpha
        ms, flops = bench("bf16+cl", width=a.width, alpha=a.alpha, steps=a.steps, warmup=a.warmup, device=device)
        print(json.dumps({"ms": ms, "flops": flops}))
        return
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)}, torch {torch.__version__}")
    else:
        print(f"device: cpu, {torch.get_num_threads()} threads, bf16 native: {train.cpu_has_bf16()}, torch {torch.__version__}")
        print(f"matmul 2048 x 2048: fp32 {matmul_gflops(torch.float32):.0f} GFLOP/s, bf16 {matmul_gflops(torch.bfloat16):.0f} GFLOP/s")
    print(f"resnet18 width {a.width}, batch 64 (+ 64 stimuli 36 x 64 when alpha > 0), {a.steps} steps")
    print(f"{'variant':24s} {'alpha':>5s} {'ms/step':>8s} {'GFLOP/step':>10s} {'GFLOP/s':>8s} {'speed-up':>8s}")
    names = [n for n in VARIANTS if a.compile or "compile" not in n]
    for alpha in a.alpha:
        base = None
        for name in names:
            if alpha == 0 and name in STIMULUS_ONLY:
                continue
            ms, flops = bench(name, width=a.width, alpha=alpha, steps=a.steps, warmup=a.warmup, device=device)
            base = base or ms
            print(f"{name:24s} {alpha:5g} {ms:8.1f} {flops / 1e9:10.1f} {flops / ms / 1e6:8.0f} {base / ms:8.2f}", flush=True)
        if a.procs > 1 and device.type == "cpu":
            a1 = argparse.Namespace(**{**vars(a), "alpha": alpha})
            ms, flops = concurrent(a.procs, a1)
            eff = ms / a.procs
            print(f"{f'bf16+cl x {a.procs} procs':24s} {alpha:5g} {ms:8.1f} {flops / 1e9:10.1f} "
                  f"{flops / eff / 1e6:8.0f} {base / eff:8.2f}  (each process {ms:.1f} ms/step; throughput {eff:.1f} ms/step)",
                  flush=True)


if __name__ == "__main__":
    main()
