"""The run grid of a config: its scans, similarity targets, co-training runs and attacked runs.

Everything the rules need to know *which* jobs exist lives here, as functions of the validated
config (:func:`neuroreg.config.load`), so the rule files only wire files together. A run is a
:class:`neuroreg.conditions.Run` ``(condition, alpha, seed)`` of strings as they appear in paths:
``<results>/cotrain/{condition}/alpha{alpha}/seed{seed}/`` (CIFAR-100: under ``<results>/cifar100/``); what a
condition name means is :mod:`neuroreg.conditions`.

Paths start with ``<results>``, the Snakemake path variable (``pathvars``) of the run's results root
:func:`results_root` = ``results/<run>/`` that the Snakefile sets (logs: ``<logs>`` =
``results/<run>/logs/``, benchmarks: ``<benchmarks>``); :func:`resolve` expands them in Python.

* main-text runs: every buildable condition of ``cotrain.conditions``, ``none`` at alpha 0 and the
  others at ``cotrain.alpha``, each seed of ``cotrain.seeds``;
* the alpha sweep (supplement Fig. 6): ``cotrain.alpha_sweep`` alphas x seeds on the single-scan
  target ``neural_model_{similarity.alpha_sweep_scan}`` (alpha 0 is ``none``);
* attacked runs: the main-text runs of ``robustness.adversarial_conditions``;
* CIFAR-100 runs (Fig. 4B, only when ``data.cifar100`` is set): ``cifar100.conditions`` x
  ``cifar100.seeds`` with the ``cifar100`` recipe.

The ``*_params`` functions give each job's ``params``: exactly the config keys that change that
job's output, never the lists that choose the runs, so adding a seed, a condition or a scan makes
Snakemake run only the new jobs (and the summaries over them).
"""

from __future__ import annotations


from .conditions import BEST_BLUR, CONTENT_TARGETS, CONTROLS, SCAN_TARGETS, Run, parse
from .files import InputError

#: The stages, in order; config key ``stages`` picks those ``rule all`` builds.
STAGES = ("data", "reliability", "encoder", "similarity", "cotrain", "robustness", "figures")
#: Wildcard regexes of the run paths (a condition name: :func:`neuroreg.conditions.parse`).
WILDCARDS = {
    "condition": r"[A-Za-z0-9_.\-]+",
    "alpha": r"[0-9]+(\.[0-9]+)?",
    "seed": r"[0-9]+",
}
#: cotrain keys that choose the runs rather than how one run trains (the run's alpha is its wildcard).
RUN_CHOICE_KEYS = ("seeds", "condition_seeds", "conditions", "alpha_sweep", "alpha")
#: cotrain sections of the other methods: in a run's params only when its condition uses them.
METHOD_KEYS = ("mtl", "cka")
#: cotrain and encoder keys that say how a job runs, not what it computes (its threads are the rule's ``threads:``).
EXECUTION_KEYS = ("threads", "mem_mb")
#: robustness keys of the noise evaluation and of the adversarial one.
NOISE_KEYS = ("noise_levels", "noise_seed", "n_noise", "device", "batch_size", "bn")
ATTACK_KEYS = ("n_adversarial", "device", "norms", "attacks", "secondary_attacks", "steps", "precision", "convergence",
               "hyperparameters", "pgd", "repetitions", "start_directions", "processes", "masking_tolerance",
               "masking_max_fraction", "bn")
#: The CIFAR-100 network when the config's cifar100 section does not name one (ResNet34, its stage ends).
CIFAR100_NETWORK = {"arch": "resnet34", "layers": [1, 7, 15, 27, 33]}
#: Where every run's folder lives, and the Snakemake path variables of one run (Snakefile ``pathvars``).
RESULTS_DIR = "results"
RESULTS, LOGS, BENCHMARKS = "<results>", "<logs>", "<benchmarks>"


# ---------------------------------------------------------------- the run's folder
def results_root(cfg: dict) -> str:
    """``results/<run>``: every output of the run (logs in ``logs/``, benchmarks in ``benchmarks/`` below it)."""
    return f"{RESULTS_DIR}/{cfg['run']}"


def pathvars(cfg: dict) -> dict:
    """The values of the path variables ``<results>``, ``<logs>``, ``<benchmarks>`` for this run."""
    root = results_root(cfg)
    return {"results": root, "logs": f"{root}/logs", "benchmarks": f"{root}/benchmarks"}


