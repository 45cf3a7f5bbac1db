"""Rule `controls` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.controls(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import controls

if __name__ == "__main__":
    controls(snakemake)  # noqa: F821
