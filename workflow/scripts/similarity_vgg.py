"""Stage 4: the 'vgg' target: VGG19 conv3_1 feature similarity of the once-shown stimuli."""

from pathlib import Path

from neuroreg import logs

log = logs.setup(snakemake.log[0])  # noqa: F821

from neuroreg.similarity.vgg import build_vgg_target  # noqa: E402

sm = snakemake  # noqa: F821
build_vgg_target(sm.output[0], sm.params.weights, sm.input.stimuli, block_size=int(sm.params.block_size),
                 upsample=float(sm.params.upsample), scratch_dir=Path(sm.output[0]).parent)
log.info("wrote %s", sm.output[0])
