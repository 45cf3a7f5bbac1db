"""Tests of stage 3, the encoder: readout, shifter, modulator, loss, metrics, and a tiny end-to-end fit."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch
from neuroreg.encoder import metrics as M
from neuroreg.encoder.model import Encoder
from neuroreg.encoder.readout import GaussianReadout
from neuroreg.encoder.run import load_model, train_scan
from neuroreg.measures import poisson_loss
from neuroreg.ingest.scan import Scan, write_scan
from neuroreg.files import InputError
from neuroreg.measures import pearson


def synthetic_scan(n_images=300, n_oracle=10, repeats=5, n_neurons=20, shape=(12, 16), seed=0) -> Scan:
    """Gabor linear-nonlinear neurons with Poisson noise; ground truth saved like the virtual experiment."""
    rng = np.random.default_rng(seed)
    h, w = shape
    n_total = n_images + n_oracle
    # smooth random images
    raw = rng.normal(size=(n_total, h, w))
    k = np.exp(-0.5 * (np.arange(-3, 4) / 1.2) ** 2)
    for axis in (1, 2):
        raw = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), axis, raw)
    images = np.clip(128 + 60 * raw / raw.std(), 0, 255).astype(np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    filters = []
    for _ in range(n_neurons):
        cy, cx = rng.uniform(3, h - 3), rng.uniform(4, w - 4)
        th, ph = rng.uniform(0, np.pi), rng.uniform(0, 2 * np.pi)
        u = (xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)
        g = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 2.0 ** 2)) * np.cos(2 * np.pi * u / 6 + ph)
        filters.append(g / np.abs(g).sum())
    filters = np.stack(filters)
    x = (images - 128.0) / 60
    drive = np.einsum("ihw,nhw->in", x, filters)
    truth = 0.8 * np.log1p(np.exp(3 * drive / drive.std())) + 0.1  # softplus rates (n_total, n_neurons)
    trial_image = np.concatenate([np.arange(n_images), np.repeat(np.arange(n_images, n_total), repeats)])
    trial_image = trial_image[rng.permutation(len(trial_image))]
    responses = rng.poisson(truth[trial_image]).astype(np.float32)
    val_images = rng.choice(n_images, n_images // 10, replace=False)
    tier = np.where(trial_image >= n_images, "test", np.where(np.isin(trial_image, val_images), "validation", "train"))
    n_trials = len(trial_image)
    return Scan(images=images, responses=responses, trial_image=trial_image.astype(np.int64),
                behavior=rng.normal(size=(n_trials, 3)).astype(np.float32) * 0.01,
                pupil_center=rng.normal(size=(n_trials, 2)).astype(np.float32) * 0.01, tier=tier,
                neuron_id=np.arange(n_neurons, dtype=np.int64) + 1, attrs={"source": "test", "scan": "syn"},
                ground_truth={"image_response": truth.astype(np.float32),
                              "trial_mean": truth[trial_image].astype(np.float32),
                              "snr": np.ones(n_neurons, np.float32)})


TINY = dict(hidden_channels=8, layers=3, input_kernel=5, hidden_kernel=3, batch_size=32, lr=0.01, max_epochs=12,
            patience=3, lr_decay_steps=2, device="cpu", gamma_readout=1e-4, gamma_input=0.01)


def test_readout_shape_and_position():
    torch.manual_seed(0)
    ro = GaussianReadout(in_channels=2, n_neurons=3).eval()
    feat = torch.zeros(1, 2, 5, 7)
    feat[0, 0, 4, 6] = 1.0  # bottom-right corner = grid (1, 1)
    with torch.no_grad():
        ro.features.fill_(1.0)
        ro.bias.zero_()
        ro.mu.copy_(torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]]))
        y = ro(feat)
    assert y.shape == (1, 3)
    assert y[0, 0] == pytest.approx(1.0) and y[0, 1] == pytest.approx(0.0) and y[0, 2] == pytest.approx(0.0)
    # moving neuron 1 onto the feature gives it the response; the feature map there decides
    with torch.no_grad():
        ro.mu[1] = torch.tensor([1.0, 1.0])
        assert ro(feat)[0, 1] == pytest.approx(1.0)
        assert ro(2 * feat)[0, 1] == pytest.approx(2.0)
    # training mode samples positions around mu
    ro.train()
    with torch.no_grad():
        ro.sigma.fill_(0.5)
        ro.mu.zero_()
        assert not torch.equal(ro(feat.expand(4, -1, -1, -1))[0], ro(feat.expand(4, -1, -1, -1))[1])


def test_shifted_eye_moves_prediction():
    model = Encoder(n_neurons=4, hidden_channels=4, input_kernel=3, hidden_kernel=3, seed=1).eval()
    with torch.no_grad():
        model.shifter.mlp[-2].bias.fill_(0.5)
    pc0, pc1 = torch.zeros(1, 2), torch.tensor([[2.0, -1.0]])
    s0, s1 = model.shifter(pc0), model.shifter(pc1)
    assert not torch.allclose(s0, s1)
    img = torch.randn(1, 1, 10, 12, generator=torch.Generator().manual_seed(0))
    b = torch.zeros(1, 3)
    with torch.no_grad():
        feats = model.core(img)
        # the shift moves the sampling position: readout with shift == readout with mu moved by that shift
        shifted = model.readout(feats, shift=s1)
        model.readout.mu += s1[0]
        moved = model.readout(feats)
        model.readout.mu -= s1[0]
        assert torch.allclose(shifted, moved, atol=1e-5)
        assert not torch.allclose(model(img, b, pc0), model(img, b, pc1))


def test_modulator_is_multiplicative_gain():
    model = Encoder(n_neurons=5, hidden_channels=4, input_kernel=3, hidden_kernel=3, seed=2).eval()
    with torch.no_grad():
        model.modulator.mlp[-1].weight.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    img = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    pc = torch.zeros(1, 2)
    b0, b1 = torch.zeros(1, 3), torch.tensor([[1.0, 0.0, 2.0]])
    with torch.no_grad():
        r0, r1 = model(img, b0, pc), model(img, b1, pc)
        g0, g1 = model.modulator(b0), model.modulator(b1)
    assert (g1 > 0).all() and not torch.allclose(g0, g1)
    assert torch.allclose(r1 / r0, g1 / g0, rtol=1e-5)


def test_poisson_loss_hand_case():
    rate, y = torch.tensor([2.0, 1.0]), torch.tensor([3.0, 0.0])
    assert poisson_loss(rate, y).tolist() == pytest.approx([2 - 3 * np.log(2), 1.0])


def test_metrics_hand_cases():
    x = np.array([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]])
    assert pearson(x, 2 * x + 1) == pytest.approx([1.0, 1.0])
    assert pearson(x, -x) == pytest.approx([-1.0, -1.0])
    assert pearson(x, np.ones_like(x)) == pytest.approx([0.0, 0.0])  # constant -> 0, not NaN
    # 3 oracle images x 2 repeats, noiseless: perfect prediction explains everything
    trial_image = np.array([0, 0, 1, 1, 2, 2])
    resp = np.array([[1.0], [1.0], [2.0], [2.0], [4.0], [4.0]])
    feve, fev = M.fraction_explainable_variance_explained(resp, resp, trial_image)
    assert feve == pytest.approx([1.0]) and fev == pytest.approx([1.0])
    # with noise: predicting the true means gives FEVE near 1, a constant gives < 0.1
    rng = np.random.default_rng(0)
    ti = np.repeat(np.arange(50), 10)
    mean = rng.normal(size=(50, 1)) * 2
    noisy = mean[ti] + rng.normal(size=(500, 1))
    feve, fev = M.fraction_explainable_variance_explained(mean[ti], noisy, ti)
    assert 0.9 < feve[0] < 1.1 and 0.7 < fev[0] < 0.9
    assert M.fraction_explainable_variance_explained(np.zeros_like(noisy), noisy, ti)[0][0] < 0.1
    # oracle-mean correlation averages over repeats first
    assert M.oracle_mean_correlation(mean[ti], noisy, ti)[0] > 0.95 > M.test_correlation(mean[ti], noisy)[0]


def _run(tmp_path, scan_path, name, seed=0, **over):
    out = tmp_path / name
    cfg = {**TINY, **over}
    threads = torch.get_num_threads()
    try:
        m = train_scan(scan_path, out / "model.pt", out / "metrics.json", out / "predictions.h5", cfg, seed,
                       threads=1)
    finally:
        torch.set_num_threads(threads)
    return out, m


def test_end_to_end_tiny_scan(tmp_path):
    scan = synthetic_scan()
    path = tmp_path / "syn.h5"
    write_scan(scan, path)
    out, m = _run(tmp_path, path, "a")
    for f in ("model.pt", "metrics.json", "predictions.h5"):
        assert (out / f).exists()
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["per_neuron"]["test_correlation"]) == 20
    with h5py.File(out / "predictions.h5") as f:
        pred = f["responses"][()]
        assert pred.shape == (310, 20) and pred.dtype == np.float32
        assert (f["image_id"][()] == scan.image_id).all() and (f["neuron_id"][()] == scan.neuron_id).all()
        assert f["test_correlation"].shape == (20,)
    # a denoiser: predictions track the noise-free responses better than single trials do
    assert m["mean_ground_truth_correlation"] > m["mean_single_trial_ground_truth_correlation"] + 0.05
    assert m["mean_test_correlation"] > 0.3
    # safe load; predictions reproduce from the saved model
    model, ckpt = load_model(out / "model.pt")
    assert ckpt["hparams"]["n_neurons"] == 20
    # deterministic for a seed
    out_b, _ = _run(tmp_path, path, "b")
    with h5py.File(out / "predictions.h5") as fa, h5py.File(out_b / "predictions.h5") as fb:
        assert np.array_equal(fa["responses"][()], fb["responses"][()])


def test_no_train_tier_is_input_error(tmp_path):
    scan = synthetic_scan(n_images=20, n_neurons=3)
    scan.tier[:] = "test"
    path = tmp_path / "only_test.h5"
    write_scan(scan, path)
    with pytest.raises(InputError, match="tier.*no 'train' trials"):
        _run(tmp_path, path, "c")
    assert not (tmp_path / "c" / "model.pt").exists()
