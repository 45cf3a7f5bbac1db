"""Rules `similarity_target`, `similarity_single_scan` (workflow/rules/similarity.smk).

Runs neuroreg.similarity.jobs.similarity_target(snakemake); everything else is in that function.
"""

from neuroreg.similarity.jobs import similarity_target

if __name__ == "__main__":
    similarity_target(snakemake)  # noqa: F821
