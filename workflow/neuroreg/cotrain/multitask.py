"""Multi-task co-training: a readout from one ResNet layer predicts neural responses to the stimuli.

The conditions ``mtl_model``, ``mtl_shuffle``, ``mtl_ground_truth`` and ``mtl_data`` replace the
similarity loss of Eq. 7 by alpha x the Poisson loss of a readout that predicts, from layer
``cotrain.mtl.layer`` of the classifier, the responses of every neuron of the scans to the
stimulus batch (the Sinz lab's multi-task follow-up; conditions MTL-neural, MTL-shuffled,
MTL-oracle there). The readout is dropped after training: the classifier is saved and evaluated
like every other condition.

Readout: the encoder stage's Gaussian readout (:class:`neuroreg.encoder.readout.GaussianReadout`,
neuralpredictors' FullGaussian2d) with its output nonlinearity ELU + 1 and its Poisson loss. Why not a
linear readout: a dense linear map from a 16 x 36 x 64 feature map to 2,000 neurons has 74 M
weights (more than 100 times the width-16 ResNet) and learns receptive fields from 5,000 images
only loosely; the Gaussian readout has C + 5 parameters per neuron (a position, its spread, a
feature vector, a bias), the receptive-field prior the encoders already use, and costs one
grid_sample.

Response sets (rule ``mtl_responses``, ``results/responses/{set}.h5``), over the once-shown images of
the similarity targets, neurons of every scan side by side:

* ``model``: the encoders' predicted responses (the responses whose similarities are Eq. 6);
* ``shuffle``: the same with the images permuted (the shuffle target's permutation and seed);
* ``ground_truth``: the virtual experiment's noise-free responses;
* ``data``: the single trial of each image.

Each neuron's responses are divided by their mean over the images (stored as ``neuron_mean``), so
every neuron weighs alike in the Poisson loss whatever its rate; negative values (dF/F recordings)
are an error: a Poisson loss needs counts or rates.

HDF5 schema: ``responses`` (n_images, n_neurons) float32, ``image_index`` (n,) rows of
``stimuli.h5``, ``image_id`` (n,), ``neuron_id`` (N,), ``neuron_scan`` (N,) str, ``neuron_mean``
(N,); attrs ``responses`` (the set), ``scans``, ``method``, ``normalization``.
"""

from __future__ import annotations

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..encoder.readout import GaussianReadout
from ..encoder.train import poisson_loss
from ..io import InputError, atomic_output, open_h5, require_finite, require_key

RESPONSE_SETS = ("model", "shuffle", "ground_truth", "data")
METHOD = {
    "model": "encoder predictions (predictions.h5 responses) of the once-shown images",
    "shuffle": "encoder predictions with the images permuted: row i holds the responses to image p(i)",
    "ground_truth": "noise-free virtual responses (ground_truth/image_response)",
    "data": "the single trial of each once-shown image",
}


class MultitaskReadout(nn.Module):
    """Feature map (B, C, H, W) of the chosen layer -> predicted responses (B, n_neurons) > 0 (ELU + 1)."""

    def __init__(self, in_channels: int, n_neurons: int, *, init_mu_range: float = 0.3, init_sigma: float = 0.1,
                 seed: int = 0):
        super().__init__()
        self.n_neurons = int(n_neurons)
        g = torch.Generator().manual_seed(int(seed))
        self.readout = GaussianReadout(in_channels, n_neurons, init_mu_range=init_mu_range, init_sigma=init_sigma,
                                       generator=g)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=features.device.type, enabled=False):  # the loss math in fp32
            return F.elu(self.readout(features.float())) + 1


