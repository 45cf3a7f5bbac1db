"""Fig. 5: median minimal L2 and Linf perturbation vs attack steps per condition (mean +- SEM over seeds)."""

from neuroreg import logs

log = logs.setup(snakemake.log[0])  # noqa: F821

from neuroreg.figures.robustness import mean_sem, plot_adversarial_steps, read_runs  # noqa: E402

sm = snakemake  # noqa: F821
steps = read_runs(sm.input.steps)
log.info("median perturbation vs steps:\n%s",
         mean_sem(steps, ["norm", "condition", "steps"], "median").to_string(index=False))
plot_adversarial_steps(steps, sm.output.png)
