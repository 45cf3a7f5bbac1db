"""Rule `mtl_responses` (workflow/rules/similarity.smk).

Runs neuroreg.cotrain.jobs.mtl_responses(snakemake); everything else is in that function.
"""

from neuroreg.cotrain.jobs import mtl_responses

if __name__ == "__main__":
    mtl_responses(snakemake)  # noqa: F821
