"""Rule `paper_vs_run` (workflow/rules/figures.smk).

Runs neuroreg.figures.jobs.paper_vs_run(snakemake); everything else is in that function.
"""

from neuroreg.figures.jobs import paper_vs_run

if __name__ == "__main__":
    paper_vs_run(snakemake)  # noqa: F821
