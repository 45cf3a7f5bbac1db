"""Train, evaluate and save the encoder of one scan: ``results/encoders/{scan}/``.

Outputs (all written atomically):

* ``model.pt``: ``{"state_dict", "hparams", "normalization", "neuron_id"}``, tensors and plain
  Python types only, so ``torch.load(path, weights_only=True)`` reads it; :func:`load_model` rebuilds it.
* ``metrics.json``: per-neuron lists and their means: ``test_correlation`` (v_a, single test trials),
  ``oracle_mean_correlation``, ``feve``, ``fev``, ``validation_correlation`` (``mean_*`` NaN-aware means;
  ``median_feve`` and ``mean_feve_reliable`` over neurons with FEV >= 0.15, since FEVE diverges where the
  explainable variance is ~0); for virtual scans also
  ``ground_truth_correlation`` (predictions vs ``ground_truth/image_response`` over all images),
  ``ground_truth_correlation_oracle`` (same, over the oracle images only) and
  ``single_trial_ground_truth_correlation`` (single test trials vs the noise-free response to their image);
  plus the training history.
* ``predictions.h5``: ``responses`` (n_images, n_neurons) float32, in response units, behaviour at its
  training mean and eye at its training mean; ``image_id``, ``neuron_id``, ``test_correlation``.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import h5py
import numpy as np
import torch

from ..ingest.scan import read_scan
from ..files import atomic_output, write_json
from ..measures import pearson
from . import metrics as M
from .model import Encoder
from .train import EncoderConfig, fit, hparams, predict_images, predict_trials, split_tiers

log = logging.getLogger(__name__)
MIN_FEV = 0.15  # neurons with at least this fraction of explainable variance count as reliable (mean_feve_reliable)


def evaluate(model, data, scan, stats, cfg, seed, path=None) -> tuple[dict, np.ndarray]:
    """Per-neuron metrics (dict of lists) and predictions for every image in response units."""
    r_std = stats["response_std"]
    test = np.flatnonzero(scan.tier == "test")
    _, val = split_tiers(scan, cfg, seed, path)
    per = {}
    pred_val = predict_trials(model, data, val) * r_std
    per["validation_correlation"] = pearson(pred_val, scan.responses[val])
    if len(test):
        pred_test = predict_trials(model, data, test) * r_std
        resp_test = scan.responses[test]
        per["test_correlation"] = M.test_correlation(pred_test, resp_test)
        per["oracle_mean_correlation"] = M.oracle_mean_correlation(pred_test, resp_test, scan.trial_image[test])
        per["feve"], per["fev"] = M.fraction_explainable_variance_explained(pred_test, resp_test,
                                                                              scan.trial_image[test])
    else:
        per["test_correlation"] = np.full(scan.n_neurons, np.nan)
    responses = predict_images(model, data) * r_std
    gt = scan.ground_truth or {}
    if "image_response" in gt:
        truth = np.asarray(gt["image_response"])
        per["ground_truth_correlation"] = pearson(responses, truth)
        oracle = scan.oracle_images()
        per["ground_truth_correlation_oracle"] = pearson(responses[oracle], truth[oracle])
        if len(test):
            per["single_trial_ground_truth_correlation"] = pearson(scan.responses[test],
                                                                         truth[scan.trial_image[test]])
    return per, responses.astype(np.float32)


def _clean(x):
    """Lists of floats for JSON, NaN -> None."""
    return [None if not math.isfinite(v) else float(v) for v in np.asarray(x, dtype=np.float64).ravel()]


def train_scan(scan_path, model_path, metrics_path, predictions_path, config: dict, seed: int,
               device: str | None = None, threads: int | None = None) -> dict:
    """Fit the encoder of one scan file and write the three outputs; returns the metrics dict.

    ``threads`` sets torch's intra-op CPU threads (bit-identical results need the same count)."""
    cfg = EncoderConfig.from_dict(config)
    if threads:
        torch.set_num_threads(int(threads))
    t0 = time.perf_counter()
    scan = read_scan(scan_path)
    model, stats, history, data = fit(scan, cfg, seed, scan_path, device)
    per, responses = evaluate(model, data, scan, stats, cfg, seed, scan_path)
    summary = M.summarize(per)
    if "feve" in per:  # per-neuron FEVE explodes where explainable variance ~ 0: also report robust summaries
        reliable = per["fev"] >= MIN_FEV
        summary["median_feve"] = float(np.nanmedian(per["feve"]))
        summary["mean_feve_reliable"] = float(np.nanmean(per["feve"][reliable])) if reliable.any() else float("nan")
        summary["n_reliable"] = int(reliable.sum())
    for k, v in summary.items():
        log.info("%s = %.4f", k, v)
    out = {"scan": str(scan.attrs.get("scan", Path(scan_path).stem)), "n_neurons": scan.n_neurons,
           "n_epochs": len(history), "best_epoch": int(np.argmax([h["val_correlation"] for h in history]) + 1),
           "seconds": time.perf_counter() - t0, "device": str(data.images.device),
           **{k: (None if not math.isfinite(v) else v) for k, v in summary.items()},
           "neuron_id": np.asarray(scan.neuron_id).tolist(),
           "per_neuron": {k: _clean(v) for k, v in per.items()}, "history": history}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    norm = {k: (torch.from_numpy(np.asarray(v)) if isinstance(v, np.ndarray) else float(v)) for k, v in stats.items()}
    with atomic_output(model_path) as tmp:
        torch.save({"state_dict": state, "hparams": hparams(cfg, seed, scan.n_neurons), "normalization": norm,
                    "neuron_id": torch.from_numpy(np.asarray(scan.neuron_id, dtype=np.int64))}, tmp)
    with atomic_output(predictions_path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("responses", data=responses, compression="gzip", compression_opts=4)
            f.create_dataset("image_id", data=np.asarray(scan.image_id, dtype=np.int64))
            f.create_dataset("neuron_id", data=np.asarray(scan.neuron_id, dtype=np.int64))
            f.create_dataset("test_correlation", data=np.asarray(per["test_correlation"], dtype=np.float32))
            f.attrs["scan"] = out["scan"]
            f.attrs["behavior"] = "training mean"
            f.attrs["pupil_center"] = "training mean"
    write_json(out, metrics_path)
    return out


def load_model(path, device: str = "cpu") -> tuple[Encoder, dict]:
    """Rebuild an encoder from ``model.pt`` (safe load). Returns ``(model in eval mode, checkpoint dict)``."""
    ckpt = torch.load(path, map_location=device, weights_only=True)
    h = ckpt["hparams"]
    model = Encoder(h["n_neurons"], h["hidden_channels"], h["layers"], h["input_kernel"], h["hidden_kernel"], h["skip"],
                    h["depth_separable"], h["init_mu_range"], h["init_sigma"], h["shifter"], h["modulator"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(device).eval(), ckpt
