"""The response sets of the multi-task conditions (rule ``mtl_responses``, ``results/<run>/responses/{set}.h5``).

Over the once-shown images of the similarity targets, neurons of every scan side by side:

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

Co-training reads a set with :func:`neuroreg.cotrain.multitask.load_responses`.
"""

from __future__ import annotations

import h5py
import numpy as np

from ..files import InputError, atomic_output, open_h5, require_finite, require_key

RESPONSE_SETS = ("model", "shuffle", "ground_truth", "data")
METHOD = {
    "model": "encoder predictions (predictions.h5 responses) of the once-shown images",
    "shuffle": "encoder predictions with the images permuted: row i holds the responses to image p(i)",
    "ground_truth": "noise-free virtual responses (ground_truth/image_response)",
    "data": "the single trial of each once-shown image",
}



def scan_responses(kind: str, paths: dict, image_id: np.ndarray) -> tuple[np.ndarray, np.ndarray, object]:
    """(responses (n, N_scan), neuron_id, source path) of one scan for the images ``image_id``."""
    from ..ingest.scan import read_scan
    from .targets import once_shown, read_predictions, rows_of

    if kind in ("model", "shuffle"):
        p = read_predictions(paths["predictions"])
        return p["responses"][rows_of(p["image_id"], image_id, paths["predictions"], "image_id")], p["neuron_id"], paths["predictions"]
    if kind == "data":
        scan = read_scan(paths["scan"], ground_truth=False)
        ids, trial = once_shown(scan)
        return scan.responses[trial[rows_of(ids, image_id, paths["scan"], "image_id")]], scan.neuron_id, paths["scan"]
    with open_h5(paths["scan"]) as f:
        ids, key = require_key(f, "image_id", paths["scan"])[()], "ground_truth/image_response"
        resp = require_finite(require_key(f, key, paths["scan"])[()], paths["scan"], key)
        neuron_id = require_key(f, "neuron_id", paths["scan"])[()]
    return resp[rows_of(ids, image_id, paths["scan"], "image_id")], neuron_id, paths["scan"]


def build_responses(kind: str, out, inputs: dict[str, dict], stimuli_path, *, seed: int = 0) -> dict:
    """Write ``results/responses/{kind}.h5`` (module doc) from the scans ``inputs`` (name -> paths:
    scan, and predictions for model / shuffle). Returns its summary (n_images, n_neurons)."""
    from .matrix import shuffle_permutation
    from .targets import target_images

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
