"""Rule `fig6_alpha_sweep` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.fig6_alpha_sweep(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import fig6_alpha_sweep

if __name__ == "__main__":
    fig6_alpha_sweep(snakemake)  # noqa: F821
