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

from ..io import remove_stale_temporaries
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
    from . import data, outputs, train

    from ..grid import parse_condition
    from .multitask import load_responses

    cfg = smk.params.cotrain
    wc = smk.wildcards
    seed = seeds.cotrain_seed(smk.params.master_seed, wc.seed)
    cond = parse_condition(wc.target)
    method = condition_recipe(cond, smk.input.get("blur_selection"))
    recipe = train.Recipe.from_config(cfg, alpha=float(wc.alpha), seed=seed, **method)
    torch.set_num_threads(smk.threads)
    dev = devices.select_device(cfg["device"])
    log.info("target=%s alpha=%s seed=%s (torch seed %d) on %s: %s", wc.target, wc.alpha, wc.seed, seed, dev, method)

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
        log.info("target %s: %d stimuli of %s", wc.target, len(stimuli.images), tuple(stimuli.images.shape[2:]))

    checkpoint = Path(smk.params.checkpoint)
    model, mixer, history = train.train(recipe, cifar, stimuli, device=dev, checkpoint_path=checkpoint)
    m = outputs.save_run(
        model, mixer, history, recipe,
        model_path=smk.output.model, history_path=smk.output.history, metrics_path=smk.output.metrics,
        info={"target": wc.target, "alpha": float(wc.alpha), "seed": int(wc.seed), "torch_seed": seed,
              "method": {"kind": cond.kind, "loss": cond.loss, "similarity_target": cond.target,
                         "responses": cond.responses, "blur_sigma": recipe.blur_sigma},
              "device": str(dev), "n_stimuli": 0 if stimuli is None else len(stimuli.images),
              "target_attrs": target_attrs},
    )
    checkpoint.unlink(missing_ok=True)  # the outputs are complete: the checkpoint has served
    remove_stale_temporaries(Path(checkpoint))  # and what a killed earlier attempt left of it (scancel mid-write)
    log.info("done: test accuracy %.4f, gamma %s", m["final"]["test_accuracy"], m["gamma"])


def condition_recipe(cond, blur_selection=None) -> dict:
    """The Recipe fields a condition sets (:class:`neuroreg.grid.Condition`): the regularizer, the loss
    form and the blur sigma (``best``: the one ``blur_selection``, tables/blur_selection.csv, chose)."""
    out = {"regularizer": "mtl" if cond.kind == "mtl" else "similarity", "loss": cond.loss if cond.kind == "similarity" else "arctanh"}
    if cond.blur == "best":
        from ..robustness.blur import selected_sigma

        out["blur_sigma"] = selected_sigma(blur_selection)
    elif cond.blur is not None:
        out["blur_sigma"] = float(cond.blur)
    return out


@job
def gamma_table(smk) -> None:
    """Table 1 of the supplement: final gamma per layer, mean over seeds, per alpha -> results/tables/gamma.csv."""
    from ..io import atomic_output
    from .outputs import gamma_table as table_of

    table = table_of([json.loads(Path(p).read_text()) for p in smk.input])
    with atomic_output(smk.output[0]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    log.info("gamma table:\n%s", table.to_string(index=False))


@job
def mtl_responses(smk) -> None:
    """The responses one multi-task condition predicts -> results/responses/{responses}.h5 (neuroreg.cotrain.multitask)."""
    from .multitask import build_responses

    scans = list(smk.params.scans)
    predictions = list(smk.input.get("predictions", [])) or [None] * len(scans)
    inputs = {s: {"scan": sc, "predictions": pr} for s, sc, pr in zip(scans, smk.input.scans, predictions)}
    info = build_responses(smk.params.responses, smk.output[0], inputs, smk.input.stimuli, seed=int(smk.params.seed))
    log.info("responses %s over %d scans: %s", smk.params.responses, len(scans), info)
