"""Stage 5 (co-training): Eq. 8-10 on hand cases, the recipe, outputs, determinism, resume, GPU slots."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pandas as pd
import neuroreg_test_hooks as hooks
import pytest
import torch

from neuroreg import devices as device
from neuroreg.cotrain import data, outputs, train
from neuroreg import measures, resnet
from neuroreg.cotrain.similarity_loss import LayerMixer, centered_cosine_similarity, similarity_loss
from neuroreg.measures import flat_features
from neuroreg.files import InputError

from conftest import REPO, torch_threads

LAYERS = (1, 5, 9, 13, 17)


# ---------------------------------------------------------------- tiny inputs (brief's contracts)
def write_cifar(path, n_train=64, n_test=32, seed=0):
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as h5:
        for split, n in (("train", n_train), ("test", n_test)):
            h5[f"{split}/images"] = rng.integers(0, 256, (n, 32, 32), dtype=np.uint8)
            h5[f"{split}/labels"] = rng.integers(0, 10, n).astype(np.int64)
        h5.attrs["n_classes"] = 10
        h5.attrs["classes"] = [f"c{i}" for i in range(10)]


def write_stimuli(path, n=40, n_oracle=4, seed=1):
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as h5:
        h5["images"] = rng.integers(0, 256, (n + n_oracle, 36, 64), dtype=np.uint8)
        h5["image_id"] = np.arange(n + n_oracle, dtype=np.int64) * 3
        h5["is_oracle"] = np.arange(n + n_oracle) >= n


def write_target(path, n=32, seed=2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 20))
    x -= x.mean(0)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    s = (x @ x.T).astype(np.float32)
    np.fill_diagonal(s, 1.0)
    index = np.arange(n, dtype=np.int64)
    with h5py.File(path, "w") as h5:
        h5.create_dataset("similarity", data=s, chunks=(8, n))
        h5["image_id"] = index * 3
        h5["image_index"] = index
        h5.attrs["target"] = "neural_model"
        h5.attrs["scans"] = ["v1_a1_s1"]


one_thread = torch_threads(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("cotrain_inputs")
    write_cifar(d / "cifar10.h5")
    write_stimuli(d / "stimuli.h5")
    write_target(d / "target.h5")
    cifar = data.load_cifar(d / "cifar10.h5", "cpu")
    stimuli = data.load_stimuli(d / "stimuli.h5", d / "target.h5", "cpu")
    return d, cifar, stimuli


def tiny_recipe(**kw):
    return train.Recipe(**{"width": 8, "epochs": 2, "batch_size": 16, "alpha": 4.0, "eval_batch_size": 32, "precision": "fp32", **kw})


# ---------------------------------------------------------------- Eq. 8-10
def test_centered_cosine_similarity_hand_case():
    f = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]).view(3, 1, 2)  # trailing dims are flattened
    # batch mean (2/3, 2/3): centered rows (1,-2)/3, (-2,1)/3, (1,1)/3
    s = centered_cosine_similarity(f)
    expected = torch.tensor(
        [[1.0, -0.8, -1 / math.sqrt(10)], [-0.8, 1.0, -1 / math.sqrt(10)], [-1 / math.sqrt(10), -1 / math.sqrt(10), 1.0]]
    )
    assert s.dtype == torch.float32 and torch.allclose(s, expected, atol=1e-6)
    # an explicit f-bar (e.g. a running mean) replaces the batch mean
    s0 = centered_cosine_similarity(f, mean=torch.zeros(2))
    assert torch.allclose(s0[0, 1], torch.tensor(0.0)) and torch.allclose(s0[0, 2], torch.tensor(1 / math.sqrt(2)))


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_centered_cosine_similarity_from_the_gram_matrix_matches_float64(layout, dtype):
    """The Gram-space centring (no (B, D) temporaries) against the direct Eq. 9 in float64, values and
    gradients, on post-ReLU features with a large mean (the worst case for the cancellation)."""
    g = torch.Generator().manual_seed(0)
    x = torch.relu(torch.randn(32, 16, 12, 20, generator=g) + 1.5).to(dtype).contiguous(memory_format=layout)
    x.requires_grad_()
    w = torch.randn(32, 32, generator=g)
    s = centered_cosine_similarity(x)
    (s * w).sum().backward()
    x64 = x.detach().double().requires_grad_()
    c = x64.flatten(1) - x64.flatten(1).mean(0)
    c = c / c.norm(dim=1, keepdim=True)
    s64 = c @ c.T
    (s64 * w.double()).sum().backward()
    assert (s.double() - s64).abs().max() < 1e-5
    rel = (x.grad.double() - x64.grad).norm() / x64.grad.norm()
    assert rel < (1e-4 if dtype == torch.float32 else 1e-2)  # bf16: the gradient is rounded to bf16
    # an explicit f-bar (the ema mode's running mean) in flat_features order gives the same matrix
    s_ema = centered_cosine_similarity(x.detach(), mean=flat_features(x.detach()).mean(0))
    assert (s_ema.double() - s64.detach()).abs().max() < 1e-5


def test_similarity_loss_hand_case_and_clamp():
    s_cnn = torch.tensor([[1.0, 0.5, 0.0], [0.5, 1.0, -0.5], [0.0, -0.5, 1.0]])
    s_target = torch.eye(3)  # diagonal is ignored (pairs i < j only)
    expected = 2 / 3 * math.atanh(0.5) ** 2
    assert similarity_loss(s_cnn, s_target).item() == pytest.approx(expected, rel=1e-6)
    # identical images (S = 1) stay finite: clamped to 1 - eps
    ones = torch.ones(3, 3, requires_grad=True)
    loss = similarity_loss(ones, torch.zeros(3, 3), eps=1e-3)
    assert loss.item() == pytest.approx(math.atanh(1 - 1e-3) ** 2, rel=1e-5)
    loss.backward()
    assert torch.isfinite(ones.grad).all()


def test_gamma_starts_equal_sums_to_one_and_learns():
    mixer = LayerMixer(LAYERS)
    assert torch.allclose(mixer.gamma, torch.full((5,), 0.2))
    assert mixer.gamma.sum().item() == pytest.approx(1.0)
    assert list(mixer.gamma_dict()) == [f"gamma_{k}" for k in LAYERS]
    feats = [torch.randn(6, 3, 4, 4) for _ in LAYERS]
    loss = similarity_loss(mixer(feats), torch.eye(6))
    loss.backward()
    assert mixer.logits.grad is not None and mixer.logits.grad.abs().sum() > 0


def test_ema_centering_keeps_a_running_mean():
    mixer = LayerMixer((1,), center="ema")
    f = torch.randn(4, 2, 3, 3)
    mixer([f])
    assert torch.allclose(mixer.mean_1, flat_features(f).mean(0))
    mixer([f + 1])
    assert torch.allclose(mixer.mean_1, flat_features(f).mean(0) + 0.1, atol=1e-6)
    other = LayerMixer((1,), center="ema")
    other.load_state_dict(mixer.state_dict())
    assert torch.equal(other.mean_1, mixer.mean_1)


# ---------------------------------------------------------------- recipe and model
def test_learning_rate_matches_the_paper_at_every_epoch():
    r = train.Recipe()
    for epoch in range(40):
        k = (epoch % 20) // 4  # x0.3 every 4 epochs, back to 0.1 after epoch 20
        assert train.learning_rate(epoch, r) == pytest.approx(0.1 * 0.3**k)
    assert train.learning_rate(19, r) == pytest.approx(0.1 * 0.3**4)
    assert train.learning_rate(20, r) == 0.1


def test_feature_layers_count_and_shapes():
    model = resnet.build(width=8)
    x = torch.rand(2, 1, 32, 32)
    feats = model.features(x)
    assert [tuple(f.shape) for f in feats] == [(2, 8, 32, 32), (2, 8, 32, 32), (2, 16, 16, 16), (2, 32, 8, 8), (2, 64, 4, 4)]
    stim = model.features(torch.rand(2, 1, 36, 64))  # stimuli at native size
    assert [tuple(f.shape[2:]) for f in stim] == [(36, 64), (36, 64), (18, 32), (9, 16), (5, 8)]
    assert model.n_convs == 17 and model(x).shape == (2, 10)
    assert resnet.build(arch="resnet34", width=8, layers=(1, 7, 15, 27, 33)).n_convs == 33
    with pytest.raises(ValueError, match="conv 4"):
        resnet.build(width=8, layers=(1, 4))


def test_model_normalizes_inside():
    model = resnet.build(width=8).eval()
    model.set_normalization(0.25, 0.5)
    assert {"normalize.mean", "normalize.std"} <= set(model.state_dict())
    x = torch.rand(3, 1, 32, 32)  # pixel space [0, 1]
    with torch.no_grad():
        manual = torch.relu(model.bn1(model.conv1((x - 0.25) / 0.5)))
        assert torch.allclose(model.features(x, layers=(1,))[0], manual, atol=1e-6)


def test_augment_crops_and_flips_deterministically():
    imgs = torch.randint(0, 256, (50, 1, 32, 32), dtype=torch.uint8)
    a = data.augment(imgs, torch.Generator().manual_seed(0))
    b = data.augment(imgs, torch.Generator().manual_seed(0))
    assert a.shape == (50, 1, 32, 32) and a.dtype == torch.float32 and torch.equal(a, b)
    assert 0.0 <= a.min() and a.max() <= 1.0
    # without padding it is the identity or a horizontal flip
    c = data.augment(imgs, torch.Generator().manual_seed(1), pad=0)
    x = imgs.float() / 255
    same = (c == x).flatten(1).all(1)
    flipped = (c == x.flip(-1)).flatten(1).all(1)
    assert (same | flipped).all() and same.any() and flipped.any()


def test_bad_target_names_file_and_key(tmp_path, tiny):
    d = tiny[0]
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as h5:
        h5["similarity"] = np.eye(3, dtype=np.float32)
        h5["image_index"] = np.arange(4)
        h5["image_id"] = np.arange(4) * 3
    with pytest.raises(InputError, match="bad.h5: similarity: shape"):
        data.load_stimuli(d / "stimuli.h5", bad, "cpu")
    with h5py.File(bad, "w") as h5:
        h5["similarity"] = np.full((2, 2), np.nan, dtype=np.float32)
        h5["image_index"] = np.arange(2)
        h5["image_id"] = np.arange(2) * 3
    with pytest.raises(InputError, match="similarity: .*non-finite"):
        data.load_stimuli(d / "stimuli.h5", bad, "cpu")


# ---------------------------------------------------------------- training
def test_tiny_training_writes_outputs(tmp_path, tiny):
    _, cifar, stimuli = tiny
    r = tiny_recipe()
    model, mixer, history = train.train(r, cifar, stimuli, device="cpu", checkpoint_path=tmp_path / "ckpt.pt")
    assert (tmp_path / "ckpt.pt").exists()
    paths = {"model_path": tmp_path / "model.pt", "history_path": tmp_path / "history.csv", "metrics_path": tmp_path / "m.json"}
    m = outputs.save_run(model, mixer, history, r, **paths, info={"condition": "t", "alpha": 4.0, "seed": 0})
    h = pd.read_csv(paths["history_path"])
    assert list(h.columns) == ["epoch", "lr", "cross_entropy", "similarity_loss", "train_accuracy", "test_accuracy"] + [
        f"gamma_{k}" for k in LAYERS
    ] + ["seconds"]
    assert len(h) == 2 and np.isfinite(h.drop(columns=[]).to_numpy()).all()
    assert np.allclose(h[[f"gamma_{k}" for k in LAYERS]].sum(axis=1), 1.0)
    loaded = resnet.build(**m["model"])
    loaded.load_state_dict(torch.load(paths["model_path"], weights_only=True))
    assert json.load(open(paths["metrics_path"]))["final"]["test_accuracy"] == h["test_accuracy"].iloc[-1]


def test_alpha_zero_needs_no_stimuli_and_keeps_gamma(tiny):
    _, cifar, _ = tiny
    _, mixer, history = train.train(tiny_recipe(alpha=0.0, epochs=1), cifar, None, device="cpu")
    assert math.isnan(history[0]["similarity_loss"])
    assert torch.allclose(mixer.gamma, torch.full((5,), 0.2))


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_identical(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_same_seed_gives_bit_identical_weights(tiny):
    _, cifar, stimuli = tiny
    r = tiny_recipe(epochs=1)
    m1, g1, _ = train.train(r, cifar, stimuli, device="cpu")
    m2, g2, _ = train.train(r, cifar, stimuli, device="cpu")
    _assert_identical(_weights(m1), _weights(m2))
    assert torch.equal(g1.logits, g2.logits)
    m3, _, _ = train.train(tiny_recipe(epochs=1, seed=1), cifar, stimuli, device="cpu")
    assert not torch.equal(m1.conv1.weight, m3.conv1.weight)


def test_killed_mid_epoch_resumes_to_identical_weights(tmp_path, tiny, monkeypatch):
    _, cifar, stimuli = tiny
    r = tiny_recipe(center="ema")  # the running means must survive a resume too
    full, full_mixer, full_hist = train.train(r, cifar, stimuli, device="cpu")
    ckpt = tmp_path / "ckpt.pt"
    steps = math.ceil(len(cifar.train_labels) / r.batch_size)
    monkeypatch.setenv(hooks.CRASH_ENV, str(steps + 2))  # dies in epoch 2, after its 2nd step
    with pytest.raises(RuntimeError, match="simulated crash"):
        train.train(r, cifar, stimuli, device="cpu", checkpoint_path=ckpt)
    assert torch.load(ckpt, weights_only=True)["epoch"] == 1
    monkeypatch.delenv(hooks.CRASH_ENV)
    resumed, resumed_mixer, hist = train.train(r, cifar, stimuli, device="cpu", checkpoint_path=ckpt)
    _assert_identical(_weights(full), _weights(resumed))
    _assert_identical(full_mixer.state_dict(), resumed_mixer.state_dict())
    drop = lambda rows: [{k: v for k, v in row.items() if k != "seconds"} for row in rows]  # noqa: E731
    assert drop(hist) == drop(full_hist)


def test_gamma_table_averages_seeds_per_alpha():
    g = lambda v: {f"gamma_{k}": x for k, x in zip(LAYERS, v)}  # noqa: E731
    metrics = [
        {"alpha": 0.0, "seed": 0, "gamma": g([0.2] * 5)},
        {"alpha": 16.0, "seed": 0, "gamma": g([0, 1, 0, 0, 0])},
        {"alpha": 16.0, "seed": 1, "gamma": g([0, 1, 0, 0, 0])},
        {"alpha": 16.0, "seed": 2, "gamma": g([0, 0, 1, 0, 0])},
    ]
    t = outputs.gamma_table(metrics)
    assert list(t["alpha"]) == [0.0, 16.0] and list(t["n_seeds"]) == [1, 3]
    assert t.iloc[1]["gamma_5"] == pytest.approx(2 / 3) and t.iloc[1]["gamma_9"] == pytest.approx(1 / 3)


# ---------------------------------------------------------------- devices
def test_concurrent_jobs_get_different_gpus(tmp_path):
    go = tmp_path / "go"
    code = textwrap.dedent(
        f"""
        import os, time
        from neuroreg import devices as device
        d = device.select_device("auto", lock_dir={str(tmp_path / "locks")!r})
        print(d, flush=True)
        for _ in range(600):  # hold the GPU until both jobs have one
            if os.path.exists({str(go)!r}):
                break
            time.sleep(0.1)
        """
    )
    env = {**os.environ, "NEUROREG_FAKE_GPUS": "2"}
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    got = sorted(p.stdout.readline().strip() for p in procs)
    go.touch()
    for p in procs:
        p.communicate(timeout=60)
    assert all(p.returncode == 0 for p in procs)
    assert got == ["cuda:0", "cuda:1"]
    # the claims died with their processes: both GPUs are free again
    assert device.gpu_slot(2, tmp_path / "locks") == 0
    assert device.gpu_slot(2, tmp_path / "locks") == 1
    with pytest.raises(TimeoutError):
        device.gpu_slot(2, tmp_path / "locks", poll_s=0.05, timeout_s=0.1)
    device.release()
    assert device.gpu_slot(2, tmp_path / "locks") == 0
    device.release()


def test_cpu_fallback_is_logged_and_cuda_asked_for_is_an_error(monkeypatch, tmp_path, caplog):
    """'auto' without a GPU: one INFO line in the job's log (the run's plan warned once); 'cuda': an error naming the
    config key, as for every stage."""
    monkeypatch.delenv("NEUROREG_FAKE_GPUS", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level("INFO", logger="neuroreg.devices"):
        assert device.select_device("auto", tmp_path) == torch.device("cpu")
    assert "no GPU visible" in caplog.text
    with pytest.raises(InputError, match="cotrain.device: cuda asked for, but .* sees no GPU"):
        device.select_device("cuda", tmp_path, key="cotrain.device")
    assert device.select_device("cpu", tmp_path) == torch.device("cpu")


def test_every_stage_treats_cuda_and_unknown_keys_alike(monkeypatch):
    """device cuda without a GPU: an error naming the stage's key, encoder and co-training alike; an unknown key of
    the cotrain section: an error naming it, as for the encoder; the section's own non-recipe keys pass."""
    from neuroreg.encoder.train import EncoderConfig, resolve_device

    monkeypatch.delenv("NEUROREG_FAKE_GPUS", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(InputError, match="encoder.device: cuda asked for"):
        resolve_device("cuda")
    with pytest.raises(InputError, match=r"cotrain: unknown keys \['epochz'\]"):
        train.Recipe.from_config({"epochs": 2, "epochz": 3})
    with pytest.raises(InputError, match=r"encoder: unknown keys \['epochz'\]"):
        EncoderConfig.from_dict({"epochz": 3})
    assert train.Recipe.from_config({"epochs": 2, "conditions": ["none"], "threads": 1}, seed=0).epochs == 2


def test_several_jobs_per_gpu_fill_every_gpu_first(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    got = [device.gpu_slot(2, locks, jobs_per_gpu=2) for _ in range(4)]
    assert got == [0, 1, 0, 1]  # each GPU's first slot before any GPU's second
    with pytest.raises(TimeoutError, match="2 GPUs x 2 slots"):
        device.gpu_slot(2, locks, jobs_per_gpu=2, poll_s=0.05, timeout_s=0.1)
    device.release()
    monkeypatch.setenv("NEUROREG_FAKE_GPUS", "2")
    monkeypatch.setenv("NEUROREG_JOBS_PER_GPU", "2")
    assert [device.select_device("auto", locks) for _ in range(4)] == [torch.device("cuda", i) for i in (0, 1, 0, 1)]
    device.release()
    assert device.local_resources()["gpu"] == 4 and device.local_resources()["mem_mb"] > 0
    monkeypatch.setenv("NEUROREG_JOBS_PER_GPU", "0")
    with pytest.raises(ValueError, match="NEUROREG_JOBS_PER_GPU"):
        device.select_device("auto", locks)


def test_file_system_without_locks_warns_and_uses_the_gpu(tmp_path, monkeypatch):
    import errno
    import fcntl

    def no_locks(f, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.warns(RuntimeWarning, match="no file locks"):
        assert device.gpu_slot(2, tmp_path / "locks", poll_s=0.05, timeout_s=0.1) == 0


# ---------------------------------------------------------------- the rule, on a tiny config
@pytest.mark.integration
@pytest.mark.slow
def test_rule_trains_every_condition_and_the_gamma_table(tmp_path):
    """workflow/rules/cotrain.smk + scripts on pre-made inputs (other stages not run): every condition, CPU."""
    rules = (REPO / "workflow" / "rules").resolve()
    (tmp_path / "Snakefile").write_text(  # the real Snakefile's config layering, common.smk and cotrain.smk only
        f'import neuroreg.config\nconfigfile: "config.yaml"\n'
        f'config.update(neuroreg.config.validate(neuroreg.config.merge('
        f'neuroreg.config.read_yaml("{REPO / "config.yaml"}"), config)))\n\n\n'
        f'include: "{rules / "common.smk"}"\ninclude: "{rules / "cotrain.smk"}"\n\n\n'
        "rule all:\n    input:\n        FINAL_OUTPUTS,\n"
    )
    (tmp_path / "config.yaml").write_text(
        textwrap.dedent(
            """
            seed: 3
            data: {vgg19_weights: null}
            similarity: {alpha_sweep_scan: v1_a1_s1}
            cotrain:
              device: cpu
              arch: resnet18
              width: 4
              epochs: 1
              batch_size: 32
              lr: 0.1
              layers: [1, 5, 9, 13, 17]
              alpha: 20
              eval_batch_size: 32
              seeds: [0]
              conditions: [none, neural_model, neural_data, shuffle, vgg, ground_truth]
              alpha_sweep: {alphas: [0, 4], seeds: [0]}
            """
        )
    )
    (tmp_path / "results" / "data").mkdir(parents=True)
    (tmp_path / "results" / "similarity").mkdir(parents=True)
    write_cifar(tmp_path / "results/data/cifar10.h5")
    write_stimuli(tmp_path / "results/data/stimuli.h5")
    targets = ["neural_model", "neural_data", "shuffle", "ground_truth", "neural_model_v1_a1_s1"]
    for i, t in enumerate(targets):
        write_target(tmp_path / f"results/similarity/{t}.h5", seed=i)
    cmd = [sys.executable, "-m", "snakemake", "-c", "2", "--set-threads", "cotrain=1", "--quiet", "rules"]
    run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    runs = [("none", "0")] + [(t, "20") for t in targets[:4]] + [("neural_model_v1_a1_s1", "4")]
    for t, a in runs:
        d = tmp_path / f"results/cotrain/{t}/alpha{a}/seed0"
        assert (d / "model.pt").exists() and (d / "history.csv").exists() and not (d / "checkpoint.pt").exists()
        assert json.load(open(d / "metrics.json"))["condition"] == t
    assert not (tmp_path / "results/cotrain/vgg").exists()  # no VGG19 weights: no vgg condition
    table = pd.read_csv(tmp_path / "results/tables/gamma.csv")
    assert list(table["alpha"]) == [0.0, 4.0] and table.filter(like="gamma_").iloc[0].tolist() == [0.2] * 5


def test_frozen_bn_statistics_keeps_running_estimates_and_the_batch_normalization():
    """bn_running_stats: cifar: the stimulus pass normalizes with its batch statistics (same outputs and
    gradients as an unfrozen pass) but leaves every running estimate and counter as it was."""
    torch.manual_seed(0)
    model = resnet.build(width=8).train()
    xs = torch.rand(6, 1, 36, 64)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "tracked" in k}
    with train.frozen_bn_statistics(model):
        frozen = model.features(xs)
    after = {k: v for k, v in model.state_dict().items() if k in before}
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(m.momentum == 0.1 for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    free = model.features(xs)  # unfrozen: the running estimates move, the outputs are the same
    assert all(torch.equal(a, b) for a, b in zip(frozen, free))
    assert not torch.equal(before["bn1.running_mean"], model.state_dict()["bn1.running_mean"])


def test_flip_and_no_augmentation():
    imgs = torch.randint(0, 256, (40, 1, 32, 32), dtype=torch.uint8)
    x = imgs.float() / 255
    f = data.augment(imgs, torch.Generator().manual_seed(0), mode="flip")
    same, flipped = (f == x).flatten(1).all(1), (f == x.flip(-1)).flatten(1).all(1)
    assert (same | flipped).all() and same.any() and flipped.any()
    assert torch.equal(data.augment(imgs, torch.Generator().manual_seed(0), mode="none"), x)
    with pytest.raises(ValueError, match="cotrain.augment"):
        data.augment(imgs, torch.Generator(), mode="cutout")


@pytest.mark.skipif(not train.cpu_has_bf16(), reason="this CPU has no native bf16")
def test_the_fast_path_follows_the_plain_fp32_loop_over_the_first_steps(tiny):
    """bf16 + channels_last + the Gram-matrix Eq. 9 against the plain loop (fp32, NCHW, Eq. 9 written out):
    the same losses over the first steps up to bf16 rounding (the runs then drift apart within seed noise,
    as any two float orders do in a chaotic net: benchmarks/cotrain_step.py, README)."""
    d, cifar, stimuli = tiny
    from neuroreg.cotrain import similarity_loss as sl
    fast = train.train(tiny_recipe(epochs=1, precision="bf16", channels_last=True, lr=0.01), cifar, stimuli, device="cpu")[2]
    gram = sl.centered_cosine_similarity
    sl.centered_cosine_similarity = measures.centered_cosine_similarity_direct
    try:
        plain = train.train(tiny_recipe(epochs=1, precision="fp32", channels_last=False, lr=0.01), cifar, stimuli, device="cpu")[2]
    finally:
        sl.centered_cosine_similarity = gram
    assert fast[0]["cross_entropy"] == pytest.approx(plain[0]["cross_entropy"], rel=0.02)
    assert fast[0]["similarity_loss"] == pytest.approx(plain[0]["similarity_loss"], rel=0.05)


# ---------------------------------------------------------------- the stimulus pass every k-th step (CPU fast path)
def test_stimulus_every_k_runs_the_pass_on_every_kth_step_with_k_times_alpha(tiny, monkeypatch):
    """stimulus_every: k: the stimulus pass (and the regularizer) on steps 0, k, 2k, ... of each epoch only, weighted
    k x alpha; the similarity loss of history.csv is the mean over those steps; k = 1 is the paper's every step."""
    _, cifar, stimuli = tiny
    calls = []
    real = train.train_step

    def spy(model, mixer, opt, cifar_, idx, stimuli_, stim_idx, r, g, amp, head=None):
        calls.append(stim_idx is not None)
        return real(model, mixer, opt, cifar_, idx, stimuli_, stim_idx, r, g, amp, head)

    monkeypatch.setattr(train, "train_step", spy)
    r = tiny_recipe(epochs=1, stimulus_every=3)
    steps = math.ceil(len(cifar.train_labels) / r.batch_size)
    _, mixer, hist = train.train(r, cifar, stimuli, device="cpu")
    assert calls == [s % 3 == 0 for s in range(steps)] and not math.isnan(hist[0]["similarity_loss"])
    assert not torch.allclose(mixer.gamma, torch.full((5,), 0.2))  # gamma learns from the stimulus steps
    monkeypatch.setattr(train, "train_step", real)
    # the loss weight: one stimulus step with k = 3 moves gamma as alpha 3 x 4 = 12 would with k = 1
    g1 = train.train(tiny_recipe(epochs=1, batch_size=len(cifar.train_labels), alpha=12.0), cifar, stimuli,
                     device="cpu")[1].logits
    g3 = train.train(tiny_recipe(epochs=1, batch_size=len(cifar.train_labels), stimulus_every=3), cifar, stimuli,
                     device="cpu")[1].logits
    torch.testing.assert_close(g1, g3)


def test_stimulus_bn_momentum_keeps_the_photo_share_of_the_running_estimates():
    """With the pass every k-th step, one stimulus update of momentum m_s after k CIFAR updates of momentum m leaves the
    running estimates holding the same share of photo statistics as alternating both every step (0.526 at m = 0.1),
    simulated over 200 cycles; k = 1 keeps m."""
    assert train.stimulus_bn_momentum(0.1, 1) == 0.1

    def share_after_stimulus(m, ms, k, cycles=200):
        p = 0.0  # the share of photo statistics in the running estimate
        for _ in range(cycles):
            for _ in range(k):
                p *= 1 - m
            p = ms + (1 - ms) * p
        return p

    alternating = share_after_stimulus(0.1, 0.1, 1)
    assert alternating == pytest.approx(0.1 / (1 - 0.9**2))
    for k in (2, 4, 8):
        ms = train.stimulus_bn_momentum(0.1, k)
        assert ms > 0.1 and share_after_stimulus(0.1, ms, k) == pytest.approx(alternating)


def test_stimulus_every_k_is_deterministic_and_resumes(tmp_path, tiny, monkeypatch):
    _, cifar, stimuli = tiny
    r = tiny_recipe(stimulus_every=2)
    full, full_mixer, _ = train.train(r, cifar, stimuli, device="cpu")
    again, _, _ = train.train(r, cifar, stimuli, device="cpu")
    _assert_identical(_weights(full), _weights(again))
    ckpt = tmp_path / "ckpt.pt"
    monkeypatch.setenv(hooks.CRASH_ENV, str(math.ceil(len(cifar.train_labels) / r.batch_size) + 1))
    with pytest.raises(RuntimeError, match="simulated crash"):
        train.train(r, cifar, stimuli, device="cpu", checkpoint_path=ckpt)
    monkeypatch.delenv(hooks.CRASH_ENV)
    resumed, resumed_mixer, _ = train.train(r, cifar, stimuli, device="cpu", checkpoint_path=ckpt)
    _assert_identical(_weights(full), _weights(resumed))
    _assert_identical(full_mixer.state_dict(), resumed_mixer.state_dict())
