"""Stage 4 inputs -> unit vectors of each similarity target, and the oracle-image comparison (Fig. 1B, D).

Per scan h the targets use the once-shown images (shown exactly once in the scan),
matched across scans by ``image_id`` and ordered as in ``results/data/stimuli.h5``:

* ``neural_model`` (Eq. 6): predictions rho^_ai of ``results/encoders/{scan}/predictions.h5``
  scaled by w_a * max(v_a, 0) (``snr_weight`` of the reliability file, ``test_correlation``);
* ``neural_data`` (Eq. 2): the single trial of each image scaled by w_a;
* ``ground_truth`` (virtual scans): ``ground_truth/image_response`` unweighted: the
  noise-free responses have no trial noise, so the SNR weighting (which discounts noisy
  neurons) does not apply; S^true is the similarity of the true population response.

Each is centred over the images and normalised (Eq. 2), then averaged over scans by
:func:`neuroreg.similarity.write_similarity`. Bad inputs raise InputError naming the file.
"""

from __future__ import annotations

import numpy as np

from ..ingest.scan import read_scan
from ..files import InputError, open_h5, require_finite, require_key
from ..measures import centered_unit_vectors, pearson_r
from ..reliability import oracle as rel
from .matrix import scaled_responses

WEIGHTING = {
    "neural_model": "w_a * max(v_a, 0) (Eq. 1 SNR weight x prediction test correlation)",
    "neural_data": "w_a (Eq. 1 SNR weight)",
    "ground_truth": "none (noise-free responses)",
    "shuffle": "w_a * max(v_a, 0), image order permuted",
}
METHOD = {
    "neural_model": "Eq. 6: centred unit vectors of scaled model predictions, mean over scans",
    "neural_data": "Eq. 2: centred unit vectors of scaled single-trial responses, mean over scans",
    "ground_truth": "Eq. 2 on the noise-free virtual responses, mean over scans",
    "shuffle": "neural_model with rows and columns permuted: S[p(i), p(j)]",
}


def once_shown(scan) -> tuple[np.ndarray, np.ndarray]:
    """(image_id, trial) of the images shown exactly once in ``scan``, ascending image index."""
    reps = scan.repeats_per_image()
    idx = np.flatnonzero(reps == 1)
    first = np.full(len(reps), -1)
    first[scan.trial_image[::-1]] = np.arange(scan.n_trials)[::-1]
    return np.asarray(scan.image_id)[idx], first[idx]


def target_images(scan_paths: dict, stimuli_path) -> tuple[np.ndarray, np.ndarray]:
    """The once-shown images common to every scan: (image_id, image_index into stimuli.h5).

    Every scan must show the same once-shown images (InputError naming the scan that differs).
    """
    with open_h5(stimuli_path) as f:
        stim_ids = require_key(f, "image_id", stimuli_path)[()]
    ref, ref_name = None, None
    for name, path in scan_paths.items():
        with open_h5(path) as f:
            ids = require_key(f, "image_id", path)[()]
            trial_image = require_key(f, "trial_image", path)[()]
        shown_once = np.sort(ids[np.bincount(trial_image, minlength=len(ids)) == 1])
        if ref is None:
            ref, ref_name = shown_once, name
        elif not np.array_equal(ref, shown_once):
            n_diff = len(np.setxor1d(ref, shown_once))
            raise InputError(path, "image_id", f"the once-shown images differ from those of scan {ref_name} "
                             f"({n_diff} image ids in one scan only); all scans of a target must share them")
    if ref is None or len(ref) < 2:
        raise InputError(next(iter(scan_paths.values()), None), "trial_image", "fewer than 2 once-shown images")
    order = np.argsort(stim_ids, kind="stable")
    pos = np.searchsorted(stim_ids, ref, sorter=order)
    pos = np.clip(pos, 0, len(stim_ids) - 1)
    missing = stim_ids[order[pos]] != ref
    if missing.any():
        raise InputError(stimuli_path, "image_id", f"{int(missing.sum())} once-shown image ids of the scans are not "
                         f"among the stimuli (first: {ref[missing][0]})")
    index = order[pos]
    keep = np.argsort(index)
    return ref[keep].astype(np.int64), index[keep].astype(np.int64)


def rows_of(ids: np.ndarray, wanted: np.ndarray, path, key: str) -> np.ndarray:
    """Positions of ``wanted`` ids in ``ids``; InputError if any is missing."""
    order = np.argsort(ids, kind="stable")
    pos = np.clip(np.searchsorted(ids, wanted, sorter=order), 0, max(len(ids) - 1, 0))
    if len(ids) == 0 or (ids[order[pos]] != wanted).any():
        raise InputError(path, key, "does not hold every image/neuron id required (ids do not match the scan)")
    return order[pos]


