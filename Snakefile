# neuroreg: "Learning From Brains How to Regularize Machines" (Li et al., NeurIPS 2019)
# as a pipeline. The stages live in workflow/rules/, the logic in workflow/neuroreg/.
from snakemake.utils import min_version

min_version("9.0")


# config.yaml is the default experiment; `--configfile other.yaml` replaces it
# (rather than being merged into it), so a config for other data stands alone.
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


wildcard_constraints:
    scan="|".join(SCANS),


include: "workflow/rules/data.smk"
include: "workflow/rules/reliability.smk"
include: "workflow/rules/encoder.smk"
include: "workflow/rules/similarity.smk"
include: "workflow/rules/cotrain.smk"
include: "workflow/rules/robustness.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
