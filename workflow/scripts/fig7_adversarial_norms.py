"""Fig. 7 (supplement): median minimal L0, L1, L2, Linf perturbation per condition; bars = mean, dots = seeds."""

from neuroreg import logs

log = logs.setup(snakemake.log[0])  # noqa: F821

from neuroreg.figures.robustness import mean_sem, plot_adversarial_norms, read_runs  # noqa: E402

sm = snakemake  # noqa: F821
adv = read_runs(sm.input.adversarial)
log.info("median perturbation per norm:\n%s", mean_sem(adv, ["norm", "condition"], "median").to_string(index=False))
plot_adversarial_norms(adv, sm.output.png)
