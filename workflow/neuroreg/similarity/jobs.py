"""What the rules of stage 4 (``workflow/rules/similarity.smk``) run, one function per rule.

Each takes the rule's ``snakemake`` object; run one by hand by asking Snakemake for its output,
e.g. ``snakemake --cores 2 results/default/similarity/neural_model.h5 --forcerun similarity_target``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ..figures.similarity import plot_model_similarity, plot_similar_pairs, plot_similarity_scatter
from ..files import atomic_output, open_h5, require_key
from ..logs import job
from ..measures import pearson_r
from .matrix import extreme_pairs, read_similarity
from .targets import build_target, correlations, oracle_comparison, trial_pairs
from .vgg import build_vgg_target

log = logging.getLogger(__name__)


@job
def similarity_target(smk) -> None:
    """One target (neural_model | neural_data | ground_truth | shuffle) -> results/similarity/{target}.h5.

    Inputs are lists aligned with ``params.scans`` (scans, reliability, optional predictions);
    ``params.seed`` is the shuffle target's permutation seed (None for the others).
    """
    scans = list(smk.params.scans)
    predictions = list(smk.input.get("predictions", [])) or [None] * len(scans)
    inputs = {s: {"scan": sc, "reliability": rel, "predictions": pr}
              for s, sc, rel, pr in zip(scans, smk.input.scans, smk.input.reliability, predictions)}
    log.info("target %s over %d scans, block %d", smk.params.target, len(scans), smk.params.block_size)
    seed = smk.params.seed
    build_target(smk.params.target, smk.output[0], inputs, smk.input.stimuli, block_size=int(smk.params.block_size),
                 seed=0 if seed is None else int(seed), scratch_dir=Path(smk.output[0]).parent)
    log.info("wrote %s", smk.output[0])


@job
def similarity_vgg(smk) -> None:
    """The 'vgg' target: VGG19 conv3_1 feature similarity of the once-shown stimuli."""
    build_vgg_target(smk.output[0], smk.params.weights, smk.input.stimuli, block_size=int(smk.params.block_size),
                     upsample=float(smk.params.upsample), scratch_dir=Path(smk.output[0]).parent)
    log.info("wrote %s", smk.output[0])


@job
def similarity_content(smk) -> None:
    """A target from the stimuli alone, ``pixel`` or ``random_network`` (:mod:`.content`)."""
    import torch

    from .content import build_content_target

    torch.set_num_threads(smk.threads)
    p = smk.params
    attrs = build_content_target(p.target, smk.output[0], smk.input.stimuli, arch=p.arch, width=int(p.width),
                                 layer=int(p.layer), seed=int(p.seed), block_size=int(p.block_size),
                                 scratch_dir=Path(smk.output[0]).parent)
    log.info("wrote %s: %s", smk.output[0], attrs["method"])


@job
def similarity_oracle(smk) -> None:
    """S^model, single-trial S^data (and S^true) of one scan's oracle images, beside its S^oracle.

    Writes results/similarity/oracle/{scan}.h5: oracle_image_id, oracle, model, data_trials,
    trial_oracle [, true]; attrs: scan and the correlations of :func:`.targets.correlations`.
    """
    comp = oracle_comparison(smk.input.scan, smk.input.reliability, smk.input.predictions)
    r = correlations(comp)
    log.info("%s: %s", smk.wildcards.scan, r)
    with atomic_output(smk.output[0]) as tmp:
        with h5py.File(tmp, "w") as f:
            for k, v in comp.items():
                f.create_dataset(k, data=np.asarray(v, dtype=np.int64 if k.endswith(("_id", "_oracle")) else np.float32))
            f.attrs["scan"] = smk.wildcards.scan
            for k, v in r.items():
                f.attrs[k] = v


@job
def similarity_figures(smk) -> None:
    """Fig. 1B, Fig. 1D and results/tables/similarity_correlations.csv from the per-scan oracle files."""
    comps = {}
    for scan, path in zip(smk.params.scans, smk.input.oracle):
        with open_h5(path) as f:
            comps[scan] = {k: f[k][()] for k in f} | {"attrs": dict(f.attrs)}
    order_ids = pd.read_csv(smk.input.order)["image_id"].to_numpy()

    panels = []
    for scan, c in comps.items():
        ids = c["oracle_image_id"]
        pos = {int(i): k for k, i in enumerate(ids)}
        keep = [pos[int(i)] for i in order_ids if int(i) in pos]
        keep += [k for k in range(len(ids)) if k not in set(keep)]  # images outside the shared group go last
        panels.append((scan, c["model"][np.ix_(keep, keep)]))
    plot_model_similarity(panels, smk.output.fig1b)

    xd, yd, xm, ym = [], [], [], []
    for c in comps.values():
        d, o = trial_pairs(c["data_trials"], c["trial_oracle"], c["oracle"])
        yd.append(d), xd.append(o)
        iu = np.triu_indices(len(c["oracle_image_id"]), k=1)
        ym.append(c["model"][iu]), xm.append(c["oracle"][iu])
    xd, yd, xm, ym = map(np.concatenate, (xd, yd, xm, ym))
    r_data, r_model = pearson_r(xd, yd), pearson_r(xm, ym)
    plot_similarity_scatter((xd, yd), (xm, ym), r_data, r_model, smk.output.fig1d)

    cols = ["r_data_oracle", "r_model_oracle", "r_data_true", "r_model_true", "r_oracle_true"]
    rows = [{"scan": s, **{k: c["attrs"].get(k, np.nan) for k in cols}} for s, c in comps.items()]
    table = pd.DataFrame(rows)
    mean = {"scan": "mean", **table[cols].mean().to_dict()}
    pooled = {"scan": "pooled", "r_data_oracle": r_data, "r_model_oracle": r_model}
    table = pd.concat([table, pd.DataFrame([mean, pooled])], ignore_index=True)
    with atomic_output(smk.output.table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.4f")
    log.info("\n%s", table.to_string())


@job
def fig2_similar_pairs(smk) -> None:
    """Fig. 2: the most and least similar once-shown image pairs of S^model (results/similarity/neural_model.h5)."""
    k = int(smk.params.n_pairs)
    target = read_similarity(smk.input.similarity, load=False, check_symmetry=False)
    low, high = extreme_pairs(smk.input.similarity, k)
    with open_h5(smk.input.stimuli) as f:
        rows = target.image_index
        needed = sorted({int(rows[i]) for p in low + high for i in p[:2]})
        imgs = dict(zip(needed, require_key(f, "images", smk.input.stimuli)[needed]))
    pairs = [(int(rows[i]), int(rows[j]), s) for i, j, s in low + high]
    log.info("pairs (stimulus rows, S): %s", pairs)
    plot_similar_pairs(imgs, pairs, len(low), smk.output.png)


@job
def mtl_responses(smk) -> None:
    """The responses one multi-task condition predicts -> results/responses/{responses}.h5 (neuroreg.similarity.responses)."""
    from .responses import build_responses

    scans = list(smk.params.scans)
    predictions = list(smk.input.get("predictions", [])) or [None] * len(scans)
    inputs = {s: {"scan": sc, "predictions": pr} for s, sc, pr in zip(scans, smk.input.scans, predictions)}
    info = build_responses(smk.params.responses, smk.output[0], inputs, smk.input.stimuli, seed=int(smk.params.seed))
    log.info("responses %s over %d scans: %s", smk.params.responses, len(scans), info)