def resolve(path: str, cfg: dict) -> str:
    """``path`` with its path variables replaced (``<results>/x`` -> ``results/<run>/x``)."""
    for name, value in pathvars(cfg).items():
        path = path.replace(f"<{name}>", value)
    return path


def check(cfg: dict) -> None:
    """Raise the grid's errors about the config at once (before any rule is read): no scans, a name used
    twice, a target that cannot be built. The Snakefile names the file of the key (``config.Layers.load``)."""
    scans(cfg)
    similarity_targets(cfg)
    check_conditions(cfg)


# ---------------------------------------------------------------- scans
def virtual_scans(cfg: dict) -> list[str]:
    return list(cfg["virtual_v1"]["scans"])


def recorded_scans(cfg: dict) -> list[str]:
    return list(cfg["recordings"])


def scans(cfg: dict) -> list[str]:
    """Every scan: the virtual ones, then the recordings. Names must be unique, and there must be one."""
    virtual, recorded = virtual_scans(cfg), recorded_scans(cfg)
    shared = sorted(set(virtual) & set(recorded))
    if shared:
        raise InputError("config", "virtual_v1.scans / recordings", f"scan names used twice: {shared}")
    if not virtual + recorded:
        raise InputError("config", "virtual_v1.scans / recordings", "no scans: add virtual scans or recordings")
    return virtual + recorded


def encoder_scans(cfg: dict) -> list[str]:
    """Scans with training trials: every virtual scan and every recording but antolik2016 (oracle trials only)."""
    return virtual_scans(cfg) + [s for s in recorded_scans(cfg) if cfg["recordings"][s]["source"] != "antolik2016"]


# ---------------------------------------------------------------- similarity targets
def similarity_targets(cfg: dict) -> list[str]:
    """The targets of ``similarity.targets`` this config builds (ground_truth needs virtual scans).

    Asking for ``vgg`` without ``data.vgg19_weights`` is an error naming both keys.
    """
    asked = cfg["similarity"]["targets"]
    if "vgg" in asked and not cfg["data"].get("vgg19_weights"):
        raise InputError("config", "similarity.targets", "contains 'vgg' but data.vgg19_weights is not set: give a "
                         "torchvision VGG19 state dict (.pth) or remove 'vgg' from similarity.targets")
    out = [t for t in SCAN_TARGETS if t in asked]
    if not virtual_scans(cfg) and "ground_truth" in out:
        out.remove("ground_truth")  # the ground truth exists only for the virtual experiment
    return out + (["vgg"] if "vgg" in asked else []) + [t for t in CONTENT_TARGETS if t in asked]


def target_scans(cfg: dict, target: str) -> list[str]:
    """The scans a target averages over (ground_truth: the virtual ones)."""
    return virtual_scans(cfg) if target == "ground_truth" else scans(cfg)


def sweep_target(cfg: dict) -> str:
    """The target of the alpha sweep: ``neural_model_{similarity.alpha_sweep_scan}`` (one scan, as the
    supplement), or the scan-averaged ``neural_model`` when ``alpha_sweep_scan`` is null; then the sweep's
    runs at ``cotrain.alpha`` are the main-text runs themselves (the laptop run saves them that way)."""
    scan = cfg["similarity"]["alpha_sweep_scan"]
    return "neural_model" if scan is None else f"neural_model_{scan}"


# ---------------------------------------------------------------- co-training runs
def needed_responses(cfg: dict) -> list[str]:
    """The multi-task response sets (rule mtl_responses) the buildable conditions use."""
    return list(dict.fromkeys(parse(c).responses for c in conditions(cfg)
                              if parse(c).kind == "mtl"))


def blur_sweep(cfg: dict) -> list[str]:
    """The plain ``blur{sigma}`` conditions (the low-pass sweep blur_selection chooses among)."""
    return [c for c in conditions(cfg) if parse(c).blur not in (None, "best") and parse(c).kind == "none"]


def response_scans(cfg: dict, responses: str) -> list[str]:
    """The scans a multi-task response set concatenates (ground_truth: the virtual ones)."""
    return target_scans(cfg, "ground_truth" if responses == "ground_truth" else "neural_model")


