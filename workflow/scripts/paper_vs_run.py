"""results/tables/paper_vs_run.csv: the paper's numbers (section 4.1, 4.2, Fig. 1D) beside this run's."""

import pandas as pd

from neuroreg import logs

log = logs.setup(snakemake.log[0])  # noqa: F821

from neuroreg.figures.robustness import paper_vs_run, read_runs  # noqa: E402
from neuroreg.io import atomic_output  # noqa: E402

sm = snakemake  # noqa: F821
noise = read_runs(sm.input.noise) if sm.input.noise else None
adv = read_runs(sm.input.adversarial) if sm.input.adversarial else None
table = paper_vs_run(noise, adv, pd.read_csv(sm.input.correlations))
with atomic_output(sm.output[0]) as tmp:
    table.to_csv(tmp, index=False, float_format="%.5g")
log.info("\n%s", table.to_string(index=False))
