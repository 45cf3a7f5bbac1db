"""Rule simulate_scan: the virtual V1 experiment on the stimulus bank -> results/scans/{scan}.h5 (+ ground truth).

Outside snakemake: python workflow/scripts/simulate_scan.py results/data/stimuli.h5 out.h5 SCAN [log]
(reads config.yaml for the scan's animal/session, virtual_v1, stimuli.repeats and seed).
"""

import os
import sys
from types import SimpleNamespace

if "snakemake" not in globals():  # run by hand: stimuli output scan [log]
    import yaml

    _cfg = yaml.safe_load(open("config.yaml"))
    snakemake = SimpleNamespace(
        input=SimpleNamespace(stimuli=sys.argv[1]), output=[sys.argv[2]], log=sys.argv[4:5] or [None],
        wildcards=SimpleNamespace(scan=sys.argv[3]),
        params=SimpleNamespace(scan=_cfg["virtual_v1"]["scans"][sys.argv[3]], virtual_v1=_cfg["virtual_v1"],
                               stimuli=_cfg["stimuli"], seed=_cfg["seed"]), threads=1)

# BLAS threads fixed before numpy loads: matmul bits (hence the noise draws) depend on the thread count, so the
# same config gives the same file on any machine (snakemake sets these for shell rules only).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(getattr(snakemake, "threads", 1))

from neuroreg import logs  # noqa: E402

log = logs.setup(snakemake.log[0])

from neuroreg.ingest.virtual_scan import simulate_scan_file  # noqa: E402

simulate_scan_file(
    snakemake.input.stimuli,
    snakemake.output[0],
    scan_name=snakemake.wildcards.scan,
    animal=snakemake.params.scan["animal"],
    session=snakemake.params.scan["session"],
    virtual_v1=snakemake.params.virtual_v1,
    repeats=snakemake.params.stimuli["repeats"],
    seed=snakemake.params.seed,
)
