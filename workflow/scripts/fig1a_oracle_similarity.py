"""Rule `fig1a_oracle_similarity` (workflow/rules/reliability.smk).

Runs neuroreg.reliability.jobs.fig1a_oracle_similarity(snakemake); everything else is in that function.
"""

from neuroreg.reliability.jobs import fig1a_oracle_similarity

if __name__ == "__main__":
    fig1a_oracle_similarity(snakemake)  # noqa: F821
