"""Rules `noise_robustness`, `noise_robustness_cifar100` (workflow/rules/robustness.smk).

Runs neuroreg.robustness.jobs.noise_robustness(snakemake); everything else is in that function.
"""

from neuroreg.robustness.jobs import noise_robustness

if __name__ == "__main__":
    noise_robustness(snakemake)  # noqa: F821
