"""The other ways to learn from brains: CKA, multi-task co-training, the low-pass control and their choice.

Hand-made cases for each loss (CKA of a representation with itself is 1, with an orthogonal one 0), the
multi-task readout's gradient reaching the chosen layer only, the blur layer (no trainable parameters,
mean intensity kept), the condition names, the response sets and the blur selection; determinism and
resume as for the paper's conditions.
"""

from __future__ import annotations

import math

import h5py
import numpy as np
import pandas as pd
import neuroreg_test_hooks as hooks
import pytest
import torch

from neuroreg import conditions, grid
from neuroreg.cotrain import data, multitask, train
from neuroreg.similarity import responses as response_sets
from neuroreg import resnet
from neuroreg.cotrain.similarity_loss import LayerMixer, center_gram, cka_loss, feature_kernel, linear_cka
from neuroreg.figures.methods import methods_table, per_model_scores
from neuroreg.files import InputError
from neuroreg.cotrain import blur

from conftest import torch_threads
from test_cotrain import _assert_identical, _weights, tiny, tiny_recipe, write_cifar, write_stimuli  # noqa: F401


one_thread = torch_threads(1)


# ---------------------------------------------------------------- CKA
def test_cka_of_a_representation_with_itself_is_one_whatever_rotation_and_scale():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(12, 7, generator=g, dtype=torch.float64)
    q, _ = torch.linalg.qr(torch.randn(7, 7, generator=g, dtype=torch.float64))
    assert linear_cka(x @ x.T, x @ x.T).item() == pytest.approx(1.0, abs=1e-6)
    y = 3.0 * x @ q + 5.0  # rotated, scaled, shifted (centring removes the shift)
    assert linear_cka(x @ x.T, y @ y.T).item() == pytest.approx(1.0, abs=1e-6)
    assert cka_loss(x @ x.T, y @ y.T, "cka").item() == pytest.approx(0.0, abs=1e-6)


def test_cka_of_orthogonal_representations_is_zero():
    # centred columns of x and y orthogonal: x on the first 2 directions of a centred basis, y on the next 2
    basis = torch.linalg.qr(center_gram(torch.eye(8, dtype=torch.float64)))[0][:, :4]  # 4 orthonormal centred columns
    x, y = basis[:, :2] * torch.tensor([1.0, 2.0]), basis[:, 2:] * torch.tensor([3.0, 0.5])
    assert (x.T @ y).abs().max() < 1e-12
    assert linear_cka(x @ x.T, y @ y.T).item() == pytest.approx(0.0, abs=1e-6)
    assert cka_loss(x @ x.T, y @ y.T, "cka").item() == pytest.approx(1.0, abs=1e-6)
    assert cka_loss(x @ x.T, y @ y.T, "logcka").item() == pytest.approx(0.0, abs=1e-6)


def test_cka_hand_case_and_log_form():
    # x = (0, 1, 2), y = (0, 1, 1): centred (-1, 0, 1) and (-2, 1, 1)/3 -> CKA = <x, y>^2 / (|x|^2 |y|^2) = (1)^2 / (2 * 2/3)
    x = torch.tensor([[0.0], [1.0], [2.0]], dtype=torch.float64)
    y = torch.tensor([[0.0], [1.0], [1.0]], dtype=torch.float64)
    expected = 1.0 / (2.0 * 2.0 / 3.0)
    assert linear_cka(x @ x.T, y @ y.T).item() == pytest.approx(expected, abs=1e-6)
    assert cka_loss(x @ x.T, y @ y.T, "logcka").item() == pytest.approx(math.log(1 - expected), abs=1e-6)
    with pytest.raises(ValueError, match="form"):
        cka_loss(x @ x.T, y @ y.T, "cka2")


def test_mixer_kernel_of_one_layer_is_plain_linear_cka():
    g = torch.Generator().manual_seed(1)
    f = torch.randn(10, 3, 4, 5, generator=g)
    target = torch.randn(10, 6, generator=g, dtype=torch.float64)
    k = LayerMixer([5]).kernel([f])
    flat = f.permute(0, 2, 3, 1).reshape(10, -1).double()
    assert linear_cka(k, target @ target.T).item() == pytest.approx(linear_cka(flat @ flat.T, target @ target.T).item(), abs=1e-5)
    assert torch.linalg.matrix_norm(feature_kernel(f)).item() == pytest.approx(1.0, abs=1e-6)


