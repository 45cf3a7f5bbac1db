"""Several runs trained at once (neuroreg.cotrain.stacked) follow the paths of the plain loop (train.train)."""

from __future__ import annotations

import math

import pytest
import torch

from neuroreg.cotrain import data, stacked, train

from test_cotrain import one_thread, tiny, tiny_recipe, write_target  # noqa: F401  (fixtures)


# Tiny networks at lr 0.1 on random labels are chaotic: in the plain loop itself a 1e-7 change of the
# initial weights grows to 1e-2 within four steps. So the stacked path is compared with the plain one
# exactly where float noise cannot have grown: the first step (weights), and over two short epochs
# at lr 0.001 (losses and accuracies).
def _compare(plain, stack, *, weights_atol=None, rel=1e-3, acc_abs=0.05):
    for (m1, g1, h1), (m2, g2, h2) in zip(plain, stack):
        assert len(h1) == len(h2)
        for a, b in zip(h1, h2):
            for key in ("cross_entropy", "similarity_loss", "gamma_1", "gamma_17"):
                if math.isnan(a[key]):
                    assert math.isnan(b[key]), key
                else:
                    assert b[key] == pytest.approx(a[key], rel=rel, abs=1e-6), (key, a[key], b[key])
            for key in ("train_accuracy", "test_accuracy"):
                assert b[key] == pytest.approx(a[key], abs=acc_abs), (key, a[key], b[key])
        if weights_atol is not None:
            s1, s2 = m1.state_dict(), m2.state_dict()
            assert s1.keys() == s2.keys()
            for k in s1:
                assert torch.allclose(s1[k].float(), s2[k].float(), rtol=0, atol=weights_atol), k
            assert torch.allclose(g1.logits, g2.logits, rtol=0, atol=weights_atol)


def _runs(tiny, tmp_path, **kw):
    d, _, stimuli = tiny
    write_target(tmp_path / "other.h5", seed=7)
    other = data.load_stimuli(d / "stimuli.h5", tmp_path / "other.h5", "cpu")
    kw = {"channels_last": False, **kw}  # the stacked path runs NCHW: compare like with like
    recipes = [tiny_recipe(seed=0, alpha=4.0, **kw), tiny_recipe(seed=1, alpha=4.0, **kw),
               tiny_recipe(seed=2, alpha=20.0, **kw)]
    return recipes, [stimuli, other, stimuli]


def test_first_step_gives_the_same_weights_as_separate_runs(tiny, tmp_path):
    """Each run keeps its own seed (init, batches, augmentation), alpha and target."""
    recipes, targets = _runs(tiny, tmp_path, epochs=1)
    cifar = data.load_cifar(tiny[0] / "cifar10.h5", "cpu", n_train=16)  # one step of 16
    plain = [train.train(r, cifar, s, device="cpu") for r, s in zip(recipes, targets)]
    stack = stacked.train_stacked(recipes, cifar, targets, device="cpu")
    _compare(plain, stack, weights_atol=1e-5, rel=1e-5, acc_abs=0)
    # the runs really differ from each other (seeds, targets and alphas are not mixed up)
    assert not torch.allclose(stack[0][0].conv1.weight, stack[1][0].conv1.weight)
    assert len({h[-1]["similarity_loss"] for _, _, h in stack}) == 3


def test_two_epochs_give_the_same_losses_as_separate_runs(tiny, tmp_path):
    recipes, targets = _runs(tiny, tmp_path, lr=0.001)
    _, cifar, _ = tiny
    plain = [train.train(r, cifar, s, device="cpu") for r, s in zip(recipes, targets)]
    stack = stacked.train_stacked(recipes, cifar, targets, device="cpu")
    _compare(plain, stack)


def test_stacked_alpha_zero_runs_match_and_make_no_stimulus_pass(tiny):
    _, cifar, _ = tiny
    recipes = stacked.recipes_for(tiny_recipe(epochs=2, lr=0.001), seeds=[3, 4], alphas=[0, 0])
    plain = [train.train(r, cifar, None, device="cpu") for r in recipes]
    stack = stacked.train_stacked(recipes, cifar, [None, None], device="cpu")
    _compare(plain, stack)
    assert torch.allclose(stack[0][1].gamma, torch.full((5,), 0.2))


def test_stacked_refuses_what_it_cannot_stack(tiny):
    _, cifar, stimuli = tiny
    with pytest.raises(ValueError, match="mix of alpha = 0"):
        stacked.train_stacked([tiny_recipe(alpha=0.0), tiny_recipe(alpha=4.0)], cifar, [None, stimuli], device="cpu")
    with pytest.raises(ValueError, match=r"differ in \['width'\]"):
        stacked.train_stacked([tiny_recipe(), tiny_recipe(width=4)], cifar, [stimuli, stimuli], device="cpu")
    with pytest.raises(ValueError, match="center"):
        stacked.train_stacked([tiny_recipe(center="ema")] * 2, cifar, [stimuli, stimuli], device="cpu")
