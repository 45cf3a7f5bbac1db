"""Which device a job uses: one GPU per job; without a GPU, the CPU under `auto` and an error under `cuda`.

Snakemake's ``gpu`` resource limits how many GPU jobs run at once, but it does not say
*which* GPU a job gets (it sets no ``CUDA_VISIBLE_DEVICES``). So each job claims a GPU
slot itself: it takes an exclusive, non-blocking ``fcntl.flock`` on a lock file per
visible GPU (``{lock_dir}/{host}-gpu{id}.lock``, ``id`` the physical id from
``CUDA_VISIBLE_DEVICES`` when that is set) and holds it for the life of the process. The
operating system releases the lock when the process ends, however it ends (even a
``kill -9``), so no stale lock survives a crash. When every GPU is taken the job waits.
The host name in the file name keeps jobs on different nodes sharing a file system
apart (a file system without flock, e.g. Lustre mounted without ``-o flock``, gives a
warning and the GPU unclaimed).

Under a batch scheduler that chose the job's GPUs (:func:`scheduler_gpus`: SLURM's
``--gpus``/``--gres``, or any scheduler with ``NEUROREG_GPUS_FROM_SCHEDULER=1``), the job
uses the GPUs it was given and takes no host-wide lock: with SLURM's constrained devices
every job on a node sees its own GPU as index 0, so host-wide lock files named after the
visible index would make two jobs on two different GPUs wait for each other. A job given
one GPU takes it without any lock; one given several (e.g. an interactive allocation in
which Snakemake runs its jobs locally) shares them among its own processes through lock
files that name the scheduler's job (``{host}-slurm{jobid}-gpu{id}.lock``), which no other
job takes.

Several jobs per GPU: ``NEUROREG_JOBS_PER_GPU=<k>`` (default 1) gives every GPU k slots
(lock files ``...-gpu{id}.lock``, ``...-gpu{id}-slot1.lock``, ...); a job takes the lowest
free slot level over all GPUs, so every GPU gets its first job before any gets a second.
Run Snakemake with ``--resources gpu=<n_gpus * k>`` to match (``python -m
neuroreg.devices`` prints that argument for this machine).

The tests pretend GPUs are visible by patching :func:`visible_gpu_count` and :func:`use_gpu` (tests/hooks).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import time
import warnings
from pathlib import Path

import torch

from .files import InputError

log = logging.getLogger(__name__)
_HELD: list = []  # open lock files: they hold the claim for the life of the process
JOBS_PER_GPU_ENV = "NEUROREG_JOBS_PER_GPU"
#: "1" in a job's environment: its CUDA_VISIBLE_DEVICES are the GPUs the batch scheduler gave this job alone.
SCHEDULER_ENV = "NEUROREG_GPUS_FROM_SCHEDULER"
#: Where schedulers put the job id, for lock files that only the processes of one job share.
JOB_ID_ENVS = ("SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID", "JOB_ID")


def scheduler_gpus() -> tuple[str, str, str] | None:
    """(who, job, ids) when a batch scheduler chose this job's GPUs, else None.

    SLURM: a job or job step given GPUs (``--gpus``, ``--gres=gpu:...``) has ``SLURM_STEP_GPUS`` (in a
    step) or ``SLURM_JOB_GPUS`` (the batch step), the node's ids of its GPUs; SLURM sets
    ``CUDA_VISIBLE_DEVICES`` to them (to 0, 1, ... where cgroups constrain the devices). Any other
    scheduler that sets ``CUDA_VISIBLE_DEVICES`` to the job's own GPUs: ``NEUROREG_GPUS_FROM_SCHEDULER=1``.
    ``who`` names the scheduler's job for the log ("SLURM job 123"), ``job`` is a file-name-safe job id
    ("" when none is known), ``ids`` the scheduler's GPU ids as it wrote them.
    """
    slurm_job = os.environ.get("SLURM_JOB_ID", "")
    slurm_ids = os.environ.get("SLURM_STEP_GPUS") or os.environ.get("SLURM_JOB_GPUS")
    if slurm_job and slurm_ids:
        return f"SLURM job {slurm_job}", f"slurm{_safe(slurm_job)}", slurm_ids
    if os.environ.get(SCHEDULER_ENV) == "1":
        job = next((os.environ[v] for v in JOB_ID_ENVS if os.environ.get(v)), "")
        return (f"the scheduler's job {job}" if job else "the scheduler"), (f"job{_safe(job)}" if job else ""), \
            os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return None


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def visible_gpu_ids(n: int) -> list[str]:
    """Physical ids of the n visible GPUs (from CUDA_VISIBLE_DEVICES when set, else 0..n-1)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [s.strip() for s in env.split(",") if s.strip()] if env else []
    return ids[:n] if len(ids) >= n else [str(i) for i in range(n)]


def jobs_per_gpu() -> int:
    """Training jobs allowed on one GPU at once: ``NEUROREG_JOBS_PER_GPU`` (default 1)."""
    raw = os.environ.get(JOBS_PER_GPU_ENV, "1")
    try:
        k = int(raw)
    except ValueError:
        k = 0
    if k < 1:
        raise ValueError(f"{JOBS_PER_GPU_ENV}={raw!r}: must be a whole number >= 1")
    return k


