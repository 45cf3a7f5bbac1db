"""Shared fixtures: a tiny canonical scan, and where the real data lives."""

from __future__ import annotations

from pathlib import Path

import os
import subprocess
import sys

import numpy as np
import pytest

from neuroreg.ingest.scan import Scan

from tiny import tiny_config

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

# The test hooks (tests/hooks/neuroreg_test_hooks.py: fake GPUs, a co-training crash after n steps) in this process,
# and, through PYTHONPATH's sitecustomize.py, in every subprocess a test starts that asks for one.
HOOKS = Path(__file__).resolve().parent / "hooks"
sys.path.insert(0, str(HOOKS))
import neuroreg_test_hooks  # noqa: E402

neuroreg_test_hooks.install()
os.environ["PYTHONPATH"] = os.pathsep.join([str(HOOKS)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                                                           if p and p != str(HOOKS)])


def make_scan(n_once=20, n_oracle=4, repeats=3, n_neurons=5, seed=0) -> Scan:
    """A small valid scan: n_once images shown once, n_oracle shown `repeats` times."""
    rng = np.random.default_rng(seed)
    n_images = n_once + n_oracle
    trial_image = np.concatenate([np.arange(n_once), np.repeat(np.arange(n_once, n_images), repeats)])
    n_trials = len(trial_image)
    tier = np.where(trial_image >= n_once, "test", np.where(trial_image % 5 == 0, "validation", "train"))
    return Scan(
        images=rng.integers(0, 255, (n_images, 6, 8), dtype=np.uint8),
        responses=rng.gamma(2.0, 1.0, (n_trials, n_neurons)).astype(np.float32),
        trial_image=trial_image.astype(np.int64),
        behavior=rng.normal(size=(n_trials, 3)).astype(np.float32),
        pupil_center=rng.normal(size=(n_trials, 2)).astype(np.float32),
        tier=tier,
        neuron_id=np.arange(n_neurons) + 100,
        attrs={"source": "test", "animal": 1, "session": 1, "scan": 1},
    )


def torch_threads(n: int):
    """An autouse, module-scoped fixture that runs a test module's torch on ``n`` threads and restores the count
    after it (tiny convs run fastest, and least disturbed by a busy machine, on few threads). In the module:
    ``one_thread = torch_threads(1)``."""

    @pytest.fixture(autouse=True, scope="module")
    def threads():
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(n)
        yield
        torch.set_num_threads(before)

    return threads


@pytest.fixture
def tiny_scan() -> Scan:
    return make_scan()


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 580) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
           "--cores", "2", *args, "--configfile", str(workdir / "config.yaml")]  # --configfile takes several values: last
    env = dict(os.environ, PYTHONHASHSEED="0", NEUROREG_NO_MEASURE="1")  # the plan without measuring (test_plan measures)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


# The tiny config: same code paths as the default, seconds per stage.
TINY = {
    "encoder.max_epochs": 2,
    "encoder.hidden_channels": 8,
    "cotrain.epochs": 1,
    "cotrain.width": 8,
    "cotrain.seeds": [0],
    "cotrain.alpha_sweep": {"alphas": [0, 4], "seeds": [0]},
    "robustness.noise_levels": [0.0, 0.1],
    "robustness.n_noise": 50,
    "robustness.n_adversarial": 8,
    "robustness.norms": ["L2", "Linf"],
    "robustness.attacks": {"L2": ["ddn", "fmn"], "Linf": ["fmn", "pgd"]},
    "robustness.steps": 30,
    "robustness.convergence": {"n_images": 4, "factor": 2, "tolerance": 0.05},
    "robustness.hyperparameters": {"ddn": {"gamma": [0.05], "init_epsilon": [0.1]}, "fmn": {"max_stepsize": [1.0]}},
    "robustness.pgd": {"rel_stepsize": [0.1], "steps": 5, "search_steps": 3},
    "robustness.processes": 1,
    # CIFAR-10-C: one corruption per family at its mildest and strongest (the 15 x 5 sets are tested in
    # test_corruptions.py; each set is a model evaluation per co-trained run)
    "robustness.corruptions": {"names": ["gaussian_noise", "defocus_blur", "fog", "contrast"], "severities": [1, 5],
                               "n_images": None, "seed": 0, "cifar10c": None, "frost_images": None},
}


@pytest.fixture(scope="session")
def pipeline(tmp_path_factory):
    """Run `rule all` once on the tiny config; every test below reads its outputs."""
    root = tmp_path_factory.mktemp("pipeline")
    cfg = tiny_config(root, cifar100=True, **TINY, **{"cifar100.seeds": [0, 1]})
    proc = snakemake(root)
    (root / "snakemake_output.txt").write_text(proc.stdout + proc.stderr)  # what the terminal showed (test_runs)
    return root, cfg
