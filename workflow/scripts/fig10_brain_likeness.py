"""Rule `fig10_brain_likeness` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.fig10_brain_likeness(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import fig10_brain_likeness

if __name__ == "__main__":
    fig10_brain_likeness(snakemake)  # noqa: F821
