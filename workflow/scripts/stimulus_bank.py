"""Rule `stimulus_bank` (workflow/rules/data.smk).

Runs neuroreg.ingest.jobs.stimulus_bank(snakemake); everything else is in that function.
"""

from neuroreg.ingest.jobs import stimulus_bank

if __name__ == "__main__":
    stimulus_bank(snakemake)  # noqa: F821
