"""Rule `blur_selection` (workflow/rules/cotrain.smk).

Runs neuroreg.cotrain.jobs.blur_selection(snakemake); everything else is in that function.
"""

from neuroreg.cotrain.jobs import blur_selection

if __name__ == "__main__":
    blur_selection(snakemake)  # noqa: F821
