"""Files of stage 2: per-scan reliability, fluctuations across scans, the oracle image order.

Schemas (also in the README)::

    results/reliability/{scan}.h5
        neuron_id            (n_neurons,)  int64
        signal_strength      (n_neurons,)  float64  sigma_a (Eq. 1)
        noise_strength       (n_neurons,)  float64  eta_a (Eq. 1)
        snr_weight           (n_neurons,)  float64  w_a = sigma_a / eta_a (Eq. 1), 0 for dead traces
        oracle_correlation   (n_neurons,)  float64  leave-one-out
        explainable_variance (n_neurons,)  float64  in [0, 1]
        true_snr             (n_neurons,)  float64  virtual scans only (ground_truth/snr)
        oracle_image_id      (n_oracle,)   int64    image_id of the oracle images, ascending
        oracle_repeats       (n_oracle,)   int64
        oracle_similarity    (n_oracle, n_oracle) float64  S^oracle (Eq. 3), rows as oracle_image_id
        delta_repeat         (n_pairs,)    float64  Delta S^repeat (Eq. 5), pairs t1 < t2 image by image
        attrs: scan, source, n_neurons, n_oracle, n_zero_weight, noise_floor
    results/reliability/{scan}.csv   one row per neuron: the (n_neurons,) datasets above

    results/reliability/fluctuations.h5
        scans         (h,) bytes     the scans sharing oracle images (the group of Eq. 4)
        image_id      (n,) int64     their common oracle images, ascending
        oracle_similarity (h, n, n)  S^oracle of each of them on those images
        delta_scan    (h, n(n-1)/2)  Eq. 4 over pairs i < j; shape (0, 0) when skipped
        delta_repeat/{scan} (pairs,) Eq. 5 for every scan
        attrs: status ("ok" | "skipped"), reason, all_scans, sd_scan, sd_repeat (pooled over `scans`)
    results/reliability/oracle_order.csv   columns rank, image_id: the display order of the
        group's common oracle images (hierarchical clustering of their scan-mean S^oracle)
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from ..ingest.scan import Scan, read_scan, validate
from ..files import InputError, atomic_output, open_h5, require_key
from . import oracle as rel

NEURON_COLUMNS = ("signal_strength", "noise_strength", "snr_weight", "oracle_correlation", "explainable_variance")
MIN_SHARED_IMAGES = 2  # Eq. 4 needs at least one image pair


def scan_reliability(scan: Scan, path=None, *, min_repeats: int = 2) -> dict:
    """Everything of ``results/reliability/{scan}.h5`` for one scan, as a dict of arrays."""
    validate(scan, path, min_repeats=min_repeats)
    idx, trials = scan.oracle_responses()
    ids = np.asarray(scan.image_id)[idx].astype(np.int64)
    if len(np.unique(ids)) != len(ids):
        raise InputError(path, "image_id", "oracle images share an image_id: ids must identify stimuli uniquely")
    order = np.argsort(ids, kind="stable")
    trials = [trials[k] for k in order]
    w = rel.snr_weights(trials)
    out = {
        "neuron_id": np.asarray(scan.neuron_id, dtype=np.int64),
        "signal_strength": rel.signal_strength(trials),
        "noise_strength": rel.noise_strength(trials),
        "snr_weight": w,
        "oracle_correlation": rel.oracle_correlation(trials),
        "explainable_variance": rel.explainable_variance(trials),
        "oracle_image_id": ids[order],
        "oracle_repeats": np.array([len(t) for t in trials], dtype=np.int64),
        "oracle_similarity": rel.oracle_similarity(trials, w),
        "delta_repeat": rel.delta_repeat(trials, w),
    }
    if scan.ground_truth and "snr" in scan.ground_truth:
        out["true_snr"] = np.asarray(scan.ground_truth["snr"], dtype=np.float64)
    return out


def write_reliability(result: dict, h5_path, csv_path, attrs: dict | None = None) -> None:
    """Write a :func:`scan_reliability` result to its HDF5 and CSV files, atomically."""
    with atomic_output(h5_path) as tmp:
        with h5py.File(tmp, "w") as f:
            for k, v in result.items():
                f.create_dataset(k, data=v)
            for k, v in (attrs or {}).items():
                f.attrs[k] = v
            f.attrs["n_neurons"] = len(result["neuron_id"])
            f.attrs["n_oracle"] = len(result["oracle_image_id"])
            f.attrs["n_zero_weight"] = int((result["snr_weight"] == 0).sum())
            f.attrs["noise_floor"] = rel.NOISE_FLOOR
    columns = ["neuron_id", *NEURON_COLUMNS] + (["true_snr"] if "true_snr" in result else [])
    with atomic_output(csv_path) as tmp:
        pd.DataFrame({c: result[c] for c in columns}).to_csv(tmp, index=False, float_format="%.6g")


def run_reliability(scan_path, h5_path, csv_path, *, min_repeats: int = 2, name: str | None = None) -> dict:
    """The ``reliability`` rule: ``results/scans/{scan}.h5`` -> reliability HDF5 + CSV."""
    scan = read_scan(scan_path)
    result = scan_reliability(scan, scan_path, min_repeats=min_repeats)
    attrs = {"scan": name or Path(scan_path).stem, "source": str(scan.attrs.get("source", ""))}
    write_reliability(result, h5_path, csv_path, attrs)
    return result


def read_reliability(path) -> dict:
    """Read ``results/reliability/{scan}.h5`` into a dict of arrays (+ ``attrs``)."""
    with open_h5(path) as f:
        out = {k: require_key(f, k, path)[()] for k in ("neuron_id", *NEURON_COLUMNS, "oracle_image_id",
                                                        "oracle_repeats", "oracle_similarity", "delta_repeat")}
        if "true_snr" in f:
            out["true_snr"] = f["true_snr"][()]
        out["attrs"] = dict(f.attrs)
    return out


# ---------------------------------------------------------------- across scans (Eq. 4)


def shared_group(image_ids: dict[str, np.ndarray], *, min_shared: int = MIN_SHARED_IMAGES):
    """The largest group of scans that share at least ``min_shared`` oracle images.

    Greedy and deterministic: each scan in turn seeds a group, the other scans
    join (in the given order) while the common image set keeps ``min_shared``
    images; the group with most scans (then most images, then first seed) wins.
    Returns ``(scans, common_image_ids)`` (ascending ids); a single scan when
    none share images.
    """
    names = list(image_ids)
    best = None
    for seed in names:
        group, common = [seed], np.unique(image_ids[seed])
        for other in names:
            if other == seed:
                continue
            c = np.intersect1d(common, image_ids[other])
            if len(c) >= min_shared:
                group, common = group + [other], c
        key = (len(group), len(common))
        if best is None or key > best[0]:
            best = (key, sorted(group, key=names.index), common)
    return best[1], best[2]


def restrict(s: np.ndarray, ids: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """S^oracle (n, n) with rows/columns ``ids`` restricted to the images ``keep`` (in that order)."""
    pos = np.searchsorted(ids, keep)
    return s[np.ix_(pos, pos)]


def oracle_order(s_mean: np.ndarray) -> np.ndarray:
    """Display order of images: leaves of an average-linkage clustering of the rows of S (n, n)."""
    from scipy.cluster.hierarchy import leaves_list, linkage

    if len(s_mean) < 3:
        return np.arange(len(s_mean))
    return leaves_list(linkage(s_mean, method="average", metric="euclidean", optimal_ordering=True))


def fluctuations(results: dict[str, dict]) -> dict:
    """Eq. 4 over the scans sharing oracle images, Eq. 5 for every scan, and the display order."""
    scans, common = shared_group({s: r["oracle_image_id"] for s, r in results.items()})
    s_group = np.stack([restrict(results[s]["oracle_similarity"], results[s]["oracle_image_id"], common)
                        for s in scans])
    out = {"scans": scans, "image_id": common, "oracle_similarity": s_group,
           "delta_repeat": {s: r["delta_repeat"] for s, r in results.items()},
           "order": oracle_order(s_group.mean(axis=0)), "all_scans": list(results)}
    if len(scans) >= 2:
        out["delta_scan"], out["status"], out["reason"] = rel.delta_scan(s_group), "ok", ""
    else:
        out["delta_scan"], out["status"] = np.zeros((0, 0)), "skipped"
        out["reason"] = (f"fewer than 2 scans share at least {MIN_SHARED_IMAGES} oracle images "
                         f"(scans: {list(results)}): Delta S^scan (Eq. 4) is undefined")
    return out


def pooled_delta_repeat(fl: dict) -> np.ndarray:
    """Delta S^repeat pooled over the scans of Eq. 4 (over every scan when Eq. 4 was skipped)."""
    scans = fl["scans"] if np.size(fl["delta_scan"]) else list(fl["delta_repeat"])
    return np.concatenate([fl["delta_repeat"][s] for s in scans])


def write_fluctuations(fl: dict, h5_path, order_csv) -> None:
    """Write :func:`fluctuations` to ``fluctuations.h5`` and ``oracle_order.csv``, atomically."""
    repeat = pooled_delta_repeat(fl)
    with atomic_output(h5_path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("scans", data=np.array([s.encode() for s in fl["scans"]]))
            f.create_dataset("image_id", data=np.asarray(fl["image_id"], dtype=np.int64))
            f.create_dataset("oracle_similarity", data=fl["oracle_similarity"])
            f.create_dataset("delta_scan", data=fl["delta_scan"])
            for s, d in fl["delta_repeat"].items():
                f.create_dataset(f"delta_repeat/{s}", data=d)
            f.attrs["status"], f.attrs["reason"] = fl["status"], fl["reason"]
            f.attrs["all_scans"] = [s.encode() for s in fl["all_scans"]]
            f.attrs["sd_scan"] = float(fl["delta_scan"].std()) if fl["delta_scan"].size else np.nan
            f.attrs["sd_repeat"] = float(repeat.std())
    with atomic_output(order_csv) as tmp:
        ids = np.asarray(fl["image_id"])[fl["order"]]
        pd.DataFrame({"rank": np.arange(len(ids)), "image_id": ids}).to_csv(tmp, index=False)


def read_fluctuations(path) -> dict:
    """Read ``fluctuations.h5`` back (arrays + attrs)."""
    with open_h5(path) as f:
        out = {k: require_key(f, k, path)[()] for k in ("scans", "image_id", "oracle_similarity", "delta_scan")}
        out["scans"] = [s.decode() for s in out["scans"]]
        out["delta_repeat"] = {s: f["delta_repeat"][s][()] for s in f["delta_repeat"]} if "delta_repeat" in f else {}
        out["attrs"] = {k: v for k, v in f.attrs.items()}
    return out


def run_fluctuations(reliability_paths: dict[str, os.PathLike], h5_path, order_csv) -> dict:
    """The ``fluctuations`` rule: every scan's reliability file -> fluctuations.h5 + oracle_order.csv."""
    fl = fluctuations({s: read_reliability(p) for s, p in reliability_paths.items()})
    write_fluctuations(fl, h5_path, order_csv)
    return fl
