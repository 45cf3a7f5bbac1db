"""neuroreg.regularize, the public API: the pipeline's trainer through it is bit-identical to the code before it,
features by forward hooks equal the ResNet's own, the wrapper's loss, state, groups and errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from neuroreg import regularize
from neuroreg.cotrain import data, multitask, train
from neuroreg import resnet
from neuroreg.cotrain.data import target_block, to_float
from neuroreg.cotrain.similarity_loss import LayerMixer, cka_loss, similarity_loss
from neuroreg.files import InputError
from neuroreg.regularize import NeuralRegularizer

from conftest import torch_threads
from test_cotrain import _assert_identical, _weights, tiny, tiny_recipe  # noqa: F401
from test_methods import responses  # noqa: F401


one_thread = torch_threads(1)


# ---------------------------------------------------------------- the trainer, before and after the API
def pre_api_train_step(model, mixer, opt, cifar, idx, stimuli, stim_idx, r, g, amp, head=None):
    """train.train_step as it was before the API (commit 6c9f5f5): the features from ``model.features``, the losses
    called directly. The reference the trainer through the API must match bit for bit."""
    device = cifar.train_images.device
    x = train._layout(data.augment(cifar.train_images[idx], g, mode=r.augment), r)
    y = cifar.train_labels[idx]
    with torch.autocast(device.type, torch.bfloat16, enabled=amp):
        logits = model(x)
    ce = F.cross_entropy(logits.float(), y)
    loss, sim = ce, None
    if stim_idx is not None:
        xs = train._layout(to_float(stimuli.images[stim_idx]), r)
        layers = (r.mtl_layer,) if r.regularizer == "mtl" else None
        with torch.autocast(device.type, torch.bfloat16, enabled=amp), train.stimulus_bn_statistics(model, r):
            feats = model.features(xs, layers=layers)
        if r.regularizer == "mtl":
            sim = multitask.mtl_loss(head(feats[0]), stimuli.target[stim_idx])
        elif r.loss in ("cka", "logcka"):
            sim = cka_loss(mixer.kernel(feats), target_block(stimuli.target, stim_idx), r.loss)
        else:
            sim = similarity_loss(mixer(feats), target_block(stimuli.target, stim_idx), r.clamp_eps)
        loss = loss + r.alpha * r.stimulus_every * sim
        sim = sim.detach()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return ce.detach(), sim, logits.detach()


@pytest.mark.parametrize("kw", [{}, {"stimulus_every": 2}, {"center": "ema"}, {"bn_running_stats": "cifar"},
                                {"loss": "cka"}, {"loss": "logcka"}, {"regularizer": "mtl", "mtl_layer": 5, "alpha": 1.0},
                                {"precision": "bf16", "channels_last": True}])
def test_the_trainer_through_the_api_is_bit_identical_to_the_code_before_it(tiny, responses, monkeypatch, kw):  # noqa: F811
    _, cifar, stimuli = tiny
    r = tiny_recipe(epochs=1, **kw)
    stim = responses if r.regularizer == "mtl" else stimuli
    model, mixer, hist = train.train(r, cifar, stim, device="cpu")
    monkeypatch.setattr(train, "train_step", pre_api_train_step)
    ref_model, ref_mixer, ref_hist = train.train(r, cifar, stim, device="cpu")
    _assert_identical(_weights(model), _weights(ref_model))
    _assert_identical(mixer.state_dict(), ref_mixer.state_dict())
    drop = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # noqa: E731
    assert drop(hist) == drop(ref_hist) and not math.isnan(hist[0]["similarity_loss"])


# ---------------------------------------------------------------- features by hooks
def test_hooked_features_are_the_resnets_own_and_stop_after_the_deepest_layer():
    torch.manual_seed(0)
    model = resnet.build(width=8).train()
    x = torch.rand(4, 1, 36, 64)
    names = [model.layer_name(k) for k in model.layers]
    assert names == ["relu1", "blocks.1", "blocks.3", "blocks.5", "blocks.7"]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hooked = regularize.layer_features(model, x, names)
    model.load_state_dict(before)
    own = model.features(x)
    assert all(torch.equal(a, b) for a, b in zip(hooked, own))
    assert not model.blocks[0].conv1._forward_hooks  # the hooks are gone after the call
    # conv 5 only: BatchNorm above block 1 (and the classifier) never ran, so its running estimates did not move
    model.load_state_dict(before)
    regularize.layer_features(model, x, ["blocks.1"])
    after = model.state_dict()
    assert not torch.equal(after["blocks.1.bn2.running_mean"], before["blocks.1.bn2.running_mean"])
    assert torch.equal(after["blocks.2.bn1.running_mean"], before["blocks.2.bn1.running_mean"])
    regularize.layer_features(model, x, ["blocks.1"], stop_early=False)  # the whole model runs
    assert not torch.equal(model.state_dict()["blocks.2.bn1.running_mean"], before["blocks.2.bn1.running_mean"])


def test_a_layer_that_does_not_exist_runs_twice_or_never_is_an_error():
    model = resnet.build(width=4)
    with pytest.raises(ValueError, match=r"'block.1' is not a module of this ResNet; did you mean 'blocks.1'"):
        regularize.layer_features(model, torch.rand(2, 1, 8, 8), ["relu1", "block.1"])
    relu = torch.nn.ReLU()
    twice = torch.nn.Sequential()
    twice.forward = lambda x: relu(relu(x) - 1)
    twice.act = relu
    with pytest.raises(RuntimeError, match="'act' ran twice"):
        regularize.layer_features(twice, torch.rand(2, 3), ["act"], stop_early=False)

    class Never(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.unused = torch.nn.Linear(3, 3), torch.nn.ReLU()  # unused: forward does not call it

        def forward(self, x):
            return self.lin(x)

    with pytest.raises(RuntimeError, match="'unused' did not run"):
        regularize.layer_features(Never(), torch.rand(2, 3), ["lin", "unused"])


# ---------------------------------------------------------------- the wrapper
def _reg(model, stimuli, **kw):
    layers = {k: model.layer_name(k) for k in model.layers}
    return NeuralRegularizer(model, layers=layers, target=stimuli.target, stimuli=stimuli.images, **kw)


@pytest.mark.parametrize("form", ["arctanh", "cka", "logcka"])
def test_the_wrappers_loss_is_the_papers_equations_on_the_batch(tiny, form):  # noqa: F811
    _, _, stimuli = tiny
    torch.manual_seed(0)
    model = resnet.build(width=8).eval()  # eval: BatchNorm fixed, so both computations see the same network
    reg = _reg(model, stimuli, form=form, alpha=3.0)
    idx = torch.tensor([3, 0, 7, 12, 5, 30])
    feats = model.features(to_float(stimuli.images[idx]))
    block = stimuli.target[idx][:, idx]
    mixer = LayerMixer(model.layers)
    expected = (similarity_loss(mixer(feats), block) if form == "arctanh" else cka_loss(mixer.kernel(feats), block, form))
    assert torch.equal(reg.loss(idx), expected)
    assert torch.equal(reg(idx), 3.0 * expected)
    assert reg.gamma_dict() == {f"gamma_{k}": pytest.approx(0.2) for k in model.layers}
    reg(idx).backward()
    assert reg.mixer.logits.grad.abs().sum() > 0 and model.conv1.weight.grad.abs().sum() > 0


def test_the_readout_form_predicts_the_responses_of_one_layer(tiny, responses):  # noqa: F811
    torch.manual_seed(0)
    model = resnet.build(width=8)
    reg = NeuralRegularizer(model, layers=["blocks.1"], target=responses.target, stimuli=responses.images,
                            form="readout", seed=3)
    assert reg.alpha == 1.0 and reg.readout.n_neurons == 9 and reg.gamma is None
    ref = multitask.MultitaskReadout(model.layer_channels(5), 9, seed=3)
    _assert_identical(reg.readout.state_dict(), ref.state_dict())  # the pipeline's readout, the same init
    groups = reg.param_groups(lr=0.1)
    assert len(groups) == 1 and groups[0]["weight_decay"] == 0.0 and groups[0]["lr"] == pytest.approx(0.1 * 0.1 * 9)
    loss = reg.loss(torch.arange(8))
    assert loss.ndim == 0 and torch.isfinite(loss)
    with pytest.raises(ValueError, match="reads one layer"):
        NeuralRegularizer(model, layers=["relu1", "blocks.1"], target=responses.target, stimuli=responses.images,
                          form="readout")


def test_every_k_weighs_k_times_and_raises_the_batchnorm_momentum_for_the_pass(tiny):  # noqa: F811
    _, _, stimuli = tiny
    torch.manual_seed(0)
    model = resnet.build(width=8).eval()
    reg = _reg(model, stimuli, every=4, alpha=2.0)
    idx = torch.arange(6)
    assert torch.equal(reg(idx), 8.0 * reg.loss(idx))
    seen = []
    model.bn1.register_forward_pre_hook(lambda m, x: seen.append(m.momentum))
    reg.loss(idx)
    assert seen == [pytest.approx(regularize.stimulus_bn_momentum(0.1, 4))] and model.bn1.momentum == 0.1
    frozen = _reg(model.train(), stimuli, update_bn_statistics=False)
    before = model.bn1.running_mean.clone()
    frozen.loss(idx)
    assert torch.equal(model.bn1.running_mean, before)


def test_state_dict_round_trips_gamma_and_the_running_means(tiny):  # noqa: F811
    _, _, stimuli = tiny
    torch.manual_seed(0)
    model = resnet.build(width=8)
    reg = _reg(model, stimuli, center="ema")
    opt = torch.optim.SGD(reg.param_groups(), lr=0.5)
    for step in range(3):
        opt.zero_grad()
        reg(torch.arange(step, step + 8)).backward()
        opt.step()
    state = reg.state_dict()
    assert set(state) == {"mixer.logits"} | {f"mixer.mean_{k}" for k in model.layers}  # no stimuli, no model
    fresh = _reg(model, stimuli, center="ema")
    fresh.load_state_dict(state)
    _assert_identical(fresh.state_dict(), state)
    assert not torch.allclose(fresh.gamma, torch.full((5,), 0.2))


def test_targets_from_stage_4_files_and_their_errors(tiny, tmp_path):  # noqa: F811
    d, _, stimuli = tiny
    model = resnet.build(width=4)
    reg = NeuralRegularizer(model, layers=["relu1", "blocks.7"], target=d / "target.h5", stimuli=d / "stimuli.h5")
    assert reg.n_stimuli == 32 and torch.equal(reg.target, stimuli.target) and torch.equal(reg.images, stimuli.images)
    assert list(reg.gamma_dict()) == ["gamma_relu1", "gamma_blocks.7"] and reg.alpha == 20.0  # the paper's alpha
    with pytest.raises(ValueError, match="a 32 x 32 similarity matrix for 30 stimuli: its size must match"):
        NeuralRegularizer(model, layers=["relu1"], target=stimuli.target, stimuli=stimuli.images[:30])
    with pytest.raises(ValueError, match="outside"):
        NeuralRegularizer(model, layers=["relu1"], target=2 * stimuli.target, stimuli=stimuli.images)
    with pytest.raises(ValueError, match="'layer9' is not a module"):
        NeuralRegularizer(model, layers=["layer9"], target=stimuli.target, stimuli=stimuli.images)
    with pytest.raises(InputError, match="stimuli.h5: similarity"):  # a file that is not a target names itself
        NeuralRegularizer(model, layers=["relu1"], target=d / "stimuli.h5", stimuli=d / "stimuli.h5")
    with pytest.raises(TypeError, match="stimulus bank"):
        NeuralRegularizer(model, layers=["relu1"], target=d / "target.h5", stimuli=stimuli.images)
    with pytest.raises(IndexError, match="outside the 32 stimuli"):
        reg.loss(torch.tensor([0, 32]))
