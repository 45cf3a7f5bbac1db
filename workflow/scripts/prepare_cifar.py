"""Rule `prepare_cifar` (workflow/rules/data.smk).

Runs neuroreg.ingest.jobs.prepare_cifar(snakemake); everything else is in that function.
"""

from neuroreg.ingest.jobs import prepare_cifar

if __name__ == "__main__":
    prepare_cifar(snakemake)  # noqa: F821
