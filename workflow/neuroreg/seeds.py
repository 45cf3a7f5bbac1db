"""The seed of every stage, derived from the config's master seed (``seed``) in one place.

Each function returns a plain int in [0, 2**31); the same config gives the same seeds on any
machine and Python version (no ``hash()``). The rules pass these to the jobs as ``params``, and
``benchmarks/gpu_reproduction.py`` uses the same functions, so its outputs match Snakemake's.
"""

from __future__ import annotations

import zlib

import numpy as np


def stimulus_seed(master: int) -> int:
    """Which photos become the stimuli, and which of them oracle images: the master seed itself."""
    return int(master)


def scan_seed(master: int) -> int:
    """The virtual experiment's seed (each scan derives its own from it, its animal and its session)."""
    return int(master)


def encoder_seed(master: int, scan: str) -> int:
    """The encoder of one scan: ``(master * 7919 + crc32(scan)) mod 2**31``."""
    return (int(master) * 7919 + zlib.crc32(scan.encode())) % 2**31


def shuffle_seed(master: int, override: int | None = None) -> int:
    """The image permutation of the ``shuffle`` target: ``similarity.shuffle_seed``, else the master seed."""
    return int(master if override is None else override)


def cotrain_seed(master: int, seed) -> int:
    """torch seed of the co-training run with seed wildcard ``seed``: SeedSequence([master, seed]), mod 2**31."""
    return int(np.random.SeedSequence([int(master), int(seed)]).generate_state(1)[0] % 2**31)


def attack_seed(master: int) -> int:
    """Starting points and PGD restarts of the adversarial evaluation: the master seed itself."""
    return int(master)
