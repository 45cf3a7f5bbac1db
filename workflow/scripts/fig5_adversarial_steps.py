"""Rule `fig5_adversarial_steps` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.fig5_adversarial_steps(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import fig5_adversarial_steps

if __name__ == "__main__":
    fig5_adversarial_steps(snakemake)  # noqa: F821
