"""GPU jobs sharing a node: under a scheduler a job uses the GPUs it was given, with no host-wide lock.

Outside a scheduler every job claims a GPU through a host-wide lock file named after the GPU's id
(tests/test_cotrain.py, "devices"). Inside SLURM jobs with constrained devices every job sees its own
GPU as index 0, so that lock would make two jobs on two different GPUs wait for each other. Here a
lock held by "another job" stands for that: it must stop a local job and must not stop a SLURM one.
NEUROREG_FAKE_GPUS pretends GPUs are visible (torch here is the CPU build).
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from neuroreg import devices

SCHEDULER_VARS = ("SLURM_JOB_ID", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS", "CUDA_VISIBLE_DEVICES", "PBS_JOBID",
                  "LSB_JOBID", "JOB_ID", devices.SCHEDULER_ENV, devices.JOBS_PER_GPU_ENV, "NEUROREG_FAKE_GPUS")


@pytest.fixture(autouse=True)
def no_scheduler(monkeypatch):
    """Each test starts outside any scheduler, whatever the shell that runs pytest had."""
    for var in SCHEDULER_VARS:
        monkeypatch.delenv(var, raising=False)
    yield
    devices.release()


def host_wide_lock(lock_dir, gpu="0"):
    """Another job's claim on GPU `gpu` of this host, as gpu_slot takes it (a separate open file: flock conflicts)."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    f = open(lock_dir / f"{socket.gethostname().split('.')[0] or 'host'}-gpu{gpu}.lock", "a+")
    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return f


def slurm_job(monkeypatch, job_id, gpus, visible="0"):
    """The environment SLURM gives a job step with GPUs (measured on SLURM 22.05: SLURM_STEP_GPUS, SLURM_JOB_GPUS,
    CUDA_VISIBLE_DEVICES; with constrained devices CUDA_VISIBLE_DEVICES counts from 0 whatever the node's ids)."""
    monkeypatch.setenv("SLURM_JOB_ID", str(job_id))
    monkeypatch.setenv("SLURM_STEP_GPUS", gpus)
    monkeypatch.setenv("SLURM_JOB_GPUS", gpus)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monkeypatch.setenv("NEUROREG_FAKE_GPUS", str(len(visible.split(","))))


def test_outside_a_scheduler_another_jobs_lock_makes_a_job_wait(tmp_path, monkeypatch):
    """Today's local slots: the host-wide lock is what keeps two local jobs off one GPU."""
    held = host_wide_lock(tmp_path / "locks")
    with pytest.raises(TimeoutError, match="all 1 GPUs"):
        devices.gpu_slot(1, tmp_path / "locks", poll_s=0.05, timeout_s=0.2)
    monkeypatch.setenv("NEUROREG_FAKE_GPUS", "2")
    assert devices.select_device("auto", tmp_path / "locks") == torch.device("cuda", 1)  # the free one
    held.close()
    # a SLURM job that was given no GPU (a CPU job) is treated as outside: it claims host-wide, as before
    devices.release()
    monkeypatch.setenv("SLURM_JOB_ID", "41")
    assert devices.scheduler_gpus() is None
    assert devices.select_device("auto", tmp_path / "locks") == torch.device("cuda", 0)
    assert any(p.name.endswith("-gpu0.lock") and "slurm" not in p.name for p in (tmp_path / "locks").iterdir())


def test_slurm_job_uses_the_gpu_it_was_given_without_a_lock(tmp_path, monkeypatch, caplog):
    locks = tmp_path / "locks"
    held = host_wide_lock(locks)  # another job's claim on "GPU 0" of this host
    slurm_job(monkeypatch, 123, gpus="1")  # the node's GPU 1, seen as 0 inside the job (constrained devices)
    assert devices.scheduler_gpus() == ("SLURM job 123", "slurm123", "1")
    with caplog.at_level("INFO", logger="neuroreg.devices"):
        assert devices.select_device("auto", locks) == torch.device("cuda", 0)  # at once, although gpu0 is held
    assert "given to SLURM job 123 (its GPU 1): no lock" in caplog.text
    assert devices._HELD == [] and [p.name for p in locks.iterdir()] == [os.path.basename(held.name)]
    held.close()


