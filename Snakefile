# neuroreg: "Learning From Brains How to Regularize Machines" (Li et al., NeurIPS 2019)
# as a pipeline. The stages live in workflow/rules/, the logic in workflow/neuroreg/.
import warnings
from pathlib import Path

from snakemake.logging import logger
from snakemake.utils import min_version

import neuroreg.config
import neuroreg.logs
from neuroreg import grid, plan
from neuroreg.figures import summary

# The first Snakemake that runs this workflow (measured, README "Quick start"): 9.17 (a callable `priority:`,
# workflow/rules/cotrain.smk; `pathvars:` came in 9.12). Checked before any rule file is parsed, so an older
# Snakemake says which version to install instead of failing on a directive it does not know (hence the
# path variables below live in workflow/rules/paths.smk: this file is parsed whole before it runs).
min_version("9.17")

# Snakemake 9.27's --report evaluates the default-resources of every report job in a nested event loop and
# leaves a coroutine unawaited: a RuntimeWarning per figure (reproduced with a two-rule Snakefile). Not ours.
warnings.filterwarnings("ignore", message="coroutine .* was never awaited", category=RuntimeWarning)


# config.yaml (beside this file) is the default experiment; each `--configfile X.yaml` lists only what
# it changes and is merged over it in order (virtual_v1.scans and recordings are replaced whole), then
# --config; the result is validated against workflow/neuroreg/config.schema.yaml, which holds every
# default. Errors name the file the offending value came from (neuroreg.config.Layers).
CONFIG_LAYERS = neuroreg.config.Layers.from_files(
    workflow.overwrite_configfiles, Path(workflow.basedir) / "config.yaml", dict(workflow.config_settings.config)
)
config.clear()
config.update(CONFIG_LAYERS.load(check=grid.check))

# Every output, log and benchmark of this run lives under results/<run>/ (config key `run`), so runs of
# different configs never overwrite each other: rules write <results>/..., <logs>/..., <benchmarks>/...
RUN_ROOT = grid.results_root(config)
neuroreg.logs.announce_run(RUN_ROOT)  # for the terminal's Ctrl-C line (snakemake_logger_plugin_neuroreg)


include: "workflow/rules/paths.smk"


# The run's first report page: its summary (rule run_summary) once the run made it, else the description.
report: summary.report_page(RUN_ROOT)


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


# Before the first job: the plan (jobs per stage, devices, estimated wall time; neuroreg.plan).
onstart:
    plan.onstart(workflow, config)


onsuccess:
    logger.info(f"Done: {RUN_ROOT}/. The report: {summary.report_command(RUN_ROOT, workflow.overwrite_configfiles)}")
