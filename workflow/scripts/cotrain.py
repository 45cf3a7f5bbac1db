"""Rule cotrain: train one model (Eq. 7-10, recipe of section 4.1) and write its outputs.

Outside Snakemake: ``python workflow/scripts/cotrain.py TARGET ALPHA SEED`` (reads config.yaml).
"""

from pathlib import Path

if "snakemake" not in globals():  # run by hand: a stand-in for the snakemake object
    import sys
    from types import SimpleNamespace

    import yaml

    _cfg = yaml.safe_load(open("config.yaml"))
    _t, _a, _s = sys.argv[1:4]
    _d = f"results/cotrain/{_t}/alpha{_a}/seed{_s}"
    snakemake = SimpleNamespace(
        input=SimpleNamespace(
            cifar="results/data/cifar10.h5",
            stimuli="results/data/stimuli.h5",
            **({} if _t == "none" else {"similarity": f"results/similarity/{_t}.h5"}),
        ),
        output=SimpleNamespace(model=f"{_d}/model.pt", history=f"{_d}/history.csv", metrics=f"{_d}/metrics.json"),
        params=SimpleNamespace(cotrain=_cfg["cotrain"], master_seed=_cfg["seed"], checkpoint=f"{_d}/checkpoint.pt"),
        wildcards=SimpleNamespace(target=_t, alpha=_a, seed=_s),
        log=[f"logs/cotrain/{_t}/alpha{_a}/seed{_s}.log"],
        threads=2,
    )

import os  # noqa: E402

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS: set before CUDA starts

from neuroreg import logs  # noqa: E402

log = logs.setup(snakemake.log[0])

import numpy as np  # noqa: E402
import torch  # noqa: E402

from neuroreg import devices as device
from neuroreg.cotrain import data, outputs, train  # noqa: E402

cfg = snakemake.params.cotrain
wc = snakemake.wildcards
# the run's seed: derived from the master seed and the seed wildcard
seed = int(np.random.SeedSequence([snakemake.params.master_seed, int(wc.seed)]).generate_state(1)[0] % 2**31)
recipe = train.Recipe.from_config(cfg, alpha=float(wc.alpha), seed=seed)
torch.set_num_threads(snakemake.threads)
dev = device.select_device(cfg.get("device", "auto"))
log.info("target=%s alpha=%s seed=%s (torch seed %d) on %s", wc.target, wc.alpha, wc.seed, seed, dev)

cifar = data.load_cifar(snakemake.input.cifar, dev, n_train=cfg.get("n_train"), n_test=cfg.get("n_test"))
stimuli, target_attrs = None, {}
if recipe.alpha > 0:
    dtype = getattr(torch, cfg.get("target_dtype", "float32"))
    stimuli = data.load_stimuli(snakemake.input.stimuli, snakemake.input.similarity, dev, dtype=dtype)
    target_attrs = stimuli.attrs
    log.info("target %s: %d stimuli of %s", wc.target, len(stimuli.images), tuple(stimuli.images.shape[2:]))

checkpoint = Path(snakemake.params.checkpoint)
model, mixer, history = train.train(recipe, cifar, stimuli, device=dev, checkpoint_path=checkpoint)
m = outputs.save_run(
    model,
    mixer,
    history,
    recipe,
    model_path=snakemake.output.model,
    history_path=snakemake.output.history,
    metrics_path=snakemake.output.metrics,
    info={
        "target": wc.target,
        "alpha": float(wc.alpha),
        "seed": int(wc.seed),
        "torch_seed": seed,
        "device": str(dev),
        "n_stimuli": 0 if stimuli is None else len(stimuli.images),
        "target_attrs": target_attrs,
    },
)
checkpoint.unlink(missing_ok=True)  # the outputs are complete: the checkpoint has served
log.info("done: test accuracy %.4f, gamma %s", m["final"]["test_accuracy"], m["gamma"])
