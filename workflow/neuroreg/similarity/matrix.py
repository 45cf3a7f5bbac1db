"""Representation similarity matrices (Eq. 2, 6) and their streamed HDF5 files.

Math (section 2, 2.2 of the paper)::

    r_ai = w_a rho_ai            (Eq. 2, data: single-trial responses, w_a from Eq. 1)
    r_ai = w_a v_a rho^_ai       (Eq. 6, model: predictions, v_a = test correlation, clipped at 0)
    e_i  = (r_i - mean_i r_i) / ||r_i - mean_i r_i||      centered unit vectors
    S_ij = mean_h  e_i^h . e_j^h                          averaged over scans h

File ``results/similarity/{target}.h5``::

    similarity   (n, n)  float32  chunked (c, c), exactly symmetric, diagonal exactly 1
    image_id     (n,)    int64    stimulus ids (the once-shown images)
    image_index  (n,)    int64    row index into results/data/stimuli.h5
    permutation  (n,)    int64    shuffle target only: S_shuffle[i, j] = S[p[i], p[j]]
    attrs: target, scans (list of str), method, weighting (+ seed, block_size)

The matrix is written block pair by block pair (upper triangle, mirrored), so the
memory held is O(block * (n + d)), never n x n: the mean over scans of E_h E_h^T is
(1/H) [E_1 ... E_H][E_1 ... E_H]^T and each block is sum_h E_h[I] E_h[J]^T / H.
``vectors_per_scan`` may be numpy arrays or h5py datasets (see :func:`vector_store`),
so the vectors themselves need not be in memory either.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import h5py
import numpy as np

from ..files import InputError, atomic_output, open_h5, require_key

__all__ = ["scaled_responses", "similarity_matrix", "write_similarity", "shuffle_similarity", "read_similarity",
           "vector_store", "extreme_pairs"]

REQUIRED = ("similarity", "image_id", "image_index")
REQUIRED_ATTRS = ("target", "scans", "method", "weighting")


def scaled_responses(responses: np.ndarray, w: np.ndarray, v: np.ndarray | None = None) -> np.ndarray:
    """r_ai = w_a rho_ai (Eq. 2) or w_a v_a rho_ai (Eq. 6).

    responses: (n_images, n_neurons); w: (n_neurons,) SNR weights (Eq. 1);
    v: (n_neurons,) prediction correlations. Negative v_a (a neuron predicted worse
    than chance) are clipped to 0, so such neurons drop out instead of flipping sign.
    Returns float32 (n_images, n_neurons).
    """
    r = np.asarray(responses, dtype=np.float32)
    scale = np.asarray(w, dtype=np.float32)
    if v is not None:
        scale = scale * np.clip(np.asarray(v, dtype=np.float32), 0.0, None)
    if r.ndim != 2 or scale.shape != (r.shape[1],):
        raise ValueError(f"responses {r.shape} and weights {scale.shape} do not match (images, neurons) / (neurons,)")
    return r * scale[None, :]


def similarity_matrix(vectors_per_scan: Sequence[np.ndarray]) -> np.ndarray:
    """Dense S = mean_h E_h E_h^T for small n (tests, oracle images). (n, n) float64."""
    return np.mean([np.asarray(e, np.float64) @ np.asarray(e, np.float64).T for e in vectors_per_scan], axis=0)


def chunk_edge(block_size: int, n: int) -> int:
    """HDF5 chunk edge: the block (<= 512) or 512 when the block is a multiple of it."""
    c = block_size if (block_size <= 512 or block_size % 512) else 512
    return max(1, min(c, n))


def write_similarity(path, vectors_per_scan: Sequence, image_id, image_index, attrs: dict,
                     block_size: int = 1024, extra: dict | None = None) -> None:
    """Write S = mean_h E_h E_h^T to ``path`` atomically, block pair by block pair.

    vectors_per_scan: list of (n, d_h) arrays or h5py datasets of unit vectors (rows =
    images, the same image order in every scan). Only blocks of ``block_size`` rows are
    read at once. The upper-triangle block (I, J) is written to [I, J] and its transpose
    to [J, I] (exact symmetry); diagonal blocks are symmetrized and their diagonal set to 1.
    ``extra``: additional 1-d datasets (e.g. the shuffle permutation).
    """
    if not vectors_per_scan:
        raise ValueError("no scans: vectors_per_scan is empty")
    n = vectors_per_scan[0].shape[0]
    for h, e in enumerate(vectors_per_scan):
        if e.shape[0] != n:
            raise ValueError(f"scan {h} has {e.shape[0]} images, scan 0 has {n}: image orders must match")
    if len(image_id) != n or len(image_index) != n:
        raise ValueError(f"image_id ({len(image_id)}) / image_index ({len(image_index)}) do not match n = {n}")
    block_size = int(block_size)
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    H = len(vectors_per_scan)
    starts = list(range(0, n, block_size))
    c = chunk_edge(block_size, n)
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            ds = f.create_dataset("similarity", shape=(n, n), dtype="float32", chunks=(c, c))
            f.create_dataset("image_id", data=np.asarray(image_id, dtype=np.int64))
            f.create_dataset("image_index", data=np.asarray(image_index, dtype=np.int64))
            for k, v in (extra or {}).items():
                f.create_dataset(k, data=np.asarray(v))
            for k, v in attrs.items():
                f.attrs[k] = v
            f.attrs["block_size"] = block_size
            for a in starts:
                b = min(a + block_size, n)
                rows = [np.asarray(e[a:b], dtype=np.float32) for e in vectors_per_scan]
                for a2 in starts[starts.index(a):]:
                    b2 = min(a2 + block_size, n)
                    cols = rows if a2 == a else [np.asarray(e[a2:b2], dtype=np.float32) for e in vectors_per_scan]
                    block = np.zeros((b - a, b2 - a2), dtype=np.float32)
                    for x, y in zip(rows, cols):
                        block += x @ y.T
                    block /= H
                    if a2 == a:
                        block = (block + block.T) / 2
                        np.fill_diagonal(block, 1.0)
                        ds[a:b, a:b] = block
                    else:
                        ds[a:b, a2:b2] = block
                        ds[a2:b2, a:b] = block.T
                    del block


def shuffle_permutation(n: int, seed: int) -> np.ndarray:
    """The seeded image permutation p of the shuffle control (n,) int64."""
    return np.random.default_rng(seed).permutation(n).astype(np.int64)


def shuffle_similarity(path, vectors_per_scan: Sequence[np.ndarray], image_id, image_index, attrs: dict,
                       seed: int, block_size: int = 1024, scratch_dir=None) -> np.ndarray:
    """The shuffle control: S_shuffle[i, j] = S[p(i), p(j)] with a seeded permutation p.

    Rows and columns are permuted consistently by permuting the vectors' rows (E'_i = E_{p(i)});
    image_id/image_index keep the original order. The permuted vectors go to a scratch HDF5
    store one scan at a time. Returns p (also stored as dataset ``permutation``).
    """
    n = vectors_per_scan[0].shape[0]
    p = shuffle_permutation(n, seed)
    with vector_store(scratch_dir) as store:
        perm = []
        for h, e in enumerate(vectors_per_scan):
            store.create_dataset(str(h), data=np.asarray(e[()] if isinstance(e, h5py.Dataset) else e)[p])
            perm.append(store[str(h)])
        write_similarity(path, perm, image_id, image_index, {**attrs, "seed": int(seed)}, block_size,
                         extra={"permutation": p})
    return p


@contextlib.contextmanager
def vector_store(directory=None) -> Iterator[h5py.File]:
    """A scratch HDF5 file for unit vectors (deleted on exit): ``store.create_dataset(name, data=E)``.

    Passing ``[store[name], ...]`` to :func:`write_similarity` keeps the vectors on disk.
    """
    if directory is not None:
        Path(directory).mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(suffix=".h5", prefix=".vectors-", dir=directory)
    os.close(fd)
    f = h5py.File(name, "w")
    try:
        yield f
    finally:
        f.close()
        Path(name).unlink(missing_ok=True)


@dataclass
class SimilarityTarget:
    similarity: np.ndarray | None  # (n, n) float32, None when read with load=False
    image_id: np.ndarray
    image_index: np.ndarray
    attrs: dict


def read_similarity(path, *, load: bool = True, check_symmetry: bool = True, block_size: int = 2048) -> SimilarityTarget:
    """Read and validate a similarity file (schema: module docstring); InputError on any violation.

    Symmetry, finiteness and the unit diagonal are checked block by block.
    """
    with open_h5(path) as f:
        for key in REQUIRED:
            require_key(f, key, path)
        ds = f["similarity"]
        if ds.ndim != 2 or ds.shape[0] != ds.shape[1]:
            raise InputError(path, "similarity", f"expected a square (n, n) matrix, got shape {ds.shape}")
        n = ds.shape[0]
        if ds.dtype != np.float32:
            raise InputError(path, "similarity", f"expected float32, got {ds.dtype}")
        ids, index = f["image_id"][()], f["image_index"][()]
        for key, arr in (("image_id", ids), ("image_index", index)):
            if arr.shape != (n,):
                raise InputError(path, key, f"expected shape ({n},) to match similarity, got {arr.shape}")
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
        missing = [k for k in REQUIRED_ATTRS if k not in attrs]
        if missing:
            raise InputError(path, "attrs", f"missing attributes {missing}")
        attrs["scans"] = [s.decode() if isinstance(s, bytes) else str(s) for s in np.atleast_1d(attrs["scans"])]
        full = ds[()] if load else None
        if check_symmetry:
            for a in range(0, n, block_size):
                b = min(a + block_size, n)
                rows = full[a:b] if full is not None else ds[a:b]
                if not np.isfinite(rows).all():
                    raise InputError(path, "similarity", f"non-finite values in rows {a}:{b}")
                if not (np.diagonal(rows[:, a:b]) == 1).all():
                    raise InputError(path, "similarity", f"diagonal is not exactly 1 in rows {a}:{b}")
                for a2 in range(a + block_size, n, block_size):
                    b2 = min(a2 + block_size, n)
                    other = full[a2:b2, a:b] if full is not None else ds[a2:b2, a:b]
                    if not np.array_equal(rows[:, a2:b2], other.T):
                        raise InputError(path, "similarity", f"not symmetric (rows {a}:{b}, columns {a2}:{b2})")
                if not np.array_equal(rows[:, a:b], rows[:, a:b].T):
                    raise InputError(path, "similarity", f"not symmetric in the diagonal block {a}:{b}")
    return SimilarityTarget(full, ids, index, attrs)


def extreme_pairs(path, k: int = 3, block_size: int = 256) -> tuple[list, list]:
    """The ``k`` least and ``k`` most similar pairs i < j of a similarity file (Fig. 2), streamed by row blocks.

    Returns (low, high): lists of (i, j, S_ij), rows as in the file; greedy so that no image
    appears in two pairs of the same list.
    """
    m = 20 * k
    cand_lo, cand_hi = [], []
    with open_h5(path) as f:
        ds = require_key(f, "similarity", path)
        n = ds.shape[0]
        for a in range(0, n, block_size):
            rows = ds[a:a + block_size].astype(np.float64)
            i, j = np.nonzero(np.arange(n)[None, :] > np.arange(a, a + len(rows))[:, None])
            v = rows[i, j]
            for cand, sel in ((cand_lo, np.argsort(v)[:m]), (cand_hi, np.argsort(-v)[:m])):
                cand.extend(zip((i[sel] + a).tolist(), j[sel].tolist(), v[sel].tolist()))

    def pick(cands, reverse):
        used, out = set(), []
        for i, j, s in sorted(cands, key=lambda t: t[2], reverse=reverse):
            if i not in used and j not in used:
                out.append((i, j, s))
                used |= {i, j}
            if len(out) == k:
                break
        return out

    return pick(cand_lo, False), pick(cand_hi, True)
