"""Rule `reliability` (workflow/rules/reliability.smk).

Runs neuroreg.reliability.jobs.reliability(snakemake); everything else is in that function.
"""

from neuroreg.reliability.jobs import reliability

if __name__ == "__main__":
    reliability(snakemake)  # noqa: F821
