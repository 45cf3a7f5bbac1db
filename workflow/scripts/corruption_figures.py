"""Rule `corruption_figures` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.corruption_figures(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import corruption_figures

if __name__ == "__main__":
    corruption_figures(snakemake)  # noqa: F821
