"""Rule `reliability`: results/scans/{scan}.h5 -> results/reliability/{scan}.h5 + .csv (Eq. 1, 3, 5).

Outside snakemake: python workflow/scripts/reliability.py SCAN.h5 OUT.h5 OUT.csv [MIN_REPEATS]
"""
import sys

import numpy as np

from neuroreg import logs
from neuroreg.reliability.io import run_reliability

if "snakemake" in globals():
    log = logs.setup(snakemake.log[0])  # noqa: F821
    scan_path, h5_path, csv_path = snakemake.input.scan, snakemake.output.h5, snakemake.output.csv  # noqa: F821
    min_repeats, name = snakemake.params.min_repeats, snakemake.wildcards.scan  # noqa: F821
else:
    log = logs.setup(None)
    scan_path, h5_path, csv_path = sys.argv[1:4]
    min_repeats, name = (int(sys.argv[4]) if len(sys.argv) > 4 else 2), None

r = run_reliability(scan_path, h5_path, csv_path, min_repeats=min_repeats, name=name)
w = r["snr_weight"]
log.info("%s: %d neurons, %d oracle images (repeats %d-%d)", scan_path, len(w), len(r["oracle_image_id"]),
         r["oracle_repeats"].min(), r["oracle_repeats"].max())
log.info("w_a: median %.3f, range [%.3f, %.3f], %d neurons with w_a = 0 (no signal or dead trace)",
         np.median(w), w.min(), w.max(), int((w == 0).sum()))
log.info("oracle correlation: median %.3f, range [%.3f, %.3f]; explainable variance median %.3f",
         np.median(r["oracle_correlation"]), r["oracle_correlation"].min(), r["oracle_correlation"].max(),
         np.median(r["explainable_variance"]))
log.info("S^oracle diagonal mean %.3f; Delta S^repeat SD %.4f",
         np.diag(r["oracle_similarity"]).mean(), r["delta_repeat"].std())
