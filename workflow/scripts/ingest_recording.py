"""Rule `ingest_recording` (workflow/rules/data.smk).

Runs neuroreg.ingest.jobs.ingest_recording(snakemake); everything else is in that function.
"""

from neuroreg.ingest.jobs import ingest_recording

if __name__ == "__main__":
    ingest_recording(snakemake)  # noqa: F821
