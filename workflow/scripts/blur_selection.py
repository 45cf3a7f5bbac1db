"""Rule `blur_selection` (workflow/rules/robustness.smk).

Runs neuroreg.robustness.jobs.blur_selection(snakemake); everything else is in that function.
"""

from neuroreg.robustness.jobs import blur_selection

if __name__ == "__main__":
    blur_selection(snakemake)  # noqa: F821
