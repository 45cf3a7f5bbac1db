"""Rules `cotrain`, `cotrain_cifar100` (workflow/rules/cotrain.smk).

Runs neuroreg.cotrain.jobs.cotrain(snakemake); everything else is in that function.
"""

from neuroreg.cotrain.jobs import cotrain

if __name__ == "__main__":
    cotrain(snakemake)  # noqa: F821
