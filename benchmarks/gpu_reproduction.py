"""The default experiment's stages 1-5 on one GPU machine, timed, without Snakemake.

For a machine that has a GPU but neither Snakemake nor ../shared/data (the inputs travel
packed by ``benchmarks/pack_data.py``). Each stage calls the package functions the pipeline's
jobs call, with config.yaml's settings as the pipeline validates them (``neuroreg.config.load``)
and the pipeline's seeds (``neuroreg.seeds``), and writes the pipeline's files under results/default/, so
the outputs are those of ``snakemake --cores all`` up to co-training.

    python benchmarks/gpu_reproduction.py data         # unpack .carry/inputs.xz -> results/default/data
    python benchmarks/gpu_reproduction.py scans        # simulate the virtual scans (one process per scan)
    python benchmarks/gpu_reproduction.py reliability
    python benchmarks/gpu_reproduction.py encoders [--parallel 4]
    python benchmarks/gpu_reproduction.py similarity [--targets neural_model shuffle]
    python benchmarks/gpu_reproduction.py cotrain --runs none:0:0 neural_model:20:0 [--epochs 40] [--fast]

Every stage prints its wall time; timings go to results/default/benchmarks_gpu/<stage>.json as well.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from neuroreg import config, grid, seeds

ROOT = Path(__file__).resolve().parents[1]
CFG = config.load()  # config.yaml, validated, every default filled in
SCANS = grid.virtual_scans(CFG)
RUN = grid.results_root(CFG)  # results/default: the folder snakemake --cores all uses
TIMINGS = ROOT / RUN / "benchmarks_gpu"


def record(stage: str, **values) -> None:
    TIMINGS.mkdir(parents=True, exist_ok=True)
    (TIMINGS / f"{stage.replace(':', '_')}.json").write_text(json.dumps(values, indent=2, default=str))
    print(stage, json.dumps(values, default=str), flush=True)


def _simulate(scan: str) -> float:
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"
    from neuroreg.ingest.virtual_scan import simulate_scan_file

    t = time.perf_counter()
    spec = CFG["virtual_v1"]["scans"][scan]
    simulate_scan_file(f"{RUN}/data/stimuli.h5", f"{RUN}/scans/{scan}.h5", scan_name=scan, animal=spec["animal"],
                       session=spec["session"], virtual_v1=grid.virtual_v1_params(CFG["virtual_v1"]),
                       repeats=CFG["stimuli"]["repeats"], seed=seeds.scan_seed(CFG["seed"]))
    return time.perf_counter() - t


def _encoder(scan: str) -> dict:
    from neuroreg.encoder.run import train_scan

    out = Path(f"{RUN}/encoders") / scan
    out.mkdir(parents=True, exist_ok=True)
    cfg = dict(CFG["encoder"], device="cuda")
    t = time.perf_counter()
    m = train_scan(f"{RUN}/scans/{scan}.h5", out / "model.pt", out / "metrics.json", out / "predictions.h5", cfg,
                   seeds.encoder_seed(CFG["seed"], scan))
    keys = ("n_neurons", "n_epochs", "mean_test_correlation", "mean_feve", "mean_ground_truth_correlation",
            "mean_single_trial_ground_truth_correlation")
    return {"scan": scan, "seconds": time.perf_counter() - t, **{k: m.get(k) for k in keys}}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("stage")
    p.add_argument("--parallel", type=int, default=4)
    p.add_argument("--targets", nargs="*", default=["neural_model", "shuffle"])
    p.add_argument("--runs", nargs="*", default=["none:0:0", "neural_model:20:0"])
    p.add_argument("--epochs", type=int, default=CFG["cotrain"]["epochs"])
    p.add_argument("--fast", action="store_true", help="deterministic: false (cudnn.benchmark on)")
    p.add_argument("--one", help="internal: train one cotrain run TARGET:ALPHA:SEED in this process")
    a = p.parse_args()
    os.chdir(ROOT)
    t0 = time.perf_counter()

    if a.stage == "data":
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from pack_data import unpack

        unpack(Path(".carry/inputs.xz"), Path(f"{RUN}/data"))
        record("data", seconds=time.perf_counter() - t0)
    elif a.stage == "scans":
        with ProcessPoolExecutor(len(SCANS)) as ex:
            per = dict(zip(SCANS, ex.map(_simulate, SCANS)))
        record("scans", seconds=time.perf_counter() - t0, per_scan=per, n_neurons=CFG["virtual_v1"]["n_neurons"])
    elif a.stage == "reliability":
        from neuroreg.reliability.results import run_reliability

        for s in SCANS:
            run_reliability(f"{RUN}/scans/{s}.h5", f"{RUN}/reliability/{s}.h5", f"{RUN}/reliability/{s}.csv",
                            min_repeats=CFG["reliability"]["min_repeats"], name=s)
        record("reliability", seconds=time.perf_counter() - t0)
    elif a.stage == "encoders":
        import multiprocessing as mp

        with ProcessPoolExecutor(a.parallel, mp_context=mp.get_context("spawn")) as ex:
            per = list(ex.map(_encoder, SCANS))
        record("encoders", seconds=time.perf_counter() - t0, parallel=a.parallel, per_scan=per)
    elif a.stage == "similarity":
        from neuroreg.similarity.targets import build_target

        inputs = {s: {"scan": f"{RUN}/scans/{s}.h5", "reliability": f"{RUN}/reliability/{s}.h5",
                      "predictions": f"{RUN}/encoders/{s}/predictions.h5"} for s in SCANS}
        per = {}
        for target in a.targets:
            t = time.perf_counter()
            build_target(target, f"{RUN}/similarity/{target}.h5", inputs, f"{RUN}/data/stimuli.h5",
                         block_size=CFG["similarity"]["block_size"], scratch_dir=f"{RUN}/similarity",
                         seed=seeds.shuffle_seed(CFG["seed"], CFG["similarity"]["shuffle_seed"]))
            per[target] = time.perf_counter() - t
        record("similarity", seconds=time.perf_counter() - t0, per_target=per)
    elif a.stage == "cotrain" and a.one:
        cotrain_one(a.one, a.epochs, a.fast)
    elif a.stage == "cotrain":
        procs = [subprocess.Popen([sys.executable, __file__, "cotrain", "--one", run, "--epochs", str(a.epochs)]
                                  + (["--fast"] if a.fast else [])) for run in a.runs]
        codes = [q.wait() for q in procs]
        record("cotrain_concurrent", seconds=time.perf_counter() - t0, runs=a.runs, epochs=a.epochs, fast=a.fast,
               exit_codes=codes)
    else:
        p.error(f"unknown stage {a.stage}")


def cotrain_one(run: str, epochs: int, fast: bool) -> None:
    import torch

    from neuroreg import logs
    from neuroreg.cotrain import data, outputs, train

    target, alpha, seed = run.split(":")
    d = Path(f"{RUN}/cotrain/{target}/alpha{alpha}/seed{seed}")
    logs.setup(str(d / "train.log"))
    cfg = dict(CFG["cotrain"], epochs=epochs, deterministic=not fast)
    torch_seed = seeds.cotrain_seed(CFG["seed"], seed)
    recipe = train.Recipe.from_config(cfg, alpha=float(alpha), seed=torch_seed)
    dev = torch.device("cuda")
    cifar = data.load_cifar(f"{RUN}/data/cifar10.h5", dev, n_train=cfg["n_train"], n_test=cfg["n_test"])
    stimuli = None
    if recipe.alpha > 0:
        stimuli = data.load_stimuli(f"{RUN}/data/stimuli.h5", f"{RUN}/similarity/{target}.h5", dev)
    t = time.perf_counter()
    model, mixer, history = train.train(recipe, cifar, stimuli, device=dev, checkpoint_path=d / "checkpoint.pt")
    seconds = time.perf_counter() - t
    m = outputs.save_run(model, mixer, history, recipe, model_path=d / "model.pt", history_path=d / "history.csv",
                         metrics_path=d / "metrics.json",
                         info={"condition": target, "alpha": float(alpha), "seed": int(seed), "torch_seed": torch_seed,
                               "device": torch.cuda.get_device_name(), "n_stimuli": 0 if stimuli is None else
                               len(stimuli.images), "target_attrs": {}})
    (d / "checkpoint.pt").unlink(missing_ok=True)
    record(f"cotrain_{run}", seconds=seconds, epochs=epochs, fast=fast, test_accuracy=m["final"]["test_accuracy"],
           gamma=m["gamma"], seconds_per_epoch=[h["seconds"] for h in history])


if __name__ == "__main__":
    main()