def conditions(cfg: dict) -> list[str]:
    """The conditions of ``cotrain.conditions`` this config can build (vgg needs weights, ground_truth virtual scans)."""
    out = []
    for name in cfg["cotrain"]["conditions"]:
        c = parse(name)
        if c.kind == "similarity" and c.target == "vgg" and not cfg["data"].get("vgg19_weights"):
            continue
        if "ground_truth" in (c.target, c.responses) and not virtual_scans(cfg):
            continue
        out.append(name)
    return out


def check_conditions(cfg: dict) -> None:
    """Errors about the conditions at parse time: unknown names, a blurbest condition without a blur sweep
    to choose from or without held-out training images to choose on."""
    for key in ("cotrain.conditions", "robustness.adversarial_conditions"):
        section, sub = key.split(".")
        for name in cfg[section][sub]:
            parse(name, key)
    for name in cfg["cotrain"].get("condition_seeds", {}):
        if name not in cfg["cotrain"]["conditions"]:
            raise InputError("config", "cotrain.condition_seeds", f"{name!r} is not one of cotrain.conditions "
                             f"({', '.join(cfg['cotrain']['conditions'])})")
    if any(parse(c).blur == "best" for c in conditions(cfg)):
        if not blur_sweep(cfg):
            raise InputError("config", "cotrain.conditions", "a blurbest_ condition needs blur{sigma} conditions "
                             "to choose the best blur from (e.g. blur0.5, blur1.5, blur2.5)")
        if cfg["cotrain"]["n_train"] is None:
            raise InputError("config", "cotrain.n_train", "null (all training images): blurbest_ conditions choose "
                             "the blur on the last data.n_validation training images, which the runs must not "
                             "train on; set cotrain.n_train <= (training images - data.n_validation)")


def condition_seeds(cfg: dict, condition: str) -> list:
    """The seeds of a condition's main-text runs: ``cotrain.condition_seeds[condition]`` where the config gives
    them (the laptop run: 5 seeds for the attacked conditions), else ``cotrain.seeds``."""
    return list(cfg["cotrain"].get("condition_seeds", {}).get(condition, cfg["cotrain"]["seeds"]))


def main_runs(cfg: dict, conds, seeds=None) -> list[Run]:
    """The main-text runs of the conditions ``conds`` (in their order, those this config builds), each at its alpha
    (``Condition.alpha``); every seed of ``seeds``, or of :func:`condition_seeds`."""
    built = conditions(cfg)
    return [Run.of(c, parse(c).alpha(cfg), s) for c in conds if c in built
            for s in (seeds if seeds is not None else condition_seeds(cfg, c))]


def sweep_runs(cfg: dict) -> list[Run]:
    """The runs of the alpha sweep; alpha 0 is the ``none`` run."""
    sweep, target = cfg["cotrain"]["alpha_sweep"], sweep_target(cfg)
    return [Run.of("none" if float(a) == 0 else target, a, s) for a in sweep["alphas"] for s in sweep["seeds"]]


def figure_runs(cfg: dict) -> list[Run]:
    """The main-text runs of every buildable condition (Fig. 4A, the paper-vs-run table)."""
    return main_runs(cfg, conditions(cfg))


def cotrain_runs(cfg: dict) -> list[Run]:
    """Every CIFAR-10 run: the main-text runs and the sweep, each once."""
    return list(dict.fromkeys(figure_runs(cfg) + sweep_runs(cfg)))


def control_tests(cfg: dict) -> dict:
    """{tested: its controls} of :data:`neuroreg.conditions.CONTROLS` where this config builds the tested condition
    and a control beyond ``shuffle`` (the verdict compares with shuffle anyway; "blur": there when the config has a
    blur sweep for rule blur_selection to choose from, as ``blurbest_none`` where the config trains it, the chosen
    sigma with its own seeds and attacks)."""
    built = set(conditions(cfg))
    has_blur = bool(blur_sweep(cfg))
    blur = BEST_BLUR if BEST_BLUR in built else "blur"
    out = {}
    for tested, controls in CONTROLS.items():
        present = tuple(blur if c == "blur" else c for c in controls if (c == "blur" and has_blur) or c in built)
        if tested in built and set(present) - {"shuffle"}:
            out[tested] = present
    return out


def adversarial_runs(cfg: dict) -> list[Run]:
    """The main-text runs of ``robustness.adversarial_conditions``, in the order of ``cotrain.conditions``."""
    wanted = cfg["robustness"]["adversarial_conditions"]
    return main_runs(cfg, [c for c in cfg["cotrain"]["conditions"] if c in wanted])


