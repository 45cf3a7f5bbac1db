"""Rule `fig2_similar_pairs` (workflow/rules/similarity.smk).

Runs neuroreg.similarity.jobs.fig2_similar_pairs(snakemake); everything else is in that function.
"""

from neuroreg.similarity.jobs import fig2_similar_pairs

if __name__ == "__main__":
    fig2_similar_pairs(snakemake)  # noqa: F821
