"""Rules `fig4a_noise_robustness`, `fig4b_noise_robustness_cifar100` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.fig4_noise_robustness(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import fig4_noise_robustness

if __name__ == "__main__":
    fig4_noise_robustness(snakemake)  # noqa: F821
