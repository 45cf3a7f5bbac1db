# neuroreg: "Learning From Brains How to Regularize Machines" (Li et al., NeurIPS 2019)
# as a pipeline. The stages live in workflow/rules/, the logic in workflow/neuroreg/.
from pathlib import Path

from snakemake.utils import min_version

import neuroreg.config

min_version("9.0")


# config.yaml (beside this file) is the default experiment; a `--configfile X.yaml` lists only what
# it changes and is merged over it (virtual_v1.scans and recordings are replaced whole), and the
# result is validated against workflow/schemas/config.schema.yaml, which holds every default.
_layers = ["config.yaml", *map(str, workflow.overwrite_configfiles)]
_config = neuroreg.config.merge(neuroreg.config.read_yaml(Path(workflow.basedir) / "config.yaml"), config)
config.clear()
config.update(neuroreg.config.validate(_config, where=" + ".join(_layers)))


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
    default_target: True
    input:
        all_outputs(),
