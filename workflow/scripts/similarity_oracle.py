"""Rule `similarity_oracle` (workflow/rules/similarity.smk).

Runs neuroreg.similarity.jobs.similarity_oracle(snakemake); everything else is in that function.
"""

from neuroreg.similarity.jobs import similarity_oracle

if __name__ == "__main__":
    similarity_oracle(snakemake)  # noqa: F821
