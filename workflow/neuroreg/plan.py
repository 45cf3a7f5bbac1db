"""A run's plan, printed before its first job: jobs per stage, the device of each GPU stage, the estimated wall time.

Snakemake calls :func:`onstart` (the Snakefile's ``onstart:``) once the DAG is built, with the jobs it
will run; ``python -m neuroreg.plan --configfile X [--cores N] [targets]`` prints the same plan without
running anything (it runs Snakemake with ``NEUROREG_PLAN_ONLY=1``, which stops after the plan).

The estimate covers the GPU stages (encoder, co-training, robustness), which dominate any run at the
paper's scale, from per-step costs measured on this machine (:mod:`neuroreg.costs`: a few real steps of
the configured networks on the device the jobs would use) times each job's steps:

* encoder: ``max_epochs`` x steps of the training tier (an upper bound: early stopping ends sooner);
* co-training: ``epochs`` x (steps, with the stimulus pass when alpha > 0, + the per-epoch test pass);
* noise: ``noise_levels`` x test images forward; attacks: every attack, budget, setting and repetition
  as forward+backward passes over all ``n_adversarial`` images (an upper bound: only the correctly
  classified ones are attacked; Brendel & Bethge's CPU solver is not counted);
* and each job's start-up (importing torch and the training code, measured too).

Jobs of a stage share its GPU slots (the ``gpu`` resource; on a CPU, the cores / the rule's threads),
so a stage's wall time is its total job time over the slots. Stages 1, 2, 4 and 7 (CPU, minutes at the
default scale) are not included. Without a GPU, a run whose estimate exceeds :data:`WARN_HOURS`
gets one warning naming :data:`LAPTOP_CONFIG`, the laptop-scale configuration.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import grid
from .progress import duration

GPU_STAGES = ("encoder", "cotrain", "robustness")
WARN_HOURS = 6.0
LAPTOP_CONFIG = "config/laptop.yaml"
LAPTOP_COMMAND = f"snakemake --cores 2 --configfile {LAPTOP_CONFIG}"
PLAN_ONLY_ENV = "NEUROREG_PLAN_ONLY"  # 1: stop after printing the plan (python -m neuroreg.plan)
NO_MEASURE_ENV = "NEUROREG_NO_MEASURE"  # 1: no step measurement, no estimate (the test suite's runs)
REMEASURE_ENV = "NEUROREG_REMEASURE"  # 1: ignore the cached step costs
CIFAR_SIZES = {10: (50_000, 10_000), 100: (50_000, 10_000)}  # training, test images of the standard sets


@dataclass
class Job:
    rule: str
    stage: str
    wildcards: dict
    threads: int = 1
    gpu: int = 0  # the job's gpu resource (1: it takes one of the run's GPU slots)


@dataclass
class Plan:
    run: str
    root: str
    jobs: list
    devices: dict = field(default_factory=dict)  # stage -> description
    seconds: dict = field(default_factory=dict)  # stage -> estimated wall seconds (GPU stages)
    notes: dict = field(default_factory=dict)  # stage -> how it was estimated
    gpu_visible: bool | None = None
    problem: str = ""  # why there is no estimate

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    def counts(self) -> dict:
        out = {s: 0 for s in grid.STAGES}
        for j in self.jobs:
            out[j.stage] = out.get(j.stage, 0) + 1
        return out

    def warning(self) -> str:
        """The one warning of a GPU-scale run on a machine without a GPU ("" otherwise)."""
        if self.gpu_visible or self.gpu_visible is None or self.total_s < WARN_HOURS * 3600:
            return ""
        return (f"no GPU visible: this run's GPU stages would take about {duration(self.total_s)} on this CPU "
                f"(estimate, {self.total_s / 3600:.0f} h). For every stage at laptop scale use {LAPTOP_CONFIG}: "
                f"{LAPTOP_COMMAND}")


# ---------------------------------------------------------------- jobs
def _number(value):
    """A Snakemake resource (a ``Resource`` with ``.value``, or a plain number) as a number, None if it is not one."""
    value = getattr(value, "value", value)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def stage_of(rule) -> str:
    """The stage of a Snakemake rule: its rule file (workflow/rules/<stage>.smk)."""
    stem = Path(str(rule.snakefile)).stem
    return stem if stem in grid.STAGES else "other"


def jobs_of(dag) -> list[Job]:
    """The jobs Snakemake will run (a DAG's ``needrun_jobs``), without the target rule ``all``."""
    out = []
    for job in dag.needrun_jobs():
        if job.rule.name == "all":
            continue
        gpu = _number(job.resources.get("gpu", 0)) if hasattr(job.resources, "get") else 0
        out.append(Job(job.rule.name, stage_of(job.rule), dict(job.wildcards), int(_number(job.threads) or 1),
                       int(gpu or 0)))
    return out


# ---------------------------------------------------------------- what to measure, and the job times
def _section(cfg: dict, rule: str) -> dict:
    return grid.cotrain_params(grid.cifar100_cotrain(cfg) if rule.endswith("cifar100") else cfg["cotrain"])


def _n_classes(rule: str) -> int:
    return 100 if rule.endswith("cifar100") else 10


def _stage_device(cfg: dict, stage: str) -> str:
    return cfg["robustness" if stage == "robustness" else stage]["device"]


def _scan_shape(cfg: dict, scan: str) -> tuple[int, int, tuple[int, int]]:
    """(neurons, training trials, image (H, W)) of a scan: from its file when made, else from the config."""
    path = Path(grid.resolve(f"{grid.RESULTS}/scans/{scan}.h5", cfg))
    if path.is_file():
        try:
            import h5py

            with h5py.File(path, "r") as f:
                tiers = f["tier"][()].astype(str)
                return int(f["responses"].shape[1]), int((tiers == "train").sum()), tuple(f["images"].shape[1:3])
        except Exception:  # noqa: BLE001 - an unreadable file fails in its own job, with its own error
            pass
    st = cfg["stimuli"]
    return int(cfg["virtual_v1"]["n_neurons"]), int(round(0.9 * st["n_images"])), (st["height"], st["width"])


def _cifar_sizes(cfg: dict, classes: int) -> tuple[int, int]:
    """(training, test) images of the run's CIFAR: its HDF5 when made, a python-layout CIFAR-10 folder's
    ``batches.meta``, else the standard sizes."""
    name = "cifar10" if classes == 10 else "cifar100"
    h5 = Path(grid.resolve(f"{grid.RESULTS}/data/{name}.h5", cfg))
    try:
        if h5.is_file():
            import h5py

            with h5py.File(h5, "r") as f:
                return int(f["train/labels"].shape[0]), int(f["test/labels"].shape[0])
        src = Path(cfg["data"].get(name) or "")
        if classes == 10 and (src / "batches.meta").is_file():
            from .ingest.cifar import restricted_loads

            per = int(restricted_loads((src / "batches.meta").read_bytes(), src)["num_cases_per_batch"])
            return per * len(list(src.glob("data_batch_*"))), per
    except Exception:  # noqa: BLE001 - a bad CIFAR fails in its own job, with its own error
        pass
    return CIFAR_SIZES[classes]


def job_specs(job: Job, cfg: dict, threads: int) -> dict:
    """The step costs (:mod:`neuroreg.costs` specs) one job's estimate uses, by name: ``encoder``; ``forward``,
    ``step`` (a co-training step without the stimulus pass), ``stimulus_step`` (with it, alpha > 0 only),
    ``forward_backward_fp32`` / ``forward_backward_bf16`` (the attacks, per search precision in use). The one place
    both the measuring (:func:`specs`) and the estimate (:func:`job_seconds`) take them from."""
    dev = _stage_device(cfg, job.stage)
    if job.rule == "encoder":
        n, _, shape = _scan_shape(cfg, job.wildcards["scan"])
        return {"encoder": {"kind": "encoder", "device": dev, "threads": threads,
                            "encoder": grid.encoder_params(cfg["encoder"]), "n_neurons": n, "image_shape": list(shape)}}
    if job.stage not in ("cotrain", "robustness"):
        return {}
    base = {"device": dev, "threads": threads, "cotrain": _section(cfg, job.rule), "n_classes": _n_classes(job.rule)}
    out = {"forward": {**base, "kind": "forward"}}
    if job.stage == "cotrain":
        shape = [cfg["stimuli"]["height"], cfg["stimuli"]["width"]]
        out["step"] = {**base, "kind": "cotrain", "stimuli": False, "stimulus_shape": shape}
        if float(job.wildcards.get("alpha", 0)) > 0:
            out["stimulus_step"] = {**base, "kind": "cotrain", "stimuli": True, "stimulus_shape": shape}
    if job.rule == "adversarial_robustness":
        for precision in attack_passes(cfg)[0]:
            out[f"forward_backward_{precision}"] = {**base, "kind": "forward_backward", "precision": precision}
    return out


def specs(jobs: list[Job], cfg: dict, cores: int) -> list[dict]:
    """The step costs the GPU stages' jobs need (:func:`job_specs`), each once."""
    out = {}
    for j in jobs:
        for spec in job_specs(j, cfg, max(1, min(j.threads, cores))).values():
            out[repr(sorted(spec.items(), key=str))] = spec
    return list(out.values())


def attack_passes(cfg: dict) -> tuple[dict, float]:
    """({search precision: forward+backward passes}, forward passes) per attacked image of one adversarial job: every
    attack and setting at the main budget on its search model (:func:`minimal.search_precision`), plus the
    convergence rerun (factor x the iterations on its share of the images), for each BatchNorm variant with its
    attacks (:meth:`minimal.Settings.for_variant`); the blended-noise starts once per variant (directions + line
    search)."""
    from .robustness.minimal import Settings, attack_steps, search_precision, settings_of

    r = cfg["robustness"]
    fb: dict[str, float] = {}
    for k in range(len(r["bn"])):
        s = Settings.from_config(r).for_variant(k)
        share = min(1.0, s.convergence["n_images"] / max(r["n_adversarial"], 1))
        for norm in s.norms:
            for name in s.attacks.get(norm, []):
                for hp, _ in settings_of(name, s, norm):
                    n = attack_steps(name, s) * (int(hp.get("binary_search_steps", 1)) if name == "carlini_wagner"
                                                 else 1)
                    precision = search_precision(name, hp, s)
                    fb[precision] = fb.get(precision, 0.0) + n * s.repetitions * (1 + share * s.convergence["factor"])
    return fb, 2 * int(r["start_directions"]) * len(r["bn"])


def job_seconds(job: Job, cfg: dict, seconds, threads: int) -> float:
    """Estimated seconds of one job; ``seconds(spec)`` gives a measured per-step cost of a :func:`job_specs` spec."""
    sp = job_specs(job, cfg, threads)
    if job.rule == "encoder":
        _, train, _ = _scan_shape(cfg, job.wildcards["scan"])
        return cfg["encoder"]["max_epochs"] * math.ceil(train / cfg["encoder"]["batch_size"]) * seconds(sp["encoder"])
    if job.stage not in ("cotrain", "robustness"):
        return 0.0
    section, classes = _section(cfg, job.rule), _n_classes(job.rule)
    n_train_all, n_test_all = _cifar_sizes(cfg, classes)
    fwd = seconds(sp["forward"])
    if job.stage == "cotrain":
        step = seconds(sp["step"])
        if "stimulus_step" in sp:  # the stimulus pass on every stimulus_every-th step
            step += (seconds(sp["stimulus_step"]) - step) / section.get("stimulus_every", 1)
        n_train = min(section.get("n_train") or n_train_all, n_train_all)
        n_test = min(section.get("n_test") or n_test_all, n_test_all)
        return section["epochs"] * (math.ceil(n_train / section["batch_size"]) * step + n_test * fwd)
    r = cfg["robustness"]
    if job.rule.startswith("noise_robustness"):
        return len(r["bn"]) * len(r["noise_levels"]) * min(r["n_noise"] or n_test_all, n_test_all) * fwd
    if job.rule == "corruption_robustness":  # every corruption x severity set and the clean images
        c = r["corruptions"]
        return (1 + len(c["names"]) * len(c["severities"])) * min(c["n_images"] or n_test_all, n_test_all) * fwd
    if job.rule != "adversarial_robustness":  # brain_likeness (the oracle images), corrupt_cifar (numpy): not modelled
        return 0.0
    fb_passes, f_passes = attack_passes(cfg)
    fb = sum(n * seconds(sp[f"forward_backward_{precision}"]) for precision, n in fb_passes.items())
    return min(r["n_adversarial"], n_test_all) * (fb + f_passes * fwd)


def estimate(plan: Plan, cfg: dict, measured: dict, *, cores: int, gpu_slots: int | None, n_gpus: int,
             startup_s: float = 0.0) -> None:
    """Fill ``plan.seconds`` and ``plan.notes`` of the GPU stages from ``measured`` ({costs.key(spec): s});
    every job adds ``startup_s`` (its imports)."""
    from .costs import key

    def seconds(spec):
        return measured[key(spec)]

    for stage in GPU_STAGES:
        jobs = [j for j in plan.jobs if j.stage == stage]
        if not jobs:
            continue
        on_gpu = plan.devices.get(stage, "").startswith("cuda")
        threads = [max(1, min(j.threads, cores)) for j in jobs]
        times = [startup_s + job_seconds(j, cfg, seconds, t) for j, t in zip(jobs, threads)]
        if on_gpu:
            slots = max(1, min(n_gpus * _jobs_per_gpu(), gpu_slots or n_gpus))
            wall = sum(times) / slots
        else:  # the cores are shared: a job of t threads takes t of them for its time (jobs of 1 thread run side by side)
            slots = max(1, cores // max(threads))
            wall = sum(s * t for s, t in zip(times, threads)) / cores
            if gpu_slots is not None and any(j.gpu for j in jobs):
                slots = max(1, min(slots, gpu_slots))  # the gpu resource limits them even on the CPU
                wall = max(wall, sum(times) / slots)
        plan.seconds[stage] = max(wall, max(times))
        plan.notes[stage] = f"{len(jobs)} jobs, {slots} at a time, {duration(max(times))} the longest"
        if any(j.rule == "adversarial_robustness" for j in jobs):
            plan.notes[stage] += "; attacks at most (only correctly classified images are attacked)"


def _jobs_per_gpu() -> int:
    try:
        return max(1, int(os.environ.get("NEUROREG_JOBS_PER_GPU", "1")))
    except ValueError:
        return 1


def describe_devices(plan: Plan, cfg: dict, machine: dict | None, local: bool) -> None:
    for stage in GPU_STAGES:
        pref = _stage_device(cfg, stage)
        if not local:
            plan.devices[stage] = f"{pref}: the cluster's (not measured on this node)"
        elif pref == "cpu":
            plan.devices[stage] = "cpu (config: device cpu)"
        elif machine is None:
            plan.devices[stage] = f"{pref} (not checked)"
        elif machine["n_gpus"]:
            plan.devices[stage] = f"cuda: {machine['n_gpus']} x {machine['gpu']}"
        else:
            plan.devices[stage] = "cpu (no GPU visible)" + (" although device: cuda" if pref == "cuda" else "")
    if machine is not None and local:
        plan.gpu_visible = bool(machine["n_gpus"])


def make_plan(jobs: list[Job], cfg: dict, *, cores: int, gpu_slots: int | None = None, local: bool = True,
              measure: bool = True, remeasure: bool = False) -> Plan:
    """The plan of ``jobs``: devices and, when ``measure``, the measured estimate (errors end up in ``problem``)."""
    from . import costs

    plan = Plan(cfg["run"], grid.results_root(cfg), jobs)
    gpu_jobs = [j for j in jobs if j.stage in GPU_STAGES]
    if not (measure and local):
        describe_devices(plan, cfg, None, local)
        plan.problem = "not measured" + ("" if local else " (cluster run)")
        return plan
    try:
        answer = costs.measure(specs(gpu_jobs, cfg, cores), remeasure=remeasure)
    except Exception as err:  # noqa: BLE001 - the plan never stops a run
        describe_devices(plan, cfg, None, local)
        plan.problem = f"could not measure step costs: {err}"
        return plan
    describe_devices(plan, cfg, answer["machine"], local)
    estimate(plan, cfg, answer["seconds"], cores=cores, gpu_slots=gpu_slots, n_gpus=answer["machine"]["n_gpus"],
             startup_s=answer["machine"].get("startup_s", 0.0))
    return plan


def format_plan(plan: Plan) -> str:
    counts = plan.counts()
    lines = [f"neuroreg plan of run '{plan.run}' (everything under {plan.root}/): {len(plan.jobs)} jobs",
             f"  {'stage':<12}{'jobs':>5}  {'device':<34}estimate"]
    for stage in grid.STAGES:
        if not counts.get(stage):
            continue
        dev = plan.devices.get(stage, "cpu")
        est = (f"{duration(plan.seconds[stage])} ({plan.notes[stage]})" if stage in plan.seconds
               else ("-" if stage not in GPU_STAGES else plan.problem or "-"))
        lines.append(f"  {stage:<12}{counts[stage]:>5}  {dev:<34}{est}")
    if plan.seconds:
        lines.append(f"  estimated wall time of the GPU stages: {duration(plan.total_s)} (from step costs measured "
                     "now; stages data, reliability, similarity, figures not included)")
    return "\n".join(lines)


# ---------------------------------------------------------------- Snakemake's onstart, and the CLI
def onstart(workflow, cfg: dict) -> None:
    """Print the plan of the jobs Snakemake is about to run (and the no-GPU warning, once for the run)."""
    from snakemake.logging import logger

    plan_only = os.environ.get(PLAN_ONLY_ENV) == "1"
    try:
        jobs = jobs_of(workflow.dag)
        resources = getattr(workflow, "global_resources", None) or {}
        gpu = _number(resources.get("gpu")) if hasattr(resources, "get") else None
        plan = make_plan(jobs, cfg, cores=int(_number(workflow.cores) or 1), gpu_slots=None if gpu is None else int(gpu),
                         local=bool(workflow.local_exec), measure=os.environ.get(NO_MEASURE_ENV) != "1",
                         remeasure=os.environ.get(REMEASURE_ENV) == "1")
    except KeyboardInterrupt:
        logger.warning("Stopped (Ctrl-C) before the first job: nothing was changed.")
        raise SystemExit(130) from None
    text, warning = format_plan(plan), plan.warning()
    if plan_only:
        print(text + (f"\nWARNING: {warning}" if warning else ""), flush=True)
        raise SystemExit(0)
    logger.info(text)
    if warning:
        logger.warning(warning)


def snakefile_path() -> Path:
    """The workflow's Snakefile: the repository's when the package runs from it, else the working directory's (an
    installed neuroreg, used from a clone's root like ``snakemake``)."""
    from .config import REPOSITORY

    for path in (REPOSITORY / "Snakefile", Path("Snakefile")):
        if path.is_file():
            return path
    raise SystemExit("python -m neuroreg.plan: no Snakefile here; run it from the repository's root folder")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m neuroreg.plan", description=__doc__.splitlines()[0])
    p.add_argument("targets", nargs="*", help="output files (default: the whole run)")
    p.add_argument("--configfile", action="append", default=[], help="an overlay on config.yaml (repeatable)")
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1)
    p.add_argument("--remeasure", action="store_true", help="measure the step costs again (ignore the cache)")
    args = p.parse_args(argv)
    snakefile = snakefile_path()
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--cores", str(args.cores), *args.targets]
    if args.configfile:
        cmd += ["--configfile", *args.configfile]
    env = dict(os.environ, **{PLAN_ONLY_ENV: "1"}, **({REMEASURE_ENV: "1"} if args.remeasure else {}))
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        return proc.returncode
    if proc.stdout.strip():
        print(proc.stdout.strip())
    else:
        print("Nothing to be done: every output of this run is up to date.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