def gpu_slot(
    n_gpus: int,
    lock_dir="results/.gpu_locks",
    *,
    jobs_per_gpu: int = 1,
    poll_s: float = 2.0,
    timeout_s: float | None = None,
    scope: str = "",
) -> int:
    """Claim a free slot on one of ``n_gpus`` visible GPUs; returns the GPU's visible index (0..n-1).

    Each GPU has ``jobs_per_gpu`` slots; the lowest free slot level over all GPUs is taken
    (GPU 0 slot 0, GPU 1 slot 0, ..., GPU 0 slot 1, ...). The claim (an flock on a file in
    ``lock_dir``) lasts until the process exits or :func:`release` is called. Blocks
    (polling every ``poll_s``) while all slots are taken. ``scope`` (a scheduler's job,
    :func:`scheduler_gpus`) goes into the lock files' names: only processes with the same scope compete.
    """
    if n_gpus < 1:
        raise ValueError("gpu_slot: no GPU to claim")
    if jobs_per_gpu < 1:
        raise ValueError("gpu_slot: jobs_per_gpu must be >= 1")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0] or "host"
    if scope:
        host = f"{host}-{scope}"
    ids = visible_gpu_ids(n_gpus)
    slots = [(i, gid, level) for level in range(jobs_per_gpu) for i, gid in enumerate(ids)]
    start, waited = time.monotonic(), False
    while True:
        for i, gid, level in slots:
            suffix = "" if level == 0 else f"-slot{level}"  # slot 0 keeps the one-job-per-GPU name
            f = open(lock_dir / f"{host}-gpu{gid}{suffix}.lock", "a+")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                f.close()
                if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    continue  # held by another job
                # the file system has no flock (e.g. Lustre without -o flock): no claims possible
                warnings.warn(f"{lock_dir}: no file locks ({e}); using GPU {i} unclaimed", RuntimeWarning, stacklevel=2)
                return i
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
            _HELD.append(f)
            return i
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"all {n_gpus} GPUs x {jobs_per_gpu} slots are claimed (locks in {lock_dir})")
        if not waited:
            log.info("all %d GPUs x %d slots are claimed by other jobs; waiting", n_gpus, jobs_per_gpu)
            waited = True
        time.sleep(poll_s)


def release() -> None:
    """Release every GPU claim of this process."""
    while _HELD:
        f = _HELD.pop()
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def select_device(preference: str = "auto", lock_dir="results/.gpu_locks", key: str = "device") -> torch.device:
    """'cpu' -> CPU; 'auto' -> a GPU of its own (see module doc), or the CPU (logged); 'cuda' -> a GPU of its own,
    or an InputError naming the config ``key`` (every stage alike: a GPU asked for by name is not silently a CPU).

    ``lock_dir`` is shared by every run in the working directory (``results/.gpu_locks``, not below a
    run's folder), so jobs of two runs started at once never take the same GPU. A job whose GPUs a
    scheduler chose (:func:`scheduler_gpus`) uses them without a host-wide lock."""
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device: {preference!r} is not auto, cpu or cuda")
    if preference == "cpu":
        return torch.device("cpu")
    n = visible_gpu_count()
    given = scheduler_gpus()
    if n == 0:
        if given:  # a GPU was asked for and granted, and this torch cannot use it: say so wherever it runs
            warnings.warn(f"{given[0]} was given GPU {given[2]}, but torch {torch.__version__} sees no GPU "
                          f"(a CPU-only build?): running on the CPU", RuntimeWarning, stacklevel=2)
        if preference == "cuda":  # asked for by name
            raise InputError(None, key, f"cuda asked for, but torch {torch.__version__} sees no GPU: use auto "
                                        f"(a GPU where there is one, else the CPU) or cpu")
        if not given:  # 'auto': the run's plan (neuroreg.plan) warned once for the whole run; the job's log says it again
            log.info("no GPU visible: running on the CPU")
        return torch.device("cpu")
    k = jobs_per_gpu()
    if given and n == 1:  # the scheduler keeps every other job off this GPU: nothing to claim
        i = 0
        log.info("using GPU 0, given to %s (its GPU %s): no lock", given[0], given[2])
    elif given and given[1]:  # several GPUs for one job: shared by this job's processes only
        i = gpu_slot(n, lock_dir, jobs_per_gpu=k, scope=given[1])
        log.info("using GPU %d of the %d given to %s (up to %d jobs per GPU)", i, n, given[0], k)
    else:
        i = gpu_slot(n, lock_dir, jobs_per_gpu=k)
        log.info("using GPU %d of %d (physical id %s, up to %d jobs per GPU)", i, n, visible_gpu_ids(n)[i], k)
    use_gpu(i)
    return torch.device("cuda", i)


def visible_gpu_count() -> int:
    """How many CUDA devices this process sees (0 without CUDA)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def use_gpu(i: int) -> None:
    """Make GPU ``i`` this process's current CUDA device."""
    torch.cuda.set_device(i)


def local_resources(n_gpus: int | None = None, per_gpu: int | None = None, mem_fraction: float = 0.9) -> dict:
    """Snakemake ``--resources`` for this machine: gpu = GPUs x jobs per GPU, mem_mb = a share of RAM.

    ``n_gpus`` defaults to the visible CUDA devices, ``per_gpu`` to ``NEUROREG_JOBS_PER_GPU``.
    """
    if n_gpus is None:
        n_gpus = visible_gpu_count()
    per_gpu = jobs_per_gpu() if per_gpu is None else per_gpu
    mem_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    return {"gpu": n_gpus * per_gpu, "mem_mb": int(mem_mb * mem_fraction)}


if __name__ == "__main__":  # snakemake --cores all $(python -m neuroreg.devices)
    print("--resources " + " ".join(f"{k}={v}" for k, v in local_resources().items()))
