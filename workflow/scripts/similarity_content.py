"""Rule `similarity_content` (workflow/rules/similarity.smk).

Runs neuroreg.similarity.jobs.similarity_content(snakemake); everything else is in that function.
"""

from neuroreg.similarity.jobs import similarity_content

if __name__ == "__main__":
    similarity_content(snakemake)  # noqa: F821
