"""Rule `similarity_vgg` (workflow/rules/similarity.smk).

Runs neuroreg.similarity.jobs.similarity_vgg(snakemake); everything else is in that function.
"""

from neuroreg.similarity.jobs import similarity_vgg

if __name__ == "__main__":
    similarity_vgg(snakemake)  # noqa: F821
