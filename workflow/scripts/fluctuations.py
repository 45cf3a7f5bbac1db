"""Rule `fluctuations`: every scan's reliability file -> fluctuations.h5 (Eq. 4, 5) + oracle_order.csv."""
from neuroreg import logs
from neuroreg.reliability.io import run_fluctuations

log = logs.setup(snakemake.log[0])  # noqa: F821
paths = dict(zip(snakemake.params.scans, snakemake.input.reliability))  # noqa: F821
fl = run_fluctuations(paths, snakemake.output.h5, snakemake.output.order)  # noqa: F821
log.info("scans sharing oracle images: %s (%d images); status %s %s", fl["scans"], len(fl["image_id"]),
         fl["status"], fl["reason"])
if fl["delta_scan"].size:
    log.info("SD Delta S^scan %.4f", fl["delta_scan"].std())
for s, d in fl["delta_repeat"].items():
    log.info("SD Delta S^repeat %s %.4f", s, d.std())
