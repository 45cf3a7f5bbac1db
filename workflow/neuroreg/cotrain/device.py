"""Which device a training job uses: one GPU per job, or the CPU with a warning.

Snakemake's ``gpu`` resource limits how many GPU jobs run at once, but it does not say
*which* GPU a job gets (it sets no ``CUDA_VISIBLE_DEVICES``). So each job claims a GPU
slot itself: it takes an exclusive, non-blocking ``fcntl.flock`` on a lock file per
visible GPU (``{lock_dir}/{host}-gpu{id}.lock``, ``id`` the physical id from
``CUDA_VISIBLE_DEVICES`` when that is set) and holds it for the life of the process. The
operating system releases the lock when the process ends, however it ends (even a
``kill -9``), so no stale lock survives a crash. When every GPU is taken the job waits.
The host name in the file name keeps jobs on different nodes sharing a file system
apart; on SLURM each job normally sees one GPU (``CUDA_VISIBLE_DEVICES`` set by SLURM)
and simply takes it.

For tests, ``NEUROREG_FAKE_GPUS=<n>`` pretends n GPUs are visible to :func:`gpu_slot`.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
import warnings
from pathlib import Path

import torch

from neuroreg import logs

log = logs.get("cotrain.device")
_HELD: list = []  # open lock files: they hold the claim for the life of the process


def visible_gpu_ids(n: int) -> list[str]:
    """Physical ids of the n visible GPUs (from CUDA_VISIBLE_DEVICES when set, else 0..n-1)."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = [s.strip() for s in env.split(",") if s.strip()] if env else []
    return ids[:n] if len(ids) >= n else [str(i) for i in range(n)]


def gpu_slot(n_gpus: int, lock_dir="results/.gpu_locks", *, poll_s: float = 2.0, timeout_s: float | None = None) -> int:
    """Claim a free GPU among ``n_gpus`` visible ones; returns its visible index (0..n-1).

    The claim (an flock on a file in ``lock_dir``) lasts until the process exits or
    :func:`release` is called. Blocks (polling every ``poll_s``) while all are taken.
    """
    if n_gpus < 1:
        raise ValueError("gpu_slot: no GPU to claim")
    lock_dir = Path(lock_dir)
    lock_dir.mkdir(parents=True, exist_ok=True)
    host = socket.gethostname().split(".")[0] or "host"
    ids = visible_gpu_ids(n_gpus)
    start, waited = time.monotonic(), False
    while True:
        for i, gid in enumerate(ids):
            f = open(lock_dir / f"{host}-gpu{gid}.lock", "a+")
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                f.close()
                continue
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
            _HELD.append(f)
            return i
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"all {n_gpus} GPUs are claimed (locks in {lock_dir})")
        if not waited:
            log.info("all %d GPUs are claimed by other jobs; waiting", n_gpus)
            waited = True
        time.sleep(poll_s)


def release() -> None:
    """Release every GPU claim of this process."""
    while _HELD:
        f = _HELD.pop()
        fcntl.flock(f, fcntl.LOCK_UN)
        f.close()


def select_device(preference: str = "auto", lock_dir="results/.gpu_locks") -> torch.device:
    """'cpu' -> CPU; 'auto' | 'cuda' -> a GPU of its own (see module doc), or the CPU with a warning."""
    if preference not in ("auto", "cpu", "cuda"):
        raise ValueError(f"cotrain.device: {preference!r} is not auto, cpu or cuda")
    if preference == "cpu":
        return torch.device("cpu")
    fake = os.environ.get("NEUROREG_FAKE_GPUS")
    n = int(fake) if fake else (torch.cuda.device_count() if torch.cuda.is_available() else 0)
    if n == 0:
        warnings.warn("no GPU available: training on the CPU (slow at the paper's scale)", RuntimeWarning, stacklevel=2)
        return torch.device("cpu")
    i = gpu_slot(n, lock_dir)
    log.info("using GPU %d of %d (physical id %s)", i, n, visible_gpu_ids(n)[i])
    if not fake:
        torch.cuda.set_device(i)
    return torch.device("cuda", i)
