"""Rule `gamma_table` (workflow/rules/cotrain.smk).

Runs neuroreg.cotrain.jobs.gamma_table(snakemake); everything else is in that function.
"""

from neuroreg.cotrain.jobs import gamma_table

if __name__ == "__main__":
    gamma_table(snakemake)  # noqa: F821
