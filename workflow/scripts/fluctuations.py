"""Rule `fluctuations` (workflow/rules/reliability.smk).

Runs neuroreg.reliability.jobs.fluctuations(snakemake); everything else is in that function.
"""

from neuroreg.reliability.jobs import fluctuations

if __name__ == "__main__":
    fluctuations(snakemake)  # noqa: F821