def read_weights(reliability_path, neuron_id: np.ndarray) -> np.ndarray:
    """w_a (Eq. 1) of ``results/reliability/{scan}.h5`` in the order ``neuron_id``."""
    with open_h5(reliability_path) as f:
        ids = require_key(f, "neuron_id", reliability_path)[()]
        w = require_finite(require_key(f, "snr_weight", reliability_path)[()], reliability_path, "snr_weight")
    if w.shape != ids.shape:
        raise InputError(reliability_path, "snr_weight", f"shape {w.shape} does not match neuron_id {ids.shape}")
    if (w < 0).any():
        raise InputError(reliability_path, "snr_weight", "negative weights (w_a = sigma_a / eta_a >= 0)")
    return w[rows_of(ids, np.asarray(neuron_id), reliability_path, "neuron_id")]


def read_predictions(path) -> dict:
    """``predictions.h5`` -> dict(responses (n_images, n_neurons), image_id, neuron_id, test_correlation)."""
    with open_h5(path) as f:
        out = {k: require_key(f, k, path)[()] for k in ("responses", "image_id", "neuron_id", "test_correlation")}
    r = out["responses"]
    if r.ndim != 2 or r.shape != (len(out["image_id"]), len(out["neuron_id"])):
        raise InputError(path, "responses", f"expected (n_images={len(out['image_id'])}, "
                         f"n_neurons={len(out['neuron_id'])}), got {r.shape}")
    if out["test_correlation"].shape != out["neuron_id"].shape:
        raise InputError(path, "test_correlation", "shape does not match neuron_id")
    for k in ("responses", "test_correlation"):
        require_finite(out[k], path, k)
    return out


def _unit(r: np.ndarray, path, key: str) -> np.ndarray:
    e = centered_unit_vectors(r)
    zero = np.flatnonzero(~np.isclose(np.linalg.norm(e, axis=1), 1.0))
    if len(zero):
        raise InputError(path, key, f"{len(zero)} images have no response direction after centring "
                         f"(all-zero weighted response), first row {zero[0]}")
    return e.astype(np.float32)


def model_vectors(predictions_path, reliability_path, image_id: np.ndarray) -> np.ndarray:
    """Eq. 6 unit vectors (n, n_neurons) of one scan for the images ``image_id``."""
    p = read_predictions(predictions_path)
    w = read_weights(reliability_path, p["neuron_id"])
    rows = rows_of(p["image_id"], image_id, predictions_path, "image_id")
    return _unit(scaled_responses(p["responses"][rows], w, p["test_correlation"]), predictions_path, "responses")


def data_vectors(scan_path, reliability_path, image_id: np.ndarray) -> np.ndarray:
    """Eq. 2 unit vectors (n, n_neurons) of one scan: single trials of the images ``image_id``."""
    scan = read_scan(scan_path, ground_truth=False)
    ids, trial = once_shown(scan)
    rows = trial[rows_of(ids, image_id, scan_path, "image_id")]
    w = read_weights(reliability_path, scan.neuron_id)
    return _unit(scaled_responses(scan.responses[rows], w), scan_path, "responses")


def truth_vectors(scan_path, image_id: np.ndarray) -> np.ndarray:
    """Unit vectors of ``ground_truth/image_response`` (unweighted) for the images ``image_id``."""
    with open_h5(scan_path) as f:
        ids = require_key(f, "image_id", scan_path)[()]
        key = "ground_truth/image_response"
        resp = require_finite(require_key(f, key, scan_path)[()], scan_path, key)
    return _unit(resp[rows_of(ids, image_id, scan_path, "image_id")], scan_path, key)