# ---------------------------------------------------------------- multi-task
def test_mtl_readout_gradient_reaches_the_chosen_layer_only():
    torch.manual_seed(0)
    model = resnet.build(width=4)
    head = multitask.MultitaskReadout(model.layer_channels(9), 6, seed=0)
    x = torch.rand(5, 1, 36, 64)
    rate = head(model.features(x, layers=(9,))[0])
    multitask.mtl_loss(rate, torch.rand(5, 6) * 2).backward()
    # conv 9 ends block 3 (blocks 0-3: convs 2-9): the stem and blocks 0-3 get gradients, nothing above
    for name, p in model.named_parameters():
        above = name.startswith("fc.") or any(name.startswith(f"blocks.{b}.") for b in range(4, 8))
        if above:
            assert p.grad is None, name
        elif "weight" in name and "conv" in name:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in head.parameters())
    assert model.layer_channels(9) == 8 and model.layer_channels(1) == 4 and model.layer_channels(17) == 32


def test_mtl_readout_steps_at_its_per_neuron_learning_rate():
    # the Poisson loss is a mean over the neurons: the readout's group gets lr * readout_lr * n_neurons,
    # and the schedule keeps that ratio (here after the first decay)
    model, head = resnet.build(width=4), multitask.MultitaskReadout(8, 6, seed=0)
    r = train.Recipe(lr=0.1, mtl_readout_lr=0.5, regularizer="mtl")
    opt = train.make_optimizer(model, LayerMixer(r.layers), r, head)
    lrs = [g["lr"] for g in opt.param_groups]
    assert lrs == pytest.approx([0.1, 0.1, 0.1 * 0.5 * 6])
    assert {id(p) for p in opt.param_groups[2]["params"]} == {id(p) for p in head.parameters()}
    lr = train.learning_rate(r.lr_step, r)
    assert lr == pytest.approx(0.1 * r.lr_decay)
    train.set_learning_rate(opt, lr)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([lr, lr, lr * 3.0])


def test_mtl_loss_is_the_encoders_poisson_loss():
    rate, y = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 3.0]])
    expected = ((1.0 - 0.0) + (2.0 - 3.0 * math.log(2.0))) / 2
    assert multitask.mtl_loss(rate, y).item() == pytest.approx(expected, rel=1e-6)


@pytest.fixture(scope="module")
def responses(tiny):
    _, _, stimuli = tiny
    g = torch.Generator().manual_seed(3)
    return data.Stimuli(stimuli.images, torch.rand(len(stimuli.images), 9, generator=g) * 2, stimuli.image_id, {})


def test_mtl_training_is_deterministic_and_resumes_to_identical_weights(tmp_path, tiny, responses, monkeypatch):
    _, cifar, _ = tiny
    r = tiny_recipe(regularizer="mtl", mtl_layer=5, alpha=1.0)
    full, _, full_hist = train.train(r, cifar, responses, device="cpu")
    again, _, _ = train.train(r, cifar, responses, device="cpu")
    _assert_identical(_weights(full), _weights(again))
    assert all(np.isfinite(row["similarity_loss"]) for row in full_hist)
    ckpt = tmp_path / "ckpt.pt"
    steps = math.ceil(len(cifar.train_labels) / r.batch_size)
    monkeypatch.setenv(hooks.CRASH_ENV, str(steps + 1))
    with pytest.raises(RuntimeError, match="simulated crash"):
        train.train(r, cifar, responses, device="cpu", checkpoint_path=ckpt)
    assert "head" in torch.load(ckpt, weights_only=True)
    monkeypatch.delenv(hooks.CRASH_ENV)
    resumed, _, hist = train.train(r, cifar, responses, device="cpu", checkpoint_path=ckpt)
    _assert_identical(_weights(full), _weights(resumed))
    assert [h["similarity_loss"] for h in hist] == [h["similarity_loss"] for h in full_hist]


