"""The execution profiles: profiles/slurm and profiles/cluster-generic on fake schedulers.

No cluster here: tests/fake_slurm.py puts `sbatch`, `srun`, `sacct`, `squeue`, `sinfo`,
`scontrol`, `scancel`, `sacctmgr` and `qsub` on PATH. They record what Snakemake submits;
sbatch either runs the job for real or (touch mode) only creates its outputs. Each test
copies a profile and fills in its site values, as a user would. Hard time limits
everywhere: pytest-timeout marks and subprocess timeouts.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import fake_slurm
from tiny import tiny_config

REPO = Path(__file__).resolve().parents[1]
SITE = {"<your-cpu-partition>": "cpu", "<your-gpu-partition>": "gpu", "<your-account>": "testacct"}
GPU_RULES = {"cotrain", "encoder", "noise_robustness", "corruption_robustness", "adversarial_robustness"}
TINY = {
    "encoder.max_epochs": 1,
    "encoder.hidden_channels": 8,
    "cotrain.epochs": 2,
    "cotrain.width": 8,
    "cotrain.seeds": [0],
    "cotrain.alpha_sweep": {"alphas": [0, 4], "seeds": [0]},
}
FAST_POLL = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]


def copy_profile(name: str, dest: Path) -> Path:
    """profiles/<name> copied to dest with the <...> site values filled in."""
    text = (REPO / "profiles" / name / "config.yaml").read_text()
    for placeholder, value in SITE.items():
        text = text.replace(placeholder, value)
    assert "<your" not in text
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(text)
    return dest


def snakemake(root: Path, profile: Path, *args: str, env: dict, timeout: int) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(root),
           "--configfile", str(root / "config.yaml"), "--workflow-profile", str(profile), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=root)
    if proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}")
    return proc


@pytest.fixture
def cluster(tmp_path):
    """A tiny config, the fake scheduler and its state folder."""
    root = tmp_path / "run"
    root.mkdir()
    tiny_config(root, **TINY)
    fake_slurm.install(tmp_path / "bin", tmp_path / "state")
    return root, tmp_path / "bin", tmp_path / "state"


def dry_run_jobs(root: Path, profile: Path, env: dict, *targets: str) -> list[dict]:
    """The jobs of a dry run with their rule, wildcards, files (outputs, log, benchmark) and resources."""
    proc = snakemake(root, profile, "-n", *targets, env=env, timeout=180)
    jobs, job = [], None
    for line in (proc.stdout + proc.stderr).splitlines():
        m = re.match(r"^(local)?rule (\w+):$", line)
        if m:
            job = {"rule": m.group(2), "local": bool(m.group(1)) or m.group(2) == "all", "wildcards": {}, "output": [], "resources": {}}
            jobs.append(job)
            continue
        m = re.match(r"^\s+(output|log|benchmark|wildcards|resources): (.*)$", line)
        if job is not None and m:
            items = [s.strip() for s in m.group(2).split(", ")]
            if m.group(1) in ("output", "log", "benchmark"):  # what the job leaves behind
                job["output"] += items
            else:
                job[m.group(1)] = dict(s.split("=", 1) for s in items)
    assert jobs, proc.stdout[-3000:]
    return jobs


def job_key(rule: str, wildcards: dict) -> str:
    return rule + ":" + ",".join(sorted(f"{k}={v}" for k, v in wildcards.items()))


def submissions(state: Path) -> list[dict]:
    """Every sbatch call: its arguments, rule (from --comment) and --target-jobs spec."""
    out = []
    for line in (state / "sbatch.jsonl").read_text().splitlines():
        rec = json.loads(line)
        args = rec["args"]
        wrap = shlex.split(next(a[len("--wrap="):] for a in args if a.startswith("--wrap=")))
        rule, _, wcs = wrap[wrap.index("--target-jobs") + 1].partition(":")
        rec.update(rule=rule, key=rule + ":" + ",".join(sorted(w for w in wcs.split(",") if w)))
        out.append(rec)
    return out


def flag(args: list[str], name: str) -> str | None:
    """The value of `name VALUE` or `name=VALUE` in an sbatch argument list."""
    for i, a in enumerate(args):
        if a == name:
            return args[i + 1]
        if a.startswith(name + "="):
            return a[len(name) + 1:]
    return None


def check_sbatch_line(rec: dict) -> None:
    """What each rule asks SLURM for: GPU rules one GPU on the GPU partition, the rest none, on the CPU one."""
    args, rule = rec["args"], rec["rule"]
    assert flag(args, "-A") == "testacct" and "--parsable" in args and "--requeue" in args
    assert int(flag(args, "-t")) > 0 and int(flag(args, "--mem")) > 0, args
    if rule in GPU_RULES:
        wanted = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())["set-resources"][rule]
        assert flag(args, "-p") == "gpu" and flag(args, "--gpus") == "1", args
        assert flag(args, "--cpus-per-gpu") == str(wanted["cpus_per_gpu"]) and flag(args, "--cpus-per-task") is None
        assert flag(args, "-t") == str(wanted["runtime"]) and flag(args, "--mem") == str(wanted["mem_mb"]), args
    else:
        assert flag(args, "-p") == "cpu", args
        assert flag(args, "--gpus") is None and flag(args, "--gres") is None and flag(args, "--cpus-per-gpu") is None
        assert int(flag(args, "--cpus-per-task")) >= 1, args


# ---------------------------------------------------------------------------- SLURM
@pytest.mark.timeout(240)
def test_whole_dag_is_submitted_with_per_rule_resources(cluster):
    """Touch mode: every job of the tiny config's `rule all` goes through sbatch once, asking for the right things."""
    root, bin_dir, state = cluster
    profile = copy_profile("slurm", root.parent / "profile")
    env = fake_slurm.env_with(bin_dir)
    jobs = dry_run_jobs(root, profile, env)
    remote = [j for j in jobs if not j["local"]]
    assert {j["rule"] for j in remote} >= {"cotrain", "encoder", "reliability", "fig1c_fluctuations", "gamma_table"}
    table = root.parent / "outputs.json"
    table.write_text(json.dumps({job_key(j["rule"], j["wildcards"]): j["output"] for j in remote}))

    proc = snakemake(root, profile, *FAST_POLL, env=dict(env, FAKE_SLURM_OUTPUTS=str(table)), timeout=200)
    assert "steps (100%) done" in proc.stdout + proc.stderr
    subs = submissions(state)
    assert sorted(s["key"] for s in subs) == sorted(job_key(j["rule"], j["wildcards"]) for j in remote)
    for rec in subs:
        check_sbatch_line(rec)
    rules = {s["rule"] for s in subs}
    assert "all" not in rules and {"cotrain", "encoder", "fig1c_fluctuations"} <= rules
    assert flag(next(s for s in subs if s["rule"] == "cotrain")["args"], "-t") == "240"  # its runtime


