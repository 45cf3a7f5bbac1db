"""Rule `verdict` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.verdict(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import verdict

if __name__ == "__main__":
    verdict(snakemake)  # noqa: F821