@pytest.mark.parametrize("kw", [{"loss": "logcka"}, {"loss": "cka", "blur_sigma": 1.0}, {"alpha": 0.0, "blur_sigma": 1.5}])
def test_cka_and_blur_training_is_deterministic_and_resumes(tmp_path, tiny, monkeypatch, kw):
    _, cifar, stimuli = tiny
    r = tiny_recipe(**kw)
    stim = stimuli if r.alpha > 0 else None
    full, _, _ = train.train(r, cifar, stim, device="cpu")
    steps = math.ceil(len(cifar.train_labels) / r.batch_size)
    monkeypatch.setenv(hooks.CRASH_ENV, str(steps + 1))
    with pytest.raises(RuntimeError):
        train.train(r, cifar, stim, device="cpu", checkpoint_path=tmp_path / "c.pt")
    monkeypatch.delenv(hooks.CRASH_ENV)
    resumed, _, _ = train.train(r, cifar, stim, device="cpu", checkpoint_path=tmp_path / "c.pt")
    _assert_identical(_weights(full), _weights(resumed))
    plain, _, _ = train.train(tiny_recipe(**{**kw, "blur_sigma": 0.0, "loss": "arctanh"}), cifar, stim, device="cpu")
    assert not torch.equal(full.conv1.weight, plain.conv1.weight)  # the method changes the training


@pytest.mark.parametrize("kind", ["model", "shuffle", "ground_truth", "data"])
def test_response_sets_by_hand_and_their_loader(tmp_path, kind):
    from neuroreg.similarity.matrix import shuffle_permutation

    from test_similarity import _write_inputs

    inputs, stim = _write_inputs(tmp_path)
    out = tmp_path / "out" / f"{kind}.h5"
    info = response_sets.build_responses(kind, out, inputs, stim, seed=4)
    assert info == {"n_images": 20, "n_neurons": 12}
    expected = []
    for p in inputs.values():
        with h5py.File(p["predictions" if kind in ("model", "shuffle") else "scan"]) as f:
            if kind in ("model", "shuffle"):
                r = f["responses"][:20]
            elif kind == "ground_truth":
                r = f["ground_truth/image_response"][:20]
            else:
                ti, resp = f["trial_image"][()], f["responses"][()]
                r = np.stack([resp[np.flatnonzero(ti == i)[0]] for i in range(20)])
        expected.append(r)
    e = np.concatenate(expected, axis=1).astype(np.float64)
    e /= e.mean(0)
    if kind == "shuffle":
        e = e[shuffle_permutation(20, 4)]
    with h5py.File(out) as f:
        np.testing.assert_allclose(f["responses"][()], e, rtol=1e-5)
        assert f.attrs["responses"] == kind and list(f["neuron_scan"][()].astype(str)) == ["scan0"] * 6 + ["scan1"] * 6
        np.testing.assert_array_equal(f["image_index"][()], np.arange(20))
    loaded = multitask.load_responses(stim, out, "cpu")
    assert loaded.images.shape == (20, 1, 16, 16) and loaded.target.shape == (20, 12)


def test_response_sets_refuse_negative_rates_and_leave_no_output(tmp_path):
    from test_similarity import _write_inputs

    inputs, stim = _write_inputs(tmp_path)
    with h5py.File(inputs["scan1"]["predictions"], "a") as f:
        f["responses"][3, 2] = -0.5
    out = tmp_path / "model.h5"
    with pytest.raises(InputError, match="negative responses") as err:
        response_sets.build_responses("model", out, inputs, stim)
    assert "predictions_1.h5" in str(err.value) and not out.exists()