def mtl_loss(rate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The encoder's Poisson loss (rate - y log rate), mean over images and neurons: a scalar."""
    return poisson_loss(rate, target.float()).mean()


# ---------------------------------------------------------------- the response sets (rule mtl_responses)
def scan_responses(kind: str, paths: dict, image_id: np.ndarray) -> tuple[np.ndarray, np.ndarray, object]:
    """(responses (n, N_scan), neuron_id, source path) of one scan for the images ``image_id``."""
    from ..ingest.scan import read_scan
    from ..similarity.targets import _rows, once_shown, read_predictions

    if kind in ("model", "shuffle"):
        p = read_predictions(paths["predictions"])
        return p["responses"][_rows(p["image_id"], image_id, paths["predictions"], "image_id")], p["neuron_id"], paths["predictions"]
    if kind == "data":
        scan = read_scan(paths["scan"], ground_truth=False)
        ids, trial = once_shown(scan)
        return scan.responses[trial[_rows(ids, image_id, paths["scan"], "image_id")]], scan.neuron_id, paths["scan"]
    with open_h5(paths["scan"]) as f:
        ids, key = require_key(f, "image_id", paths["scan"])[()], "ground_truth/image_response"
        resp = require_finite(require_key(f, key, paths["scan"])[()], paths["scan"], key)
        neuron_id = require_key(f, "neuron_id", paths["scan"])[()]
    return resp[_rows(ids, image_id, paths["scan"], "image_id")], neuron_id, paths["scan"]


def build_responses(kind: str, out, inputs: dict[str, dict], stimuli_path, *, seed: int = 0) -> dict:
    """Write ``results/responses/{kind}.h5`` (module doc) from the scans ``inputs`` (name -> paths:
    scan, and predictions for model / shuffle). Returns its summary (n_images, n_neurons)."""
    from ..similarity.matrix import shuffle_permutation
    from ..similarity.targets import target_images

    if kind not in RESPONSE_SETS:
        raise ValueError(f"unknown response set {kind!r}; expected one of {RESPONSE_SETS}")
    image_id, image_index = target_images({n: p["scan"] for n, p in inputs.items()}, stimuli_path)
    blocks, neuron_id, neuron_scan = [], [], []
    for name, paths in inputs.items():
        r, ids, src = scan_responses(kind, paths, image_id)
        r = require_finite(np.asarray(r, dtype=np.float64), src, "responses")
        if (r < 0).any():
            raise InputError(src, "responses", f"{int((r < 0).sum())} negative responses: the multi-task Poisson loss "
                             "needs non-negative rates or event counts (deconvolved activity, not dF/F)")
        blocks.append(r)
        neuron_id.append(np.asarray(ids))
        neuron_scan += [name] * r.shape[1]
    responses = np.concatenate(blocks, axis=1)
    mean = responses.mean(0)
    silent = np.flatnonzero(mean <= 0)
    if len(silent):
        raise InputError(next(iter(inputs.values()))["scan"], "responses",
                         f"{len(silent)} neurons never respond to the once-shown images (mean 0): remove them")
    responses = responses / mean
    if kind == "shuffle":
        responses = responses[shuffle_permutation(len(image_id), seed)]
    with atomic_output(out) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("responses", data=responses.astype(np.float32), chunks=(min(256, len(responses)), responses.shape[1]))
        f["image_index"], f["image_id"] = image_index, image_id
        f["neuron_id"] = np.concatenate(neuron_id).astype(np.int64)
        f["neuron_scan"] = np.array(neuron_scan, dtype=object).astype("S")
        f["neuron_mean"] = mean.astype(np.float32)
        f.attrs.update({"responses": kind, "scans": list(inputs), "method": METHOD[kind], "seed": int(seed),
                        "normalization": "each neuron divided by its mean over the images (neuron_mean)"})
    return {"n_images": len(image_id), "n_neurons": responses.shape[1]}


def load_responses(stimuli_path, responses_path, device):
    """The stimuli of a response set and its responses on ``device``, as a :class:`neuroreg.cotrain.data.Stimuli`
    whose ``target`` is (n_images, n_neurons) float32. Errors name the file and key."""
    from .data import Stimuli, _images

    with open_h5(responses_path) as f:
        r = require_key(f, "responses", responses_path)
        index = require_key(f, "image_index", responses_path)[()].astype(np.int64)
        image_id = require_key(f, "image_id", responses_path)[()].astype(np.int64)
        if r.ndim != 2 or r.shape[0] != len(index) or len(index) < 2:
            raise InputError(responses_path, "responses", f"shape {r.shape}, expected (n_images={len(index)} >= 2, n_neurons)")
        resp = require_finite(r[()].astype(np.float32), responses_path, "responses")
        if (resp < 0).any():
            raise InputError(responses_path, "responses", "negative values: not rates")
        attrs = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in f.attrs.items()}
    with open_h5(stimuli_path) as h5:
        images = _images(h5, "images", stimuli_path)
        if index.min() < 0 or index.max() >= len(images):
            raise InputError(responses_path, "image_index", f"indices outside the {len(images)} images of {stimuli_path}")
        if not np.array_equal(require_key(h5, "image_id", stimuli_path)[()][index], image_id):
            raise InputError(responses_path, "image_id", f"does not match {stimuli_path} image_id at image_index")
    attrs = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in attrs.items()}
    return Stimuli(torch.from_numpy(images[index][:, None].copy()).to(device), torch.from_numpy(resp).to(device),
                   image_id, attrs)
