"""Rule `similarity_figures` (workflow/rules/similarity.smk).

Runs neuroreg.similarity.jobs.similarity_figures(snakemake); everything else is in that function.
"""

from neuroreg.similarity.jobs import similarity_figures

if __name__ == "__main__":
    similarity_figures(snakemake)  # noqa: F821
