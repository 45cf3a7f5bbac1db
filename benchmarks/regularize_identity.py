"""The co-training's first steps, bit for bit: run it with one version of the package, then another, and compare.

    PYTHONPATH=<old>/workflow python benchmarks/regularize_identity.py --data results/laptop --out old.json
    PYTHONPATH=<new>/workflow python benchmarks/regularize_identity.py --data results/laptop --out new.json
    python benchmarks/regularize_identity.py --compare old.json new.json

Each variant is ``neuroreg.cotrain.train.train`` (the pipeline's trainer) with the recipe of ``config/laptop.yaml``
(width 16, bf16 autocast where the CPU has it, channels_last, flips, alpha 2, seed 0) and the laptop run's CIFAR-10,
stimuli and ``neural_model`` target, stopped after ``--steps`` optimizer steps. Per step it records the cross-entropy
and the regularizer's loss exactly (``float.hex``); after the last step a SHA-256 of the network's, the gamma mixer's
and the optimizer's state (every tensor's bytes, in order). Variants: the paper's loss (Eq. 8-10) every step, every
2nd step (the raised BatchNorm momentum), with the running-mean centring and with frozen BatchNorm statistics, and
the 1 - CKA and log(1 - CKA) losses. ``--compare`` prints, per variant, whether every loss and the hash agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]

VARIANTS = {
    "arctanh": {},
    "arctanh_every2": {"stimulus_every": 2},
    "arctanh_ema": {"center": "ema"},
    "arctanh_bn_cifar": {"bn_running_stats": "cifar"},
    "cka": {"loss": "cka"},
    "logcka": {"loss": "logcka"},
}


class Stop(Exception):
    pass


def digest(*modules_or_states) -> str:
    h = hashlib.sha256()
    for state in modules_or_states:
        for key, value in state.items():
            h.update(key.encode())
            if isinstance(value, torch.Tensor):
                h.update(value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
            else:
                h.update(repr(value).encode())
    return h.hexdigest()


def flat_optimizer_state(opt) -> dict:
    out = {}
    for i, (p, s) in enumerate(opt.state.items()):
        for k, v in s.items():
            out[f"{i}.{k}"] = v
    return out


def run(variant: str, steps: int, data_dir: Path) -> dict:
    from neuroreg import config as C
    from neuroreg.cotrain import data, train

    cfg = C.load([REPO / "config" / "laptop.yaml"], base=REPO / "config.yaml")["cotrain"]
    r = train.Recipe.from_config(cfg, seed=0, alpha=float(cfg["alpha"]), **VARIANTS[variant])
    cifar = data.load_cifar(data_dir / "data" / "cifar10.h5", "cpu", n_train=cfg["n_train"], n_test=cfg["n_test"])
    stimuli = data.load_stimuli(data_dir / "data" / "stimuli.h5", data_dir / "similarity" / "neural_model.h5", "cpu")
    real, losses, out = train.train_step, [], {}

    def record(model, mixer, opt, *args):
        ce, sim, logits = real(model, mixer, opt, *args)
        losses.append([float(ce).hex(), None if sim is None else float(sim).hex()])
        if len(losses) == steps:
            out["state_sha256"] = digest(model.state_dict(), mixer.state_dict(), flat_optimizer_state(opt))
            raise Stop
        return ce, sim, logits

    train.train_step = record
    try:
        train.train(r, cifar, stimuli, device="cpu")
    except Stop:
        pass
    finally:
        train.train_step = real
    return {"losses": losses, **out, "torch": torch.__version__, "bf16": train.use_bf16(r, torch.device("cpu"))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO / "results" / "laptop", help="a run's folder (results/<run>)")
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--variants", nargs="*", default=list(VARIANTS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path)
    p.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    args = p.parse_args(argv)
    if args.compare:
        a, b = (json.loads(f.read_text()) for f in args.compare)
        same = True
        for v in a:
            ok = a[v]["losses"] == b[v]["losses"] and a[v]["state_sha256"] == b[v]["state_sha256"]
            same &= ok
            print(f"{v:18s} {len(a[v]['losses'])} steps: losses {'identical' if a[v]['losses'] == b[v]['losses'] else 'DIFFER'}, "
                  f"weights + gamma + optimizer {'identical' if a[v]['state_sha256'] == b[v]['state_sha256'] else 'DIFFER'}"
                  f" (bf16 autocast: {a[v]['bf16']}; last step ce {float.fromhex(a[v]['losses'][-1][0]):.6f})")
        return 0 if same else 1
    torch.set_num_threads(args.threads)
    results = {v: run(v, args.steps, args.data) for v in args.variants}
    text = json.dumps(results, indent=1)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
