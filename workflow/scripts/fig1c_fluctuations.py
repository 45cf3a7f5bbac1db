"""Rule `fig1c_fluctuations` (workflow/rules/reliability.smk).

Runs neuroreg.reliability.jobs.fig1c_fluctuations(snakemake); everything else is in that function.
"""

from neuroreg.reliability.jobs import fig1c_fluctuations

if __name__ == "__main__":
    fig1c_fluctuations(snakemake)  # noqa: F821
