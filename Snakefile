# neuroreg: "Learning From Brains How to Regularize Machines" (Li et al., NeurIPS 2019)
# as a pipeline. The stages live in workflow/rules/, the logic in workflow/neuroreg/.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/reliability.smk"
include: "workflow/rules/encoder.smk"
include: "workflow/rules/similarity.smk"
include: "workflow/rules/cotrain.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
