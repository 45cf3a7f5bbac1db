"""Table 1 (supplement) as a figure: final gamma_k per layer, mean over seeds, per alpha (results/tables/gamma.csv)."""

import pandas as pd

from neuroreg import logs

log = logs.setup(snakemake.log[0])  # noqa: F821

from neuroreg.figures.robustness import plot_gamma_table  # noqa: E402

sm = snakemake  # noqa: F821
gamma = pd.read_csv(sm.input.gamma)
log.info("gamma:\n%s", gamma.to_string(index=False))
plot_gamma_table(gamma, sm.output.png)