# ---------------------------------------------------------------- the low-pass control
def test_blur_layer_has_no_trainable_parameters_and_keeps_the_mean_intensity():
    b = resnet.GaussianBlur(1.5)
    assert list(b.parameters()) == [] and b.state_dict() == {}
    plain, blurred = resnet.build(width=4), resnet.build(width=4, blur_sigma=1.5)
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in blurred.parameters())
    assert plain.state_dict().keys() == blurred.state_dict().keys()
    const = torch.full((2, 1, 32, 32), 0.37)
    assert torch.allclose(b(const), const, atol=1e-6)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(8, 1, 32, 32, generator=g)
    y = b(x)
    assert y.shape == x.shape
    # exactly in the interior; the mirrored border moves white noise's mean by < 1 % (measured 0.7 % at most)
    assert ((y.mean((1, 2, 3)) - x.mean((1, 2, 3))).abs() / x.mean((1, 2, 3))).max() < 0.01
    r = b.radius  # an image that is constant near its border keeps its mean exactly
    inner = torch.full((1, 1, 32, 32), 0.5)
    inner[..., 2 * r : 32 - 2 * r, 2 * r : 32 - 2 * r] = torch.rand(1, 1, 32 - 4 * r, 32 - 4 * r, generator=g)
    assert b(inner).mean().item() == pytest.approx(inner.mean().item(), abs=1e-6)
    assert y.var() < 0.2 * x.var()  # white noise loses most of its (high-frequency) power
    assert b.kernel.sum().item() == pytest.approx(1.0, abs=1e-6) and b.radius == 5
    with pytest.raises(ValueError):
        resnet.GaussianBlur(0.0)


def test_blur_model_round_trips_through_metrics(tmp_path, tiny):
    from neuroreg.cotrain import outputs
    from neuroreg.robustness.loading import load_model

    _, cifar, _ = tiny
    r = tiny_recipe(alpha=0.0, epochs=1, blur_sigma=2.0)
    model, mixer, hist = train.train(r, cifar, None, device="cpu")
    m = outputs.save_run(model, mixer, hist, r, model_path=tmp_path / "model.pt", history_path=tmp_path / "h.csv",
                         metrics_path=tmp_path / "m.json", info={})
    assert m["model"]["blur_sigma"] == 2.0
    loaded = load_model(tmp_path / "model.pt", tmp_path / "m.json")
    x = torch.rand(3, 1, 32, 32)
    assert torch.allclose(loaded(x), model.eval()(x), atol=1e-5)
    assert isinstance(loaded.blur, resnet.GaussianBlur) and loaded.blur.sigma == 2.0


def test_blur_selection_picks_the_best_mean_score_on_held_out_images(tmp_path):
    rows = []
    for sigma, accs in ((0.5, [0.6, 0.3]), (1.5, [0.55, 0.45]), (2.5, [0.4, 0.38])):
        for seed, shift in ((0, 0.0), (1, 0.02)):
            for level, a in zip((0.0, 0.1), accs):
                rows.append({"condition": f"blur{sigma:g}", "sigma": sigma, "seed": seed, "level": level,
                             "accuracy": a + shift, "n_images": 100})
    table = blur.selection_table(rows)
    assert table["selected"].tolist() == [False, True, False]
    assert table.loc[1, "score"] == pytest.approx(0.51) and table.loc[1, "clean"] == pytest.approx(0.56)
    assert table.loc[1, "score_sem"] == pytest.approx(0.01)
    table.to_csv(tmp_path / "sel.csv", index=False)
    assert blur.selected_sigma(tmp_path / "sel.csv") == 1.5
    table.assign(selected=True).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(InputError, match="3 rows selected"):
        blur.selected_sigma(tmp_path / "bad.csv")
    with pytest.raises(InputError, match="bad2.csv"):
        (tmp_path / "bad2.csv").write_text("")
        blur.selected_sigma(tmp_path / "bad2.csv")


def test_blur_selection_refuses_images_the_runs_trained_on(tmp_path):
    write_cifar(tmp_path / "c.h5", n_train=100)
    images, labels = blur.held_out_images(tmp_path / "c.h5", 30, 70)
    assert images.shape == (30, 1, 32, 32) and len(labels) == 30
    with pytest.raises(InputError, match="cotrain.n_train <= 70"):
        blur.held_out_images(tmp_path / "c.h5", 30, 71)
    with pytest.raises(InputError, match="n_train = None"):
        blur.held_out_images(tmp_path / "c.h5", 30, None)


