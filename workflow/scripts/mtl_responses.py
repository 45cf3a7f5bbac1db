"""Rule `mtl_responses` (workflow/rules/similarity.smk).

Runs neuroreg.similarity.jobs.mtl_responses(snakemake); everything else is in that function.
"""

from neuroreg.similarity.jobs import mtl_responses

if __name__ == "__main__":
    mtl_responses(snakemake)  # noqa: F821
