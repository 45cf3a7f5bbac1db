"""Rule `brain_likeness` (workflow/rules/robustness.smk).

Runs neuroreg.robustness.jobs.brain_likeness(snakemake); everything else is in that function.
"""

from neuroreg.robustness.jobs import brain_likeness

if __name__ == "__main__":
    brain_likeness(snakemake)  # noqa: F821