# ---------------------------------------------------------------- condition names
def test_condition_names_parse():
    c = conditions.parse
    assert c("none").kind == "none" and c("neural_model").loss == "arctanh"
    assert (c("logcka_neural_model").loss, c("logcka_neural_model").target) == ("logcka", "neural_model")
    assert c("cka_shuffle").target == "shuffle" and c("neural_model_v1_a1_s1").kind == "similarity"
    assert (c("mtl_ground_truth").kind, c("mtl_ground_truth").responses) == ("mtl", "ground_truth")
    b = c("blur1.5")
    assert (b.kind, b.blur, b.base) == ("none", "1.5", "none")
    b = c("blurbest_mtl_model")
    assert (b.kind, b.blur, b.responses, b.base) == ("mtl", "best", "model", "mtl_model")
    assert c("blur2_logcka_neural_model").loss == "logcka"
    b = c("blurbest_none")  # the low-pass control at the chosen sigma (the controls' blur, with its own seeds)
    assert (b.kind, b.blur, b.base, b.family) == ("none", "best", "none", "low-pass")
    assert b.recipe(best_sigma=1.5)["blur_sigma"] == 1.5 and "blur_selection" in b.inputs(0)
    for bad, why in (("mtl_vgg2", "unknown condition"), ("blur0", "must be > 0"), ("blur1.50", "write the sigma"),
                     ("blurbest", "blurbest' alone"), ("blur1_blur2", "one blur"), ("cka_none", "unknown")):
        with pytest.raises(InputError, match=why):
            c(bad)
    assert c("blur2.5").recipe() == {"regularizer": "similarity", "loss": "arctanh", "blur_sigma": 2.5}
    assert c("mtl_data").recipe()["regularizer"] == "mtl"


def _cfg(**cotrain):
    from neuroreg.config import DEFAULT_CONFIG, merge, read_yaml, validate

    return validate(merge(read_yaml(DEFAULT_CONFIG), {"cotrain": cotrain}))


def test_alphas_params_and_checks_of_the_conditions():
    cfg = _cfg(conditions=["none", "neural_model", "mtl_model", "logcka_neural_model", "blur1", "blurbest_neural_model"],
               alpha=2, mtl={"alpha": 0.5}, cka={"alpha": 3}, n_train=1000, seeds=[0])
    runs = grid.main_runs(cfg, grid.conditions(cfg), [0])
    assert [(t, a) for t, a, _ in runs] == [("none", "0"), ("neural_model", "2"), ("mtl_model", "0.5"),
                                            ("logcka_neural_model", "3"), ("blur1", "0"), ("blurbest_neural_model", "2")]
    assert grid.needed_responses(cfg) == ["model"] and grid.blur_sweep(cfg) == ["blur1"]
    base = grid.cotrain_params(cfg["cotrain"], "neural_model")
    assert "mtl" not in base and "cka" not in base
    assert grid.cotrain_params(cfg["cotrain"], "mtl_model")["mtl"] == {"layer": 9, "init_mu_range": 0.3, "init_sigma": 0.1,
                                                                           "readout_lr": 0.1}
    grid.check_conditions(cfg)
    with pytest.raises(InputError, match="cotrain.n_train"):
        grid.check_conditions(_cfg(conditions=["blur1", "blurbest_neural_model"]))
    with pytest.raises(InputError, match="blur.sigma. conditions"):
        grid.check_conditions(_cfg(conditions=["blurbest_neural_model"], n_train=10))
    with pytest.raises(InputError, match="unknown condition"):
        grid.check_conditions(_cfg(conditions=["neural_modell"]))


# ---------------------------------------------------------------- the methods table
def test_methods_table_hand_case():
    noise = pd.DataFrame([{"condition": c, "alpha": 0.0, "seed": s, "level": lv, "accuracy": a}
                          for c, base in (("none", 0.5), ("blur1", 0.45)) for s, d in ((0, 0.0), (1, 0.02))
                          for lv, a in ((0.0, base + d), (0.1, base - 0.2 + 2 * d), (0.2, base - 0.3 + 2 * d))])
    table = methods_table(per_model_scores(noise, None, None))
    none, b = table.set_index("condition").loc["none"], table.set_index("condition").loc["blur1"]
    assert none["clean_mean"] == pytest.approx(0.51) and none["clean_sem"] == pytest.approx(0.01)
    assert none["noise_mean"] == pytest.approx(0.25 + 0.02) and none["noise_max_mean"] == pytest.approx(0.22)
    assert b["d_clean"] == pytest.approx(-0.05) and b["d_clean_sem"] == pytest.approx(math.sqrt(2) * 0.01)
    assert b["family"] == "low-pass" and list(table["condition"]) == ["none", "blur1"]


