"""Rule `corruption_robustness` (workflow/rules/robustness.smk).

Runs neuroreg.robustness.jobs.corruption_robustness(snakemake); everything else is in that function.
"""

from neuroreg.robustness.jobs import corruption_robustness

if __name__ == "__main__":
    corruption_robustness(snakemake)  # noqa: F821
