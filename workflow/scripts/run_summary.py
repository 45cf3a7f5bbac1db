"""Rule `run_summary` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.run_summary(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import run_summary

if __name__ == "__main__":
    run_summary(snakemake)  # noqa: F821
