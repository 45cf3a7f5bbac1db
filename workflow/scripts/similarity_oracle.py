"""Stage 4: S^model, single-trial S^data (and S^true) of one scan's oracle images, beside its S^oracle.

Writes results/similarity/oracle/{scan}.h5: oracle_image_id, oracle, model, data_trials,
trial_oracle [, true]; attrs: scan and the correlations of neuroreg.similarity_targets.correlations.
"""

import h5py
import numpy as np

from neuroreg import logs

log = logs.setup(snakemake.log[0])  # noqa: F821

from neuroreg.io import atomic_output  # noqa: E402
from neuroreg.similarity.targets import correlations, oracle_comparison  # noqa: E402

sm = snakemake  # noqa: F821
comp = oracle_comparison(sm.input.scan, sm.input.reliability, sm.input.predictions)
r = correlations(comp)
log.info("%s: %s", sm.wildcards.scan, r)
with atomic_output(sm.output[0]) as tmp:
    with h5py.File(tmp, "w") as f:
        for k, v in comp.items():
            f.create_dataset(k, data=np.asarray(v, dtype=np.int64 if k.endswith(("_id", "_oracle")) else np.float32))
        f.attrs["scan"] = sm.wildcards.scan
        for k, v in r.items():
            f.attrs[k] = v
