"""Rule `simulate_scan` (workflow/rules/data.smk).

Runs neuroreg.ingest.jobs.simulate_scan(snakemake); everything else is in that function.
"""

from neuroreg.ingest.jobs import simulate_scan

if __name__ == "__main__":
    simulate_scan(snakemake)  # noqa: F821