def test_two_slurm_jobs_that_both_see_gpu_0_run_at_once(tmp_path):
    """Two processes, each a one-GPU SLURM job on one node seeing its GPU as index 0, hold their GPU together."""
    go = tmp_path / "go"
    code = textwrap.dedent(
        f"""
        import os, time
        from neuroreg import devices
        print(devices.select_device("auto", {str(tmp_path / "locks")!r}), flush=True)
        for _ in range(600):  # keep the GPU until both jobs have theirs
            if os.path.exists({str(go)!r}):
                break
            time.sleep(0.1)
        """
    )
    base = {k: v for k, v in os.environ.items() if k not in SCHEDULER_VARS}
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                              env=dict(base, SLURM_JOB_ID=job, SLURM_STEP_GPUS=gpu, CUDA_VISIBLE_DEVICES="0",
                                       NEUROREG_FAKE_GPUS="1"))
             for job, gpu in (("201", "0"), ("202", "1"))]
    start = time.monotonic()
    try:  # a job that waited for the other's lock would answer only when the other lets go (after 60 s)
        got = [p.stdout.readline().strip() for p in procs]
        waited = time.monotonic() - start
    finally:
        go.touch()
        for p in procs:
            p.communicate(timeout=60)
    assert got == ["cuda:0", "cuda:0"] and all(p.returncode == 0 for p in procs)
    assert waited < 30, f"the second job waited {waited:.0f} s for the first one's GPU"
    assert not (tmp_path / "locks").exists() or not list((tmp_path / "locks").iterdir())


def test_slurm_job_with_several_gpus_shares_them_among_its_own_processes(tmp_path, monkeypatch):
    """An allocation with 2 GPUs in which Snakemake runs jobs locally: slots within the job, none host-wide."""
    locks = tmp_path / "locks"
    held = host_wide_lock(locks)
    slurm_job(monkeypatch, 7, gpus="2,3", visible="0,1")
    assert [devices.select_device("auto", locks) for _ in range(2)] == [torch.device("cuda", 0), torch.device("cuda", 1)]
    with pytest.raises(TimeoutError):  # both of this job's GPUs are taken by its own processes
        devices.gpu_slot(2, locks, poll_s=0.05, timeout_s=0.2, scope="slurm7")
    assert devices.gpu_slot(2, locks, scope="slurm8") == 0  # another job's scope: its own files
    host = socket.gethostname().split(".")[0] or "host"
    assert {p.name for p in locks.iterdir()} == {f"{host}-gpu0.lock", f"{host}-slurm7-gpu0.lock",
                                                 f"{host}-slurm7-gpu1.lock", f"{host}-slurm8-gpu0.lock"}
    held.close()


def test_a_granted_gpu_torch_cannot_see_is_a_warning(monkeypatch, tmp_path):
    """The cluster's venv has a CPU-only torch: SLURM gave the job a GPU and the job would train on the CPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("SLURM_JOB_ID", "55")
    monkeypatch.setenv("SLURM_JOB_GPUS", "3")
    with pytest.warns(RuntimeWarning, match=r"SLURM job 55 was given GPU 3, but torch .* sees no GPU"):
        assert devices.select_device("auto", tmp_path) == torch.device("cpu")


def test_other_schedulers_opt_in_and_name_their_job(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    held = host_wide_lock(locks)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    monkeypatch.setenv("NEUROREG_FAKE_GPUS", "1")
    with pytest.raises(TimeoutError):  # without the switch: a local job, which waits for the host-wide lock
        devices.gpu_slot(1, locks, poll_s=0.05, timeout_s=0.2)
    monkeypatch.setenv(devices.SCHEDULER_ENV, "1")
    monkeypatch.setenv("PBS_JOBID", "99.pbs-server")
    assert devices.scheduler_gpus() == ("the scheduler's job 99.pbs-server", "job99_pbs-server", "0")
    assert devices.select_device("auto", locks) == torch.device("cuda", 0)
    held.close()
