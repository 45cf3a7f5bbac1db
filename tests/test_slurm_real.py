"""profiles/slurm on a real SLURM: slurmctld and slurmd on one node with two fake GPUs (tests/slurm_cluster.py).

The tiny pipeline's GPU rules (co-training, encoder) beside CPU rules run through the profile and the
real snakemake-executor-plugin-slurm (sbatch, then srun inside the job through the job-step plugin),
on a cluster without accounting, as many small lab clusters are (job status from squeue). Checked:
the outputs equal a local run's (timings aside); SLURM recorded what the profile asks for; a run
whose running jobs are cancelled mid-way (scancel) resumes to the same outputs, co-training from its
checkpoint; a failing job's log and Snakemake's message name the error; nothing is left running.

Needs root and Debian's slurmctld, slurmd, slurm-client and munge (.ci/run installs them where it
can); skipped with one line otherwise. About 2.5 minutes on the 2-core development machine.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import slurm_cluster
from tiny import tiny_config

pytestmark = [pytest.mark.slurm, pytest.mark.integration]

REASON = slurm_cluster.unavailable()
if REASON:
    pytest.skip(REASON, allow_module_level=True)

REPO = Path(__file__).resolve().parents[1]
SITE = {"<your-cpu-partition>": "cpu", "<your-gpu-partition>": "gpu", "<your-account>": "testacct"}
GPU_RULES = {"cotrain", "encoder"}
TINY = {
    "encoder.max_epochs": 1,
    "encoder.hidden_channels": 8,
    "cotrain.epochs": 16,  # long enough to be cancelled after its first checkpoint
    "cotrain.width": 8,
    "cotrain.seeds": [0],
    "cotrain.alpha_sweep": {"alphas": [0, 4], "seeds": [0]},
}
COTRAIN = "results/tiny/cotrain/none/alpha0/seed0"
COTRAIN_LOG = "results/tiny/logs/cotrain/none/alpha0/seed0.log"
# a GPU rule beside CPU rules: prepare_cifar, stimulus_bank, simulate_scan, reliability (CPU); cotrain, encoder (GPU)
TARGETS = [f"{COTRAIN}/metrics.json", "results/tiny/encoders/v1_a1_s1/metrics.json",
           "results/tiny/reliability/v1_a1_s1.csv"]
FAST_POLL = ["--slurm-init-seconds-before-status-checks", "1", "--seconds-between-status-checks", "1"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = slurm_cluster.Cluster(tmp_path_factory.mktemp("slurm")).start()
    yield c
    left = c.stop()
    assert not left, f"processes of the test cluster were still running after its daemons stopped: {left}"


def workdir(root: Path, corrupt_photos: bool = False) -> Path:
    """The tiny config in `root`, its data named relative to it (so two folders' outputs can be equal)."""
    root.mkdir(parents=True)
    cfg = tiny_config(root, **TINY)
    cfg["data"].update(cifar10="cifar-10-batches-py", photos="photos.zip")
    (root / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    if corrupt_photos:
        photos = root / "photos.zip"
        photos.write_bytes(photos.read_bytes()[:300])
    return root


def command(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(root),
            "--configfile", str(root / "config.yaml"), *args]


def profile(dest: Path) -> Path:
    """profiles/slurm with the site values filled in, as a user copies it."""
    text = (REPO / "profiles/slurm/config.yaml").read_text()
    for placeholder, value in SITE.items():
        text = text.replace(placeholder, value)
    dest.mkdir(parents=True)
    (dest / "config.yaml").write_text(text)
    return dest


def job_env(base: dict) -> dict:
    return dict(base, PYTHONHASHSEED="0", NEUROREG_NO_MEASURE="1")


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The same targets run locally (profiles/default), the reference."""
    root = workdir(tmp_path_factory.mktemp("local") / "run")
    env = job_env({k: v for k, v in os.environ.items() if not k.startswith("SLURM_")})
    proc = subprocess.run(command(root, "--cores", "2", *TARGETS), capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root


def outputs(root: Path) -> dict[str, object]:
    """Every output under results/tiny/ but logs and benchmarks, as comparable values: timings left out."""
    out = {}
    for path in sorted((root / "results/tiny").rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or rel.startswith(("results/tiny/logs/", "results/tiny/benchmarks/")):
            continue
        if path.suffix == ".json":
            out[rel] = _untimed(json.loads(path.read_text()))
        elif path.suffix == ".csv":
            rows = list(csv.DictReader(io.StringIO(path.read_text())))
            out[rel] = [{k: v for k, v in row.items() if k != "seconds"} for row in rows]
        else:  # HDF5 files, models: byte for byte
            out[rel] = path.read_bytes()
    return out


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def assert_same_outputs(a: Path, b: Path) -> None:
    x, y = outputs(a), outputs(b)
    assert sorted(x) == sorted(y)
    assert len(x) >= 10
    differ = [k for k in x if x[k] != y[k]]
    assert not differ, f"outputs that differ between {a} and {b}: {differ}"


def rule_of(job: dict) -> str:
    """The rule from the job's comment (rule_<name> or rule_<name>_wildcards_...)."""
    comment = job.get("Comment", "")
    assert comment.startswith("rule_"), job
    return comment[len("rule_"):].split("_wildcards_")[0]


def minutes(limit: str) -> int:
    """SLURM's TimeLimit ([D-]HH:MM:SS) in minutes."""
    days, _, hms = limit.rpartition("-")
    h, m, s = (int(x) for x in hms.split(":"))
    return (int(days or 0) * 24 + h) * 60 + m + (s > 0)


def check_what_slurm_was_asked(job: dict, wanted: dict) -> None:
    """What slurmctld recorded for a job, against profiles/slurm: the sbatch flags as SLURM understood them.

    GPU rules: one GPU, its CPUs per GPU, runtime and memory from the profile's set-resources, on the GPU
    partition. The rest: no GPU, on the CPU partition, with their rule's own runtime and memory."""
    rule = rule_of(job)
    assert job["Account"] == "testacct" and job["Requeue"] == "1", job
    assert minutes(job["TimeLimit"]) > 0 and int(job["MinMemoryNode"].rstrip("M")) > 0, job
    if rule in GPU_RULES:
        res = wanted["set-resources"][rule]
        assert job["Partition"] == "gpu", job
        assert job.get("TresPerJob") == "gres:gpu:1", job  # --gpus=1
        assert job.get("CpusPerTres") == f"gres:gpu:{res['cpus_per_gpu']}", job
        assert minutes(job["TimeLimit"]) == res["runtime"] and job["MinMemoryNode"] == f"{res['mem_mb']}M", job
    else:
        assert job["Partition"] == "cpu", job
        assert "gpu" not in job.get("TresPerJob", "") + job.get("TresPerNode", "") + job.get("CpusPerTres", ""), job


@pytest.mark.timeout(480)
def test_pipeline_on_real_slurm_equals_local_run_and_resumes_after_scancel(cluster, local_run, tmp_path):
    root = workdir(tmp_path / "run")
    prof = profile(tmp_path / "profile")
    before = set(cluster.jobs())
    log = open(tmp_path / "snakemake.out", "w")
    proc = subprocess.Popen(command(root, "--workflow-profile", str(prof), *FAST_POLL, *TARGETS), stdout=log,
                            stderr=subprocess.STDOUT, env=job_env(cluster.env()), cwd=root)
    try:
        # mid-way: once co-training has written its first checkpoint, cancel every running job
        end = time.monotonic() + 300
        while time.monotonic() < end and proc.poll() is None:
            text = (root / COTRAIN_LOG).read_text() if (root / COTRAIN_LOG).exists() else ""
            if "epoch=1 " in text:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "Snakemake ended before co-training's first epoch"
        running = cluster.run("squeue", "-h", "-t", "RUNNING", "-o", "%i").split()
        cluster.run("scancel", *running)
        proc.wait(timeout=360)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    out = (tmp_path / "snakemake.out").read_text()
    assert proc.returncode == 0, out[-6000:]

    jobs = {i: j for i, j in cluster.jobs().items() if i not in before}
    cancelled = {i for i, j in jobs.items() if j["JobState"] == "CANCELLED"}
    # (a job that ended between squeue and scancel is COMPLETED: cancelled is a subset of what was running)
    assert cancelled <= set(running) and any(rule_of(jobs[i]) == "cotrain" for i in cancelled), jobs
    assert "SLURM status is: 'CANCELLED'" in out  # Snakemake saw the cancellation and resubmitted the job
    # ... and the resubmitted co-training resumed from the checkpoint the cancelled one left
    assert "resumed from" in (root / COTRAIN_LOG).read_text()
    assert not (root / COTRAIN / "checkpoint.pt").exists()
    assert_same_outputs(local_run, root)

    # every rule instance ran as a SLURM job, asking for what the profile says
    wanted = yaml.safe_load((prof / "config.yaml").read_text())
    assert {rule_of(j) for j in jobs.values()} == {"prepare_cifar", "stimulus_bank", "simulate_scan", "reliability",
                                                   "encoder", "cotrain"}
    for job in jobs.values():
        check_what_slurm_was_asked(job, wanted)
        assert job["JobState"] in ("COMPLETED", "CANCELLED"), job
    # the GPU jobs were given a GPU each, and said so (this torch has no CUDA: they trained on the CPU)
    for log_file in (COTRAIN_LOG, "results/tiny/logs/encoders/v1_a1_s1.log"):
        assert "was given GPU" in (root / log_file).read_text(), log_file


@pytest.mark.timeout(300)
def test_failing_job_names_its_error_in_its_log_and_in_snakemakes_message(cluster, tmp_path):
    root = workdir(tmp_path / "run", corrupt_photos=True)
    prof = profile(tmp_path / "profile")
    before = set(cluster.jobs())
    # --retries 0: the profile's 3 retries would fail 3 more times, each after a longer wait between status checks
    proc = subprocess.run(command(root, "--workflow-profile", str(prof), *FAST_POLL, "--retries", "0",
                                  "results/tiny/data/stimuli.h5"),
                          capture_output=True, text=True, env=job_env(cluster.env()), cwd=root, timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    error = "photos.zip: not a readable zip file"
    log = (root / "results/tiny/logs/data/stimulus_bank.log").read_text().splitlines()
    assert "InputError" in log[0] and error in log[0], log[:3]  # the log starts with the error
    # Snakemake's message: SLURM's verdict, then (show-failed-logs) the job's log, which starts with the error
    assert "SLURM-job" in out and "SLURM status is: 'FAILED'" in out, out[-4000:]
    shown = out[out.index("Logfile results/tiny/logs/data/stimulus_bank.log:"):]
    assert error in shown.splitlines()[1] or error in shown.splitlines()[2], shown[:2000]
    jobs = {i: j for i, j in cluster.jobs().items() if i not in before}
    assert [(rule_of(j), j["JobState"], j["ExitCode"]) for j in jobs.values()] == [("stimulus_bank", "FAILED", "1:0")]
