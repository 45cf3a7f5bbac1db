"""Shared fixtures: a tiny canonical scan, and where the real data lives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from neuroreg.scan import Scan

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


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


@pytest.fixture
def tiny_scan() -> Scan:
    return make_scan()
