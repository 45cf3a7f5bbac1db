# Shared by the stage files: config validation, the list of scans, small helpers.
from pathlib import Path



VIRTUAL_SCANS = list(config["virtual_v1"]["scans"])
RECORDED_SCANS = list(config["recordings"])
SCANS = VIRTUAL_SCANS + RECORDED_SCANS

if len(set(SCANS)) != len(SCANS):
    raise ValueError(
        f"config.yaml: virtual_v1.scans and recordings share scan names: "
        f"{sorted(set(VIRTUAL_SCANS) & set(RECORDED_SCANS))}"
    )
if not SCANS:
    raise ValueError("config.yaml: no scans: add virtual_v1.scans or recordings")


def data_path(key):
    """A path from config['data'], checked for existence so a typo fails at parse time."""
    value = config["data"].get(key)
    if value is None:
        raise ValueError(f"config.yaml: data.{key} is not set")
    if not Path(value).exists():
        raise ValueError(f"config.yaml: data.{key}: path does not exist: {value}")
    return value


def recording(scan):
    return config["recordings"][scan]


def scans_share_images():
    """True when every scan saw the same stimuli (Eq. 4 needs that)."""
    return len(SCANS) > 1


# The stages the default target builds (config key `stages`; e.g. the Antolik recordings have no
# once-shown images, so their config stops after reliability). Each stage file registers
# the final outputs of its stage with `final_outputs(stage, paths)`.
ALL_STAGES = ["data", "reliability", "encoder", "similarity", "cotrain", "robustness", "figures"]
STAGES = config.get("stages", ALL_STAGES)
FINAL_OUTPUTS = []


def final_outputs(stage, paths):
    """Add `paths` to what the default target builds when `stage` is among config['stages']."""
    assert stage in ALL_STAGES, stage
    if stage in STAGES:
        FINAL_OUTPUTS.extend([paths] if isinstance(paths, str) else list(paths))


def all_outputs():
    return FINAL_OUTPUTS


# ---- Stage 5, co-training: the grid of runs (used by cotrain, robustness, figures) ----
COTRAIN = config["cotrain"]
COTRAIN_SWEEP_TARGET = f"neural_model_{config['similarity']['alpha_sweep_scan']}"


def cotrain_alpha(alpha):
    """Alpha as it appears in paths: 20 -> '20', 0.5 -> '0.5'."""
    return f"{float(alpha):g}"


def cotrain_conditions():
    """The conditions of config cotrain.conditions that can be built with this config."""
    out = []
    for c in COTRAIN["conditions"]:
        if c == "vgg" and not config["data"].get("vgg19_weights"):
            continue  # no VGG19 weights: no 'vgg' target
        if c == "ground_truth" and not VIRTUAL_SCANS:
            continue  # ground truth exists only for the virtual experiment
        out.append(c)
    return out


def main_runs(conditions, seeds):
    """(target, alpha, seed) of the main-text runs of `conditions` (in their order, those this config
    builds): none at alpha 0, the others at cotrain.alpha; every seed."""
    built = cotrain_conditions()
    return [
        (c, cotrain_alpha(0 if c == "none" else COTRAIN["alpha"]), s)
        for c in conditions
        if c in built
        for s in seeds
    ]


def cotrain_runs():
    """(target, alpha, seed) of every run: the conditions at cotrain.alpha (none at 0), and the sweep."""
    runs = main_runs(cotrain_conditions(), COTRAIN["seeds"]) + cotrain_sweep_runs()
    return list(dict.fromkeys(runs))


def cotrain_sweep_runs():
    sweep = COTRAIN["alpha_sweep"]
    return [
        ("none" if float(a) == 0 else COTRAIN_SWEEP_TARGET, cotrain_alpha(a), s)
        for a in sweep["alphas"]
        for s in sweep["seeds"]
    ]


def cotrain_path(target, alpha, seed, name):
    return f"results/cotrain/{target}/alpha{alpha}/seed{seed}/{name}"


def cotrain_inputs(wildcards):
    inputs = {"cifar": "results/data/cifar10.h5", "stimuli": "results/data/stimuli.h5"}
    if wildcards.target == "none":
        if float(wildcards.alpha) != 0:
            raise ValueError(f"cotrain: target 'none' needs alpha 0, got alpha {wildcards.alpha}")
    else:
        inputs["similarity"] = f"results/similarity/{wildcards.target}.h5"
    return inputs


# ---- Fig. 4B: co-training on grayscale CIFAR-100 (only when data.cifar100 is set) ----
# config cifar100 overrides cotrain for these runs (default ResNet34, its stage ends as layers).
# Paths: results/cifar100/{cotrain,robustness}/{target}/alpha{alpha}/seed{seed}/...
CIFAR100 = bool(config["data"].get("cifar100"))
COTRAIN100 = {**COTRAIN, "arch": "resnet34", "layers": [1, 7, 15, 27, 33], **config.get("cifar100", {})}


def cifar100_runs():
    """(target, alpha, seed) of the CIFAR-100 runs; none when data.cifar100 is not set."""
    return main_runs(COTRAIN100["conditions"], COTRAIN100["seeds"]) if CIFAR100 else []


def cifar100_path(stage, target, alpha, seed, name):
    return f"results/cifar100/{stage}/{target}/alpha{alpha}/seed{seed}/{name}"


def cifar100_cotrain_inputs(wildcards):
    return {**cotrain_inputs(wildcards), "cifar": "results/data/cifar100.h5"}


def cifar100_model_inputs(wildcards):
    return {
        "cifar": "results/data/cifar100.h5",
        "model": cifar100_path("cotrain", wildcards.target, wildcards.alpha, wildcards.seed, "model.pt"),
        "metrics": cifar100_path("cotrain", wildcards.target, wildcards.alpha, wildcards.seed, "metrics.json"),
    }


# ---- Stage 6, robustness: the runs that are attacked ----
ROBUST = config["robustness"]
ROBUST_GPU = 0 if ROBUST.get("device", COTRAIN.get("device", "auto")) == "cpu" else 1


def robust_path(target, alpha, seed, name):
    return f"results/robustness/{target}/alpha{alpha}/seed{seed}/{name}"


def robust_adversarial_runs():
    """(target, alpha, seed): the main-text runs (none at alpha 0, others at cotrain.alpha) of the
    robustness.adversarial_conditions that this config builds, every seed of cotrain.seeds."""
    wanted = ROBUST.get("adversarial_conditions", ["none", "shuffle", "neural_model"])
    return main_runs([c for c in COTRAIN["conditions"] if c in wanted], COTRAIN["seeds"])


def robust_model_inputs(wildcards):
    return {
        "cifar": "results/data/cifar10.h5",
        "model": cotrain_path(wildcards.target, wildcards.alpha, wildcards.seed, "model.pt"),
        "metrics": cotrain_path(wildcards.target, wildcards.alpha, wildcards.seed, "metrics.json"),
    }
