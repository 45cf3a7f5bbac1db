"""Rule `table1_gamma` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.table1_gamma(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import table1_gamma

if __name__ == "__main__":
    table1_gamma(snakemake)  # noqa: F821
