"""Rule `frequency_probe` (workflow/rules/robustness.smk).

Runs neuroreg.robustness.jobs.frequency_probe(snakemake); everything else is in that function.
"""

from neuroreg.robustness.jobs import frequency_probe

if __name__ == "__main__":
    frequency_probe(snakemake)  # noqa: F821
