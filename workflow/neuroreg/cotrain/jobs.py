"""What the rules of stage 5 (``workflow/rules/cotrain.smk``) run, one function per rule.

Each takes the rule's ``snakemake`` object; run one by hand by asking Snakemake for its output,
e.g. ``snakemake --cores 2 results/cotrain/none/alpha0/seed0/metrics.json`` (it resumes from
``checkpoint.pt`` when one is there).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from ..files import remove_stale_temporaries
from ..logs import job

log = logging.getLogger(__name__)


@job
def cotrain(smk) -> None:
    """Train one model (Eq. 7-10, recipe of section 4.1) and write model.pt, history.csv, metrics.json.

    ``params.cotrain``: the recipe (:func:`neuroreg.grid.cotrain_params`); the run's alpha and seed
    are its wildcards, its torch seed :func:`neuroreg.seeds.cotrain_seed` of ``params.master_seed``.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS: set before CUDA starts
    import torch

    from .. import devices, seeds
    from ..conditions import parse
    from . import data, outputs, train
    from .blur import selected_sigma
    from .multitask import load_responses

    cfg = smk.params.cotrain
    wc = smk.wildcards
    seed = seeds.cotrain_seed(smk.params.master_seed, wc.seed)
    cond = parse(wc.condition)
    method = cond.recipe(selected_sigma(smk.input.blur_selection) if cond.blur == "best" else None)
    recipe = train.Recipe.from_config(cfg, alpha=float(wc.alpha), seed=seed, **method)
    torch.set_num_threads(smk.threads)
    dev = devices.select_device(cfg["device"], key="cotrain.device")
    log.info("condition=%s alpha=%s seed=%s (torch seed %d) on %s: %s", wc.condition, wc.alpha, wc.seed, seed, dev,
             method)

    cifar = data.load_cifar(smk.input.cifar, dev, n_train=cfg["n_train"], n_test=cfg["n_test"])
    stimuli, target_attrs = None, {}
    if recipe.alpha > 0:
        if cond.kind == "mtl":
            stimuli = load_responses(smk.input.stimuli, smk.input.responses, dev)
            log.info("responses %s: %d stimuli x %d neurons, readout from layer %d", cond.responses,
                     len(stimuli.images), stimuli.target.shape[1], recipe.mtl_layer)
        else:
            dtype = getattr(torch, cfg["target_dtype"])
            stimuli = data.load_stimuli(smk.input.stimuli, smk.input.similarity, dev, dtype=dtype)
        target_attrs = stimuli.attrs
        log.info("%s: %d stimuli of %s", wc.condition, len(stimuli.images), tuple(stimuli.images.shape[2:]))

    checkpoint = Path(smk.params.checkpoint)
    model, mixer, history = train.train(recipe, cifar, stimuli, device=dev, checkpoint_path=checkpoint)
    m = outputs.save_run(
        model, mixer, history, recipe,
        model_path=smk.output.model, history_path=smk.output.history, metrics_path=smk.output.metrics,
        info={"condition": wc.condition, "alpha": float(wc.alpha), "seed": int(wc.seed), "torch_seed": seed,
              "method": cond.method(recipe.blur_sigma),
              "device": str(dev), "n_stimuli": 0 if stimuli is None else len(stimuli.images),
              "target_attrs": target_attrs},
    )
    checkpoint.unlink(missing_ok=True)  # the outputs are complete: the checkpoint has served
    remove_stale_temporaries(Path(checkpoint))  # and what a killed earlier attempt left of it (scancel mid-write)
    log.info("done: test accuracy %.4f, gamma %s", m["final"]["test_accuracy"], m["gamma"])


@job
def gamma_table(smk) -> None:
    """Table 1 of the supplement: final gamma per layer, mean over seeds, per alpha -> results/tables/gamma.csv."""
    from ..files import atomic_output
    from .outputs import gamma_table as table_of

    table = table_of([json.loads(Path(p).read_text()) for p in smk.input])
    with atomic_output(smk.output[0]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    log.info("gamma table:\n%s", table.to_string(index=False))


@job
def blur_selection(smk) -> None:
    """The best blur of the low-pass sweep on held-out training images -> tables/blur_selection.csv."""
    import torch

    from ..files import write_csv
    from . import blur
    from .outputs import load_model

    torch.set_num_threads(smk.threads)
    p = smk.params
    images, labels = blur.held_out_images(smk.input.cifar, p.n_validation, p.n_train)
    models = [(cond, float(sigma), int(seed), load_model(m, mt))
              for (cond, sigma, seed), m, mt in zip(p.runs, smk.input.models, smk.input.metrics)]
    table = blur.select(models, images, labels, p.noise_levels, p.noise_seed, batch_size=p.batch_size)
    write_csv(table, smk.output[0])
    log.info("blur selection on %d held-out training images:\n%s", len(labels), table.to_string(index=False))
