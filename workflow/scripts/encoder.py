"""Rule `encoder` (workflow/rules/encoder.smk).

Runs neuroreg.encoder.jobs.encoder(snakemake); everything else is in that function.
"""

from neuroreg.encoder.jobs import encoder

if __name__ == "__main__":
    encoder(snakemake)  # noqa: F821
