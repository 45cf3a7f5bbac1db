# Shared by the stage files: the scans and runs of this config (neuroreg.grid), their seeds
# (neuroreg.seeds), and the small input functions of the rules. Paths: <results> is the run's
# folder results/<run>/ (a path variable set in paths.smk; <logs>, <benchmarks> below it).
from pathlib import Path

from neuroreg import conditions, grid, seeds
from neuroreg.ingest.registry import input_paths
from neuroreg.files import InputError

SCANS = grid.scans(config)
VIRTUAL_SCANS = grid.virtual_scans(config)
RECORDED_SCANS = grid.recorded_scans(config)
WILDCARDS = grid.WILDCARDS  # condition, alpha and seed of the run paths


def config_origin(key):
    """The config file that set `key` (the Snakefile's CONFIG_LAYERS), for errors."""
    layers = globals().get("CONFIG_LAYERS")
    return layers.origin(key) if layers is not None else "config"


def data_path(key):
    """A path from config['data'], checked for existence so a typo fails at parse time; errors name the
    config file that set it."""
    value = config["data"].get(key)
    if value is None:
        raise InputError(config_origin(f"data.{key}"), f"data.{key}", "not set")
    if not Path(value).exists():
        raise InputError(config_origin(f"data.{key}"), f"data.{key}", f"path does not exist: {value}")
    return value


def recording(scan):
    return config["recordings"][scan]


# The stages the default target builds (config key `stages`; e.g. the Antolik recordings have no
# once-shown images, so their config stops after reliability). Each stage file registers
# the final outputs of its stage with `final_outputs(stage, paths)`.
FINAL_OUTPUTS = []


def final_outputs(stage, paths):
    """Add `paths` to what the default target builds when `stage` is among config['stages']."""
    assert stage in grid.STAGES, stage
    if stage in config["stages"]:
        FINAL_OUTPUTS.extend([paths] if isinstance(paths, str) else list(paths))


def all_outputs():
    return FINAL_OUTPUTS


# ---- input functions of the co-training and robustness rules (the runs: neuroreg.grid) ----
def cotrain_inputs(wildcards):
    """The files a run trains on (neuroreg.conditions.Condition.inputs)."""
    return conditions.parse(wildcards.condition).inputs(wildcards.alpha)


def response_inputs(wildcards):
    """Stimuli and, per scan of the response set, its scan file (+ the encoder's predictions for model / shuffle)."""
    scans = grid.response_scans(config, wildcards.responses)
    inputs = {"stimuli": "<results>/data/stimuli.h5", "scans": expand("<results>/scans/{scan}.h5", scan=scans)}
    if wildcards.responses in ("model", "shuffle"):
        inputs["predictions"] = expand("<results>/encoders/{scan}/predictions.h5", scan=scans)
    return inputs


def cifar100_cotrain_inputs(wildcards):
    return {**cotrain_inputs(wildcards), "cifar": "<results>/data/cifar100.h5"}


def robustness_model_inputs(wildcards):
    run = (wildcards.condition, wildcards.alpha, wildcards.seed)
    return {
        "cifar": "<results>/data/cifar10.h5",
        "model": grid.cotrain_path(*run, "model.pt"),
        "metrics": grid.cotrain_path(*run, "metrics.json"),
    }


def cifar100_model_inputs(wildcards):
    run = (wildcards.condition, wildcards.alpha, wildcards.seed)
    return {
        "cifar": "<results>/data/cifar100.h5",
        "model": grid.cifar100_path("cotrain", *run, "model.pt"),
        "metrics": grid.cifar100_path("cotrain", *run, "metrics.json"),
    }


# ---- stage 4: the inputs of a similarity target; stage 7: figure titles ----
def similarity_inputs(wildcards):
    """Stimuli and, per scan the target averages over, its scan and reliability files (+ predictions)."""
    scans = grid.target_scans(config, wildcards.target)
    inputs = {
        "stimuli": "<results>/data/stimuli.h5",
        "scans": expand("<results>/scans/{scan}.h5", scan=scans),
        "reliability": expand("<results>/reliability/{scan}.h5", scan=scans),
    }
    if wildcards.target in ("neural_model", "shuffle"):
        inputs["predictions"] = expand("<results>/encoders/{scan}/predictions.h5", scan=scans)
    return inputs


def network_name(arch):
    return arch.replace("resnet", "ResNet")


def summary_inputs(wildcards):
    """The run summary's inputs: the scans' reliability tables (signal checks) when stage reliability is built,
    the paper-vs-run table and the attack checks when stage figures is; none when neither is."""
    inputs = {}
    if "reliability" in config["stages"]:
        inputs["reliability"] = expand("<results>/reliability/{scan}.csv", scan=SCANS)
    if "figures" in config["stages"]:
        inputs["paper_vs_run"] = "<results>/tables/paper_vs_run.csv"
        inputs["verdict"] = "<results>/tables/verdict.csv"
        inputs["checks"] = [grid.robustness_path(*run, "checks.json") for run in grid.adversarial_runs(config)]
    if inputs:
        inputs["description"] = str(Path(workflow.basedir) / "workflow" / "report" / "workflow.rst")
    return inputs
