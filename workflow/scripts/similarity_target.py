"""Stage 4: one similarity target (neural_model | neural_data | ground_truth | shuffle) -> results/similarity/{target}.h5.

Inputs are lists aligned with params.scans (scans, reliability, optional predictions).
"""

from pathlib import Path

from neuroreg import logs

log = logs.setup(snakemake.log[0])  # noqa: F821

from neuroreg.similarity.targets import build_target  # noqa: E402

sm = snakemake  # noqa: F821
scans = list(sm.params.scans)
predictions = list(sm.input.get("predictions", [])) or [None] * len(scans)
inputs = {s: {"scan": sc, "reliability": rel, "predictions": pr}
          for s, sc, rel, pr in zip(scans, sm.input.scans, sm.input.reliability, predictions)}
log.info("target %s over %d scans, block %d", sm.params.target, len(scans), sm.params.block_size)
build_target(sm.params.target, sm.output[0], inputs, sm.input.stimuli, block_size=int(sm.params.block_size),
             seed=int(sm.params.seed), scratch_dir=Path(sm.output[0]).parent)
log.info("wrote %s", sm.output[0])