# ---------------------------------------------------------------- end to end, on the tiny pipeline
@pytest.mark.integration
def test_every_method_trains_and_is_evaluated_by_the_workflow(tmp_path):
    """Every new kind of condition through the real Snakefile on the tiny config: the response sets, the
    blur selection on held-out training images, the trainings, noise, corruptions, attacks, the methods
    table and Fig. 11; and the paper's conditions' params do not change with the methods added."""
    import json

    from conftest import TINY, snakemake
    from tiny import tiny_config

    # one of each kind (mtl_shuffle and logcka_ differ from these only in their response set and loss form, which
    # tests above cover): the suite stays under CI's 10 minutes
    conditions = ["none", "neural_model", "mtl_model", "mtl_ground_truth", "mtl_data", "cka_neural_model", "blur1",
                  "blur2", "blurbest_neural_model"]
    tiny_config(tmp_path, run="methods", **{**TINY, "cotrain.conditions": conditions, "cotrain.n_train": 60,
                                            "data.n_validation": 40, "cotrain.mtl": {"alpha": 1, "layer": 5},
                                            "robustness.adversarial_conditions": ["mtl_model", "blurbest_neural_model"],
                                            "robustness.corruptions": {"names": ["gaussian_noise", "contrast"],
                                                                       "severities": [1, 5], "n_images": 10}})
    snakemake(tmp_path, "results/methods/tables/methods.csv")
    root = tmp_path / "results" / "methods"
    table = pd.read_csv(root / "tables" / "methods.csv")
    assert list(table["condition"]) == ["none", "neural_model", "cka_neural_model", "mtl_model", "mtl_ground_truth",
                                        "mtl_data", "blur1", "blur2", "blurbest_neural_model"]
    assert table[["clean_mean", "noise_mean", "corruption_mean"]].notna().all().all()
    by = table.set_index("condition")
    for cond, alpha in (("mtl_model", 1), ("blurbest_neural_model", 20)):  # the attacked: their median
        adv = pd.read_csv(root / f"robustness/{cond}/alpha{alpha}/seed0/adversarial.csv")  # over correct images
        primary = adv[(adv["bn"] == adv["bn"].iloc[0]) & (adv["norm"] == "L2")]["median_correct"].iloc[0]
        assert by.loc[cond, "L2_mean"] == pytest.approx(primary, nan_ok=True)
    assert by.drop(index=["mtl_model", "blurbest_neural_model"])["L2_mean"].isna().all()
    assert (root / "figures" / "fig11_methods.png").stat().st_size > 10_000
    sel = pd.read_csv(root / "tables" / "blur_selection.csv")
    assert list(sel["sigma"]) == [1.0, 2.0] and sel["selected"].sum() == 1 and (sel["n_images"] == 40).all()
    m = json.loads((root / "cotrain/blurbest_neural_model/alpha20/seed0/metrics.json").read_text())
    assert m["model"]["blur_sigma"] == float(sel.loc[sel["selected"], "sigma"].iloc[0])
    m = json.loads((root / "cotrain/mtl_data/alpha1/seed0/metrics.json").read_text())
    assert m["method"]["kind"] == "mtl" and m["recipe"]["mtl_layer"] == 5 and "head" not in torch.load(
        root / "cotrain/mtl_data/alpha1/seed0/model.pt", weights_only=True)  # the readout is dropped
    with h5py.File(root / "responses" / "ground_truth.h5") as f:
        assert f["responses"].shape == (48, 80)  # 48 once-shown images x 2 scans of 40 neurons
    # adding the methods retrains nothing of the paper's conditions (their params are unchanged)
    import yaml

    cfg = yaml.safe_load((tmp_path / "config.yaml").read_text())
    cfg["cotrain"]["conditions"] = ["none", "neural_model"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))  # the data files keep their mtimes
    dry = snakemake(tmp_path, "-n", "results/methods/cotrain/neural_model/alpha20/seed0/metrics.json")
    assert "Nothing to be done" in dry.stdout + dry.stderr
