"""Rule `adversarial_robustness` (workflow/rules/robustness.smk).

Runs neuroreg.robustness.jobs.adversarial_robustness(snakemake); everything else is in that function.
"""

from neuroreg.robustness.jobs import adversarial_robustness

if __name__ == "__main__":
    adversarial_robustness(snakemake)  # noqa: F821