@pytest.mark.timeout(300)
@pytest.mark.integration
@pytest.mark.slow
def test_jobs_run_on_fake_slurm_and_timed_out_training_resumes(cluster):
    """Real jobs through sbatch/srun; the first co-training attempt is killed (TIMEOUT), the retry resumes."""
    root, bin_dir, state = cluster
    profile = copy_profile("slurm", root.parent / "profile")
    env = fake_slurm.env_with(bin_dir, FAKE_SLURM_TIMEOUT_ONCE="rule_cotrain",
                              FAKE_SLURM_TIMEOUT_ENV="NEUROREG_CRASH_AFTER_STEPS=3")  # 2 steps per epoch
    run = "results/tiny/cotrain/none/alpha0/seed0"
    # its inputs made here first (the CPU rules' sbatch lines are checked by the whole-DAG test)
    local = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(root),
                            "--configfile", str(root / "config.yaml"), "--cores", "2", "results/tiny/data/cifar10.h5",
                            "results/tiny/data/stimuli.h5"], capture_output=True, text=True, timeout=120, cwd=root)
    assert local.returncode == 0, local.stderr[-3000:]
    snakemake(root, profile, *FAST_POLL, f"{run}/metrics.json", env=env, timeout=250)

    subs = submissions(state)
    assert [s["rule"] for s in subs] == ["cotrain", "cotrain"]
    for rec in subs:
        check_sbatch_line(rec)
    assert [(state / "jobs" / s["id"]).read_text() for s in subs] == ["TIMEOUT", "COMPLETED"]
    # the retry (attempt 2) resumed from the checkpoint the killed attempt left, and cleaned it up
    log = (root / "results/tiny/logs/cotrain/none/alpha0/seed0.log").read_text()
    assert "resumed from" in log and "after epoch 1" in log
    assert json.loads((root / run / "metrics.json").read_text())
    assert not (root / run / "checkpoint.pt").exists()
    # each job step ran under srun with the job's CPUs (and its GPU)
    steps = [json.loads(line) for line in (state / "srun.jsonl").read_text().splitlines()]
    cotrain_steps = [s for s in steps if "cotrain" in " ".join(s)]
    assert cotrain_steps and all("--gpus=1" in s for s in cotrain_steps)


def test_profiles_are_valid_yaml_with_placeholders_in_one_place():
    slurm = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert slurm["executor"] == "slurm" and slurm["retries"] >= 1 and slurm["rerun-incomplete"]
    assert slurm["set-resources"]["cotrain"]["slurm_partition"] == slurm["set-resources"]["encoder"]["slurm_partition"]
    text = (REPO / "profiles/slurm/config.yaml").read_text()
    assert text.count('"<your-gpu-partition>"') == 1 and text.count('"<your-cpu-partition>"') == 1
    assert "gpu" in yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())["resources"]


# ---------------------------------------------------------------------------- generic cluster (qsub)
@pytest.mark.timeout(240)
@pytest.mark.integration
@pytest.mark.slow
def test_cluster_generic_profile_submits_job_scripts(cluster):
    root, bin_dir, state = cluster
    profile = copy_profile("cluster-generic", root.parent / "profile-generic")
    env = fake_slurm.env_with(bin_dir)
    (root / "logs" / "cluster").mkdir(parents=True)
    snakemake(root, profile, "--seconds-between-status-checks", "1", "results/tiny/data/stimuli.h5",
              "results/tiny/cotrain/none/alpha0/seed0/metrics.json", env=env, timeout=220)
    subs = [json.loads(line) for line in (state / "qsub.jsonl").read_text().splitlines()]
    by_rule = {re.search(r"-N nr\.(\w+)", " ".join(s["args"])).group(1): " ".join(s["args"]) for s in subs}
    assert sorted(by_rule) == ["cotrain", "prepare_cifar", "stimulus_bank"]
    assert "gpu=1" in by_rule["cotrain"] and "h_rt=240:00" in by_rule["cotrain"] and "-pe smp 4" in by_rule["cotrain"]
    assert "gpu=0" in by_rule["stimulus_bank"] and "h_vmem=1500M" in by_rule["stimulus_bank"]
    assert all("--target-jobs" in s["script"] for s in subs)
    assert (root / "results/tiny/cotrain/none/alpha0/seed0/metrics.json").exists()
