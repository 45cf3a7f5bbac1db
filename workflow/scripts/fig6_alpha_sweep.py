"""Fig. 6 (supplement): accuracy vs noise for each alpha of the sweep, mean +- SEM over the sweep's seeds."""

from neuroreg import logs

log = logs.setup(snakemake.log[0])  # noqa: F821

from neuroreg.figures.robustness import mean_sem, plot_alpha_sweep, read_runs  # noqa: E402

sm = snakemake  # noqa: F821
summary = mean_sem(read_runs(sm.input.noise), ["alpha", "level"], "accuracy")
log.info("accuracy per alpha (mean, sem over seeds):\n%s", summary.to_string(index=False))
plot_alpha_sweep(summary, sm.output.png)
