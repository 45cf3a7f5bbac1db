"""Rule `corrupt_cifar` (workflow/rules/robustness.smk).

Runs neuroreg.robustness.jobs.corrupt_cifar(snakemake); everything else is in that function.
"""

from neuroreg.robustness.jobs import corrupt_cifar

if __name__ == "__main__":
    corrupt_cifar(snakemake)  # noqa: F821