def oracle_comparison(scan_path, reliability_path, predictions_path) -> dict:
    """Similarities of one scan's oracle images (Fig. 1B, 1D), rows ordered as ``oracle_image_id``.

    Returns oracle_image_id (n_o,), oracle (S^oracle, Eq. 3, from the reliability file),
    model (S^model, Eq. 6: predictions scaled by w_a max(v_a, 0), centred over the oracle
    images), data_trials (T, T) (S^data, Eq. 2 with every oracle trial a stimulus, centred
    over all oracle trials, as in Eq. 3), trial_oracle (T,) row of each trial, and for virtual
    scans true (S^true: noise-free responses, centred over the oracle images).
    """
    scan = read_scan(scan_path)
    with open_h5(reliability_path) as f:
        o_ids = require_key(f, "oracle_image_id", reliability_path)[()]
        s_oracle = require_key(f, "oracle_similarity", reliability_path)[()]
    if s_oracle.shape != (len(o_ids), len(o_ids)):
        raise InputError(reliability_path, "oracle_similarity", f"shape {s_oracle.shape} does not match "
                         f"oracle_image_id ({len(o_ids)},)")
    w = read_weights(reliability_path, scan.neuron_id)
    idx, trials = scan.oracle_responses()
    e, image = rel.trial_unit_vectors(trials, w)
    trial_oracle = rows_of(o_ids, np.asarray(scan.image_id)[idx], reliability_path, "oracle_image_id")[image]
    p = read_predictions(predictions_path)
    w_p = read_weights(reliability_path, p["neuron_id"])
    rows = rows_of(p["image_id"], o_ids, predictions_path, "image_id")
    em = _unit(scaled_responses(p["responses"][rows], w_p, p["test_correlation"]), predictions_path, "responses")
    out = {"oracle_image_id": o_ids, "oracle": s_oracle, "model": em.astype(np.float64) @ em.T,
           "data_trials": e @ e.T, "trial_oracle": trial_oracle}
    if scan.ground_truth and "image_response" in scan.ground_truth:
        gt = scan.ground_truth["image_response"][rows_of(np.asarray(scan.image_id), o_ids, scan_path, "image_id")]
        et = _unit(gt, scan_path, "ground_truth/image_response").astype(np.float64)
        out["true"] = et @ et.T
    return out


def trial_pairs(data_trials: np.ndarray, trial_oracle: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Single-trial S^data values of trial pairs of different images, and S[i, j] of their images (Fig. 1D)."""
    li, lj = trial_oracle[:, None], trial_oracle[None, :]
    mask = li < lj
    return data_trials[mask], np.broadcast_to(s[li, lj], mask.shape)[mask]


def correlations(comp: dict) -> dict:
    """r(S^data, S^oracle), r(S^model, S^oracle) and, when available, against S^true (pairs i != j)."""
    iu = np.triu_indices(len(comp["oracle_image_id"]), k=1)
    r = pearson_r
    out = {"r_data_oracle": r(*trial_pairs(comp["data_trials"], comp["trial_oracle"], comp["oracle"])),
           "r_model_oracle": r(comp["model"][iu], comp["oracle"][iu])}
    if "true" in comp:
        out["r_data_true"] = r(*trial_pairs(comp["data_trials"], comp["trial_oracle"], comp["true"]))
        out["r_model_true"] = r(comp["model"][iu], comp["true"][iu])
        out["r_oracle_true"] = r(comp["oracle"][iu], comp["true"][iu])
    return out


def build_target(target: str, out, inputs: dict[str, dict], stimuli_path, *, block_size: int = 1024,
                 seed: int = 0, scratch_dir=None) -> None:
    """Write ``results/similarity/{target}.h5`` for ``target`` in neural_model | neural_data | ground_truth | shuffle.

    ``inputs``: scan name -> {"scan": path, "reliability": path, "predictions": path} (predictions
    only for neural_model/shuffle). The unit vectors of each scan go to a scratch HDF5 store one
    scan at a time, so memory holds one scan's vectors plus the blocks being written.
    """
    from .matrix import shuffle_similarity, vector_store, write_similarity

    if target not in METHOD:
        raise ValueError(f"unknown similarity target {target!r}; expected one of {sorted(METHOD)}")
    scan_paths = {name: p["scan"] for name, p in inputs.items()}
    image_id, image_index = target_images(scan_paths, stimuli_path)
    attrs = {"target": target, "scans": list(inputs), "method": METHOD[target], "weighting": WEIGHTING[target]}
    with vector_store(scratch_dir) as store:
        for name, p in inputs.items():
            if target in ("neural_model", "shuffle"):
                e = model_vectors(p["predictions"], p["reliability"], image_id)
            elif target == "neural_data":
                e = data_vectors(p["scan"], p["reliability"], image_id)
            else:
                e = truth_vectors(p["scan"], image_id)
            store.create_dataset(name, data=e)
            del e
        vectors = [store[name] for name in inputs]
        if target == "shuffle":
            shuffle_similarity(out, vectors, image_id, image_index, attrs, seed, block_size, scratch_dir)
        else:
            write_similarity(out, vectors, image_id, image_index, attrs, block_size)
