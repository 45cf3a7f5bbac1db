"""Rule `snr_estimated_vs_true` (workflow/rules/reliability.smk).

Runs neuroreg.reliability.jobs.snr_estimated_vs_true(snakemake); everything else is in that function.
"""

from neuroreg.reliability.jobs import snr_estimated_vs_true

if __name__ == "__main__":
    snr_estimated_vs_true(snakemake)  # noqa: F821