#: Snakemake priorities (higher first among the jobs ready to run): what gates the most work goes first.
PRIORITY = {"encoder": 100, "corruptions": 95, "similarity": 90, "adversarial": 60, "attacked_cotrain": 50, "cotrain": 10}


def cotrain_priority(cfg: dict, condition: str, alpha: str, seed: str) -> int:
    """A co-training run that is attacked afterwards goes before one that is not, so the attacks
    overlap the remaining trainings instead of trailing after the last one."""
    attacked = Run(condition, alpha, seed) in adversarial_runs(cfg)
    return PRIORITY["attacked_cotrain" if attacked else "cotrain"]


def cifar100_cotrain(cfg: dict) -> dict:
    """The cotrain section as the CIFAR-100 runs use it: ``cifar100`` keys over ``cotrain``'s."""
    return {**cfg["cotrain"], **CIFAR100_NETWORK, **cfg.get("cifar100", {})}


def cifar100_runs(cfg: dict) -> list[Run]:
    """The CIFAR-100 runs; none when ``data.cifar100`` is not set."""
    if not cfg["data"].get("cifar100"):
        return []
    c100 = cifar100_cotrain(cfg)
    return main_runs(cfg, c100["conditions"], c100["seeds"])


# ---------------------------------------------------------------- paths
def cotrain_path(condition, alpha, seed, name: str) -> str:
    return Run(condition, alpha, seed).path("cotrain", name)


def robustness_path(condition, alpha, seed, name: str) -> str:
    return Run(condition, alpha, seed).path("robustness", name)


def cifar100_path(stage: str, condition, alpha, seed, name: str) -> str:
    return Run(condition, alpha, seed).path(stage, name, cifar100=True)


# ---------------------------------------------------------------- params: what changes one job's output
def cotrain_params(section: dict, condition: str = "none") -> dict:
    """The recipe of one co-training run: a cotrain (or CIFAR-100) section without the run choices, with
    the method sections only for the conditions that use them (``mtl`` without its alpha: the run's
    alpha is its wildcard), so adding a method retrains none of the other runs."""
    c = parse(condition)
    out = {k: v for k, v in section.items() if k not in RUN_CHOICE_KEYS + EXECUTION_KEYS + METHOD_KEYS}
    if c.kind == "mtl":
        out["mtl"] = {k: v for k, v in section["mtl"].items() if k != "alpha"}
    return out


def encoder_params(section: dict) -> dict:
    """What one encoder job computes: the encoder section without its threads."""
    return {k: v for k, v in section.items() if k not in EXECUTION_KEYS}


def bn_images(robustness: dict, cotrain: dict) -> int:
    """How many training images re-estimate BatchNorm's statistics (``robustness.bn: cifar``): the first
    ``robustness.bn_images``, at most the ``cotrain.n_train`` the runs trained on."""
    n_train = cotrain.get("n_train")
    return int(robustness["bn_images"] if n_train is None else min(robustness["bn_images"], n_train))


def noise_params(robustness: dict, cotrain: dict) -> dict:
    """What one noise evaluation computes: the noise keys, its BatchNorm variants and their training images."""
    return {**{k: robustness[k] for k in NOISE_KEYS if k in robustness}, "bn_images": bn_images(robustness, cotrain)}


def n_validation(cfg: dict) -> int | None:
    """Held-out training images that replace the test set (data.evaluation_split: validation), else None."""
    return cfg["data"]["n_validation"] if cfg["data"]["evaluation_split"] == "validation" else None


def corruption_params(robustness: dict) -> dict:
    """What the corrupted image sets depend on (rule corrupt_cifar): the corruptions section."""
    return dict(robustness["corruptions"])


def evaluation_params(robustness: dict) -> dict:
    """What one model's corruption evaluation depends on besides its input files."""
    return {k: robustness[k] for k in ("device", "batch_size")}


def attack_params(robustness: dict, cotrain: dict) -> dict:
    """What one adversarial evaluation computes (as :func:`noise_params`)."""
    return {**{k: robustness[k] for k in ATTACK_KEYS if k in robustness}, "bn_images": bn_images(robustness, cotrain)}


def virtual_v1_params(virtual_v1: dict) -> dict:
    """The population statistics of the virtual experiment: the section without its list of scans."""
    return {k: v for k, v in virtual_v1.items() if k != "scans"}
