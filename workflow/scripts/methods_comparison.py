"""Rule `methods_comparison` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.methods_comparison(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import methods_comparison

if __name__ == "__main__":
    methods_comparison(snakemake)  # noqa: F821
