"""Rule `fig7_adversarial_norms` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.fig7_adversarial_norms(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import fig7_adversarial_norms

if __name__ == "__main__":
    fig7_adversarial_norms(snakemake)  # noqa: F821
