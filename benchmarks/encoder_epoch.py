"""Encoder training speed (s/epoch, trials/s) and where the time of a step goes, on whatever device is there.

    python benchmarks/encoder_epoch.py [--neurons 4000] [--trials 4500] [--hidden 32] [--kernel 7]
                                       [--device auto] [--steps 20] [--threads N]

Synthetic data of the default experiment's shapes (images 36 x 64, behaviour 3, pupil 2), resident on
the device. Each step is the training step of ``neuroreg.encoder.train.fit``: a batch of 64 trials,
Poisson loss + regularizers, backward, Adam. Prints ms per step, split into the core (forward +
backward of the convolutions alone) and the rest (readout, shifter, modulator, loss, optimizer), and
the time of one epoch of ``--trials`` training trials (the default scan: 4,500 once-shown images).
Pass several ``--hidden``/``--kernel`` values to compare encoder sizes.
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

from neuroreg.encoder.model import Encoder
from neuroreg.measures import poisson_loss


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench(hidden, kernel, args, device):
    g = torch.Generator().manual_seed(0)
    b = args.batch_size
    model = Encoder(args.neurons, hidden, 3, 9, kernel, seed=0).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.005)
    x = torch.randn(b, 1, 36, 64, generator=g).to(device)
    beh = torch.randn(b, 3, generator=g).to(device)
    pupil = torch.randn(b, 2, generator=g).to(device)
    y = torch.poisson(torch.full((b, args.neurons), 2.0), generator=g).to(device)

    def step():
        rate = model(x, beh, pupil)
        loss = poisson_loss(rate, y).sum(1).mean() + model.regularizer(0.01, 1e-4)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def core_only():
        f = model.core(x)
        f.sum().backward()

    out = {}
    for name, fn in (("step", step), ("core", core_only)):
        for _ in range(3):
            fn()
        sync(device)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            fn()
        sync(device)
        out[name] = (time.perf_counter() - t0) / args.steps
    steps_per_epoch = -(-args.trials // b)
    print(f"hidden {hidden:3d} kernel {kernel}: {1e3 * out['step']:7.1f} ms/step "
          f"(core fwd+bwd {1e3 * out['core']:6.1f} ms, rest {1e3 * (out['step'] - out['core']):6.1f} ms), "
          f"{b / out['step']:7.0f} trials/s, {steps_per_epoch * out['step']:6.1f} s/epoch of {args.trials} trials",
          flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--neurons", type=int, default=4000)
    p.add_argument("--trials", type=int, default=4500)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--hidden", type=int, nargs="+", default=[32])
    p.add_argument("--kernel", type=int, nargs="+", default=[7])
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    print(f"device {device}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"{args.neurons} neurons, batch {args.batch_size}")
    for hidden, kernel in itertools.product(args.hidden, args.kernel):
        bench(hidden, kernel, args, device)


if __name__ == "__main__":
    main()
