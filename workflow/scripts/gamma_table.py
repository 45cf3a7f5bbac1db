"""Rule gamma_table: Table 1 of the supplement (final gamma per layer, mean over seeds, per alpha)."""

import json

from neuroreg import logs

log = logs.setup(snakemake.log[0])

from neuroreg.cotrain.outputs import gamma_table  # noqa: E402
from neuroreg.io import atomic_output  # noqa: E402

table = gamma_table([json.load(open(p)) for p in snakemake.input])
with atomic_output(snakemake.output[0]) as tmp:
    table.to_csv(tmp, index=False, float_format="%.4f")
log.info("gamma table:\n%s", table.to_string(index=False))
