"""neuroreg.regularize on models the project did not write: a torchvision ResNet18 trained a few steps with each
regularizer form on tiny data (the loss falls, gamma or the readout moves), and the example script end to end.

torchvision is in the ``test`` extra (pyproject.toml, pinned to the release made for torch 2.13.0), so CI runs
these; without it installed they skip, and installed but failing to import they fail.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuroreg.regularize import NeuralRegularizer

from conftest import REPO, torch_threads
from test_cotrain import write_cifar, write_stimuli, write_target

if importlib.util.find_spec("torchvision") is None:
    pytest.skip("torchvision is not installed (pip install -e '.[test]')", allow_module_level=True)

sys.path.insert(0, str(REPO / "examples"))
from torchvision_cpu import import_torchvision  # noqa: E402

torchvision = import_torchvision()
LAYERS = ["relu", "layer1", "layer2", "layer3", "layer4"]  # the paper's 1, 5, 9, 13, 17 in torchvision's names


two_threads = torch_threads(2)


def tiny_problem(seed=0, n=12, n_train=8):
    g = torch.Generator().manual_seed(seed)
    stimuli = torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=g)
    x = torch.randn(n, 12, generator=g, dtype=torch.float64)
    x = x - x.mean(0)
    x = x / x.norm(dim=1, keepdim=True)
    similarity = (x @ x.T).float()
    responses = torch.rand(n, 7, generator=g) * 2
    images = torch.rand(n_train, 3, 16, 16, generator=g)
    labels = torch.randint(0, 10, (n_train,), generator=g)
    return stimuli, similarity, responses, images, labels


def gray3(images):
    return images.float().div(255).expand(-1, 3, -1, -1)


@pytest.mark.parametrize("form", ["arctanh", "cka", "logcka", "readout"])
def test_a_torchvision_resnet_learns_from_each_form(form):
    stimuli, similarity, responses, images, labels = tiny_problem()
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    layers = ["layer2"] if form == "readout" else LAYERS
    target = responses if form == "readout" else similarity
    reg = NeuralRegularizer(model, layers=layers, target=target, stimuli=stimuli, form=form, transform=gray3,
                            alpha=1.0)
    start = {k: v.clone() for k, v in reg.state_dict().items()}
    opt = torch.optim.SGD([{"params": model.parameters(), "weight_decay": 5e-4}, *reg.param_groups(lr=0.02)],
                          lr=0.02, momentum=0.9)
    losses = []
    for step in range(8):
        idx = torch.arange(12) if step % 2 == 0 else torch.arange(11, -1, -1)  # all stimuli, two orders
        opt.zero_grad()
        term = reg(idx)
        (F.cross_entropy(model(images), labels) + term).backward()
        opt.step()
        losses.append(term.item())
    assert all(np.isfinite(losses)) and np.mean(losses[-3:]) < losses[0] - 0.05 * abs(losses[0]), losses
    moved = {k: (v - start[k]).abs().max().item() for k, v in reg.state_dict().items() if v.numel()}
    if form == "readout":
        assert moved["readout.readout.features"] > 0 and moved["readout.readout.mu"] > 0, moved
    else:
        assert moved["mixer.logits"] > 1e-4, moved  # gamma moved
        assert not torch.allclose(reg.gamma, torch.full((5,), 0.2))
    assert all(not m._forward_hooks for m in model.modules())  # nothing left on the model


def test_the_example_runs_on_a_runs_files(tmp_path):
    """examples/regularize_torchvision.py as a user runs it, on a run folder of tiny stage-4 files."""
    run = tmp_path / "results" / "tiny"
    (run / "data").mkdir(parents=True)
    (run / "similarity").mkdir()
    write_cifar(run / "data" / "cifar10.h5", n_train=64, n_test=16)
    write_stimuli(run / "data" / "stimuli.h5")
    write_target(run / "similarity" / "neural_model.h5")
    cmd = [sys.executable, str(REPO / "examples" / "regularize_torchvision.py"), "--run", str(run), "--steps", "3",
           "--batch", "8", "--n-test", "16", "--save", str(tmp_path / "ckpt.pt")]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "32 stimuli of (36, 64), target neural_model, alpha 2" in out and "step    2" in out
    assert "test accuracy" in out and "gamma {'gamma_relu': " in out
    ckpt = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert "mixer.logits" in ckpt["regularizer"] and "fc.weight" in ckpt["model"]
    with h5py.File(run / "similarity" / "neural_model.h5") as f:
        assert f["similarity"].shape == (32, 32)
