"""Test hooks, kept out of the package: the tests patch what they need.

* ``NEUROREG_FAKE_GPUS=<n>``: :func:`neuroreg.devices.visible_gpu_count` says n GPUs are visible and selecting one
  does not touch CUDA (the CPU build of torch has none), so the GPU-slot logic runs on any machine;
* ``NEUROREG_CRASH_AFTER_STEPS=<n>``: co-training raises after its n-th optimizer step of a ``train`` call (fault
  injection for the resume tests).

Both are read when the patched function runs, so ``monkeypatch.setenv`` works in the test process. The pytest
process installs the hooks from tests/conftest.py; a subprocess (a Snakemake job, a fake or real SLURM job) gets them
from ``sitecustomize.py`` beside this file, which conftest puts on ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib.abc
import os
import sys

FAKE_GPUS_ENV = "NEUROREG_FAKE_GPUS"
CRASH_ENV = "NEUROREG_CRASH_AFTER_STEPS"


def fake_gpus() -> int | None:
    value = os.environ.get(FAKE_GPUS_ENV)
    return int(value) if value else None


def _patch_devices(devices) -> None:
    real_count, real_use = devices.visible_gpu_count, devices.use_gpu

    def visible_gpu_count() -> int:
        n = fake_gpus()
        return real_count() if n is None else n

    def use_gpu(i: int) -> None:
        if fake_gpus() is None:
            real_use(i)

    devices.visible_gpu_count, devices.use_gpu = visible_gpu_count, use_gpu


def _patch_train(train) -> None:
    real_step, real_train = train.train_step, train.train
    count = {"steps": 0}

    def train_step(*args, **kwargs):
        out = real_step(*args, **kwargs)
        count["steps"] += 1
        limit = int(os.environ.get(CRASH_ENV, "0") or 0)
        if limit and count["steps"] >= limit:
            raise RuntimeError(f"{CRASH_ENV}={limit}: simulated crash after optimizer step {count['steps']}")
        return out

    def train_(*args, **kwargs):
        count["steps"] = 0
        return real_train(*args, **kwargs)

    train.train_step, train.train = train_step, train_


PATCHES = {"neuroreg.devices": _patch_devices, "neuroreg.cotrain.train": _patch_train}


class _AfterImport(importlib.abc.MetaPathFinder):
    """Patches a module of PATCHES right after it is first imported."""

    def find_spec(self, name, path, target=None):
        if name not in PATCHES:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(name, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None:
                loader = spec.loader
                real_exec = loader.exec_module

                def exec_module(module, _real=real_exec, _name=name):
                    _real(module)
                    PATCHES[_name](module)
                    module._neuroreg_test_hooks = True

                loader.exec_module = exec_module
                return spec
        return None


def install() -> None:
    """Patch the modules already imported; patch the others when they are."""
    for name, patch in PATCHES.items():
        if name in sys.modules and not getattr(sys.modules[name], "_neuroreg_test_hooks", False):
            patch(sys.modules[name])
            sys.modules[name]._neuroreg_test_hooks = True
    if not any(isinstance(f, _AfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _AfterImport())
