"""Run a Foolbox minimal attack on chunks of images in separate processes.

Brendel & Bethge solves its per-step optimization with numba on the CPU, one sample at a
time, so a batch is CPU-bound; the samples are independent (eval-mode model), so the batch
is split into ``processes`` contiguous chunks, one per process (``spawn``: safe with CUDA),
each with ``torch.set_num_threads(1)``. The result equals the single-process run up to the
floating-point effect of the batch size on the model's forward pass (Brendel & Bethge's
``lr`` is made per sample in :func:`attacks.build`). The pool is kept for the life of the
calling process (:func:`pool`), because each worker compiles numba's solver once per norm
(one to two minutes on a slow CPU); :func:`shutdown` ends it (also at exit).
"""

from __future__ import annotations

import atexit
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from .attacks import run_minimal

_POOLS: dict[int, ProcessPoolExecutor] = {}


def pool(processes: int) -> ProcessPoolExecutor:
    """The process pool of ``processes`` spawned workers, created on first use and reused."""
    if processes not in _POOLS:
        _POOLS[processes] = ProcessPoolExecutor(processes, mp_context=mp.get_context("spawn"))
    return _POOLS[processes]


@atexit.register
def shutdown() -> None:
    while _POOLS:
        _POOLS.popitem()[1].shutdown(wait=True, cancel_futures=True)


def _worker(args):
    model, x, y, name, norm, steps, hp, starts, device = args
    torch.set_num_threads(1)
    model = model.to(device)
    def to(t):
        return None if t is None else torch.from_numpy(t).to(device)

    adv = run_minimal(model, to(x), to(y), name, norm, steps, hp, starts=to(starts), device=device)
    return adv.detach().cpu().numpy()


def chunks(n: int, processes: int) -> list[np.ndarray]:
    """Contiguous index chunks, at most ``processes`` of them, none empty."""
    return [c for c in np.array_split(np.arange(n), max(1, min(int(processes), n))) if len(c)]


def run_minimal_parallel(model, x, y, name, norm, steps, hp, starts=None, *, processes=1, device="cpu"):
    """:func:`attacks.run_minimal` over ``processes`` processes (1: in this process).

    x, starts: (N, ...) tensors; y: (N,). Returns the raw adversarials (N, ...) on x's device.
    """
    if processes <= 1 or len(x) < 2:
        return run_minimal(model, x, y, name, norm, steps, hp, starts=starts, device=device)
    def cpu(t):
        return None if t is None else t.detach().cpu().numpy()

    model_cpu = model.to("cpu") if str(device) == "cpu" else _cpu_copy(model)
    parts = chunks(len(x), processes)
    jobs = [(model_cpu, cpu(x)[c], cpu(y)[c], name, norm, steps, hp, None if starts is None else cpu(starts)[c], str(device))
            for c in parts]
    out = list(pool(int(processes)).map(_worker, jobs))
    return torch.from_numpy(np.concatenate(out)).to(x.device)


def _cpu_copy(model):
    import copy

    return copy.deepcopy(model).to("cpu")
