"""Rule `fig13_frequency` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.fig13_frequency(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import fig13_frequency

if __name__ == "__main__":
    fig13_frequency(snakemake)  # noqa: F821
