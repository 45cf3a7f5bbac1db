"""Co-training trials on a validation split: how the laptop run's scale and recipe were chosen.

    python benchmarks/cotrain_validation.py --tag none-flip --n-train 10000 --epochs 6 --lr-reset 3 --augment flip
    python benchmarks/cotrain_validation.py --tag gt-a10 ... --alpha 10 --target results/laptop/similarity/ground_truth.h5
    python benchmarks/cotrain_validation.py --table          # every trial so far, one row each

One model per call, trained by ``neuroreg.cotrain.train.train`` (the pipeline's trainer) on the first
``--n-train`` images of the CIFAR-10 training set and evaluated, clean and under Gaussian noise
(``neuroreg.noise``, the pipeline's draws), on the validation split: the last
``--n-validation`` (5,000) training images, which no trial trains on. The test set is never read.
Each trial appends one JSON line to ``--out`` (default ``benchmarks/results/cotrain_validation.jsonl``,
git-ignored): its arguments, per-epoch validation accuracy and similarity loss, final gamma, accuracy
per noise level, seconds. Targets are ``results/.../similarity/{target}.h5`` files of a pipeline run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from neuroreg.cotrain import data, train
from neuroreg.ingest.cifar import load_cifar_h5
from neuroreg.robustness import bn
from neuroreg.noise import noise_accuracy

OUT = Path(__file__).resolve().parent / "results" / "cotrain_validation.jsonl"
LEVELS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.10)


def validation_cifar(path, n_train: int, n_validation: int) -> data.Cifar:
    """Training images [0, n_train) and, as the evaluation split, the last n_validation training images."""
    c = load_cifar_h5(path, splits=("train",))
    x, y = c["train_images"], c["train_labels"].astype(np.int64)
    cut = len(y) - n_validation
    if n_train > cut:
        raise SystemExit(f"--n-train {n_train} overlaps the validation split (the last {n_validation} images)")

    def t(a):
        return torch.from_numpy(np.ascontiguousarray(a))

    return data.Cifar(t(x[:n_train, None]), t(y[:n_train]), t(x[cut:, None]), t(y[cut:]), int(c["n_classes"]))


def table(out: Path) -> pd.DataFrame:
    rows = []
    for line in out.read_text().splitlines():
        d = json.loads(line)
        a = d["args"]
        rows.append({"tag": a["tag"], "n_train": a["n_train"], "epochs": a["epochs"], "augment": a["augment"],
                     "alpha": a["alpha"], "layers": a["layers"], "sb": a.get("stimulus_batch") or 64,
                     "every": a.get("stimulus_every", 1), "target": Path(a["target"]).stem if a["target"] else "none",
                     "seed": a["seed"], "path": "plain" if a.get("precision") == "fp32" and not a.get("channels_last", True) else "fast",
                     **{f"acc@{k}": round(100 * v, 1) for k, v in d["noise"].items()},
                     **{f"bn@{k}": round(100 * v, 1) for k, v in d.get("noise_bn_cifar", {}).items() if k in ("0", "0.08")},
                     "sim_loss": round(d["similarity_loss"][-1], 3) if d["similarity_loss"][-1] == d["similarity_loss"][-1] else None,
                     "top_gamma": max(d["gamma"], key=d["gamma"].get) if a["alpha"] > 0 else "", "minutes": round(d["seconds"] / 60, 1)})
    return pd.DataFrame(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tag", default="trial")
    p.add_argument("--cifar", default="results/laptop/data/cifar10.h5", help="a pipeline's cifar10.h5 (its test split is not read)")
    p.add_argument("--stimuli", default="results/laptop/data/stimuli.h5")
    p.add_argument("--target", default=None, help="similarity target HDF5 (needed for alpha > 0)")
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-validation", type=int, default=5000)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr-step", type=int, default=1)
    p.add_argument("--lr-reset", type=int, default=3)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--alpha", type=float, default=0.0)
    p.add_argument("--layers", default="1,5,9,13,17")
    p.add_argument("--augment", default="flip")
    p.add_argument("--stimulus-batch", type=int, default=None)
    p.add_argument("--stimulus-every", type=int, default=1, help="the stimulus pass every k-th step, weight k x alpha")
    p.add_argument("--bn-running-stats", default="all")
    p.add_argument("--clamp-eps", type=float, default=1e-3)
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                   help="fp32 with --no-channels-last: the plain loop the fast path is checked against")
    p.add_argument("--no-channels-last", dest="channels_last", action="store_false")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=OUT)
    p.add_argument("--table", action="store_true", help="print the table of every trial in --out and stop")
    a = p.parse_args()
    if a.table:
        with pd.option_context("display.width", 250, "display.max_columns", 30, "display.max_rows", 500):
            print(table(a.out).to_string(index=False))
        return
    torch.set_num_threads(a.threads)
    cifar = validation_cifar(a.cifar, a.n_train, a.n_validation)
    stim = data.load_stimuli(a.stimuli, a.target, "cpu") if a.alpha > 0 else None
    r = train.Recipe(width=a.width, epochs=a.epochs, lr_step=a.lr_step, lr_reset_epoch=a.lr_reset, seed=a.seed,
                     alpha=a.alpha, layers=tuple(int(k) for k in a.layers.split(",")), augment=a.augment,
                     stimulus_batch_size=a.stimulus_batch, bn_running_stats=a.bn_running_stats, clamp_eps=a.clamp_eps,
                     precision=a.precision, channels_last=a.channels_last, stimulus_every=a.stimulus_every)
    t0 = time.perf_counter()
    model, mixer, hist = train.train(r, cifar, stim, device="cpu")
    seconds = time.perf_counter() - t0
    acc = noise_accuracy(model, cifar.test_images, cifar.test_labels, LEVELS, noise_seed=0)
    # the same with BatchNorm's statistics re-estimated on the first 2,000 training images (robustness.bn: cifar)
    acc_bn = noise_accuracy(bn.recalibrate(model.eval(), cifar.train_images[:2000]), cifar.test_images, cifar.test_labels,
                            LEVELS, noise_seed=0)
    res = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}, "seconds": seconds,
           "validation_accuracy": [h["test_accuracy"] for h in hist], "similarity_loss": [h["similarity_loss"] for h in hist],
           "gamma": mixer.gamma_dict(), "noise": {f"{lv:g}": v for lv, v in zip(acc["level"], acc["accuracy"])},
           "noise_bn_cifar": {f"{lv:g}": v for lv, v in zip(acc_bn["level"], acc_bn["accuracy"])}}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    with open(a.out, "a") as f:
        f.write(json.dumps(res) + "\n")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
