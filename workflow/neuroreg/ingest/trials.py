"""What the trial-based readers share (static_h5, sensorium): per-trial arrays -> the canonical scan.

Trial-based sources store one image per trial; the canonical scan stores each distinct image
once. :func:`assemble_trials` builds the image set from ``frame_image_id`` (one image per id,
taken from the first trial that shows it, ids sorted ascending) and ``trial_image`` (index of
each trial's image). Tiers are mapped to train / validation / test (:func:`canonical_tier`).
Trials of a *test* tier whose responses are NaN (Sensorium withholds the competition test
responses) are dropped with a warning; NaN/inf anywhere else is an :class:`InputError`.
:func:`stable_image_id` gives content-derived ids (Antolik 2016 uses it too).
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from ..files import InputError
from .scan import Scan, validate

log = logging.getLogger(__name__)


def canonical_tier(value, path=None, key: str = "tiers") -> str:
    """Map a source tier to the canonical one: 'train' -> train; 'val', 'valid',
    'validation' -> validation; any tier containing 'test' ('test', 'final_test',
    'live_test', ...) -> test. Anything else is an :class:`InputError`."""
    t = (value.decode() if isinstance(value, bytes) else str(value)).strip().lower()
    if t == "train":
        return "train"
    if t in ("val", "valid", "validation"):
        return "validation"
    if "test" in t:
        return "test"
    raise InputError(path, key, f"unknown tier {t!r}; expected train, validation/val, or a *test* tier")


def stable_image_id(pixels: np.ndarray) -> int:
    """A content-derived int64 id (>= 0): the first 8 bytes of BLAKE2b over the
    shape and uint8 pixel bytes. Identical images get identical ids in every scan."""
    arr = np.ascontiguousarray(pixels)
    h = hashlib.blake2b(digest_size=8)
    h.update(repr((arr.shape, arr.dtype.str)).encode())
    h.update(arr.tobytes())
    return int.from_bytes(h.digest(), "little") & 0x7FFF_FFFF_FFFF_FFFF


def _image_ids(ids, path, key) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise InputError(path, key, f"expected one image id per trial (n,), got shape {ids.shape}")
    if np.issubdtype(ids.dtype, np.integer):
        return ids.astype(np.int64)
    if np.issubdtype(ids.dtype, np.floating):
        if not np.isfinite(ids).all() or (ids != np.round(ids)).any():
            raise InputError(path, key, "image ids must be finite integers")
        return ids.astype(np.int64)
    if ids.dtype.kind in "SUO":  # string ids (e.g. condition hashes): stable int64 by hashing
        return np.array([stable_image_id(np.frombuffer(str(i.decode() if isinstance(i, bytes) else i).encode(),
                                                       np.uint8)) for i in ids], dtype=np.int64)
    raise InputError(path, key, f"unsupported dtype {ids.dtype} for image ids")


def assemble_trials(path, *, frame_image_id, responses, behavior, pupil_center, tiers, neuron_id,
                    load_images, attrs: dict, keys: dict, min_repeats: int = 2) -> Scan:
    """Build a canonical scan from per-trial arrays (n_trials first).

    ``load_images(trial_indices)`` returns the images of those trials as
    (k, 1, h, w) or (k, h, w); it is called once, with the first trial of each
    distinct image. ``keys`` names each array in the source (for error messages).
    """
    frame_image_id = _image_ids(frame_image_id, path, keys["frame_image_id"])
    n = len(frame_image_id)
    arrays = {"responses": responses, "behavior": behavior, "pupil_center": pupil_center, "tiers": tiers}
    widths = {"behavior": 3, "pupil_center": 2}
    for name, arr in arrays.items():
        if len(arr) != n:
            raise InputError(path, keys[name], f"{len(arr)} trials, but {keys['frame_image_id']} has {n}: "
                             "every per-trial array needs the same number of trials")
        if name in widths and np.shape(arr)[1:] != (widths[name],):
            raise InputError(path, keys[name], f"expected shape ({n}, {widths[name]}), got {np.shape(arr)}")
    responses = np.asarray(responses)
    if responses.ndim != 2:
        raise InputError(path, keys["responses"], f"expected (trials, neurons), got shape {responses.shape}")
    if len(neuron_id) != responses.shape[1]:
        raise InputError(path, keys["neuron_id"], f"{len(neuron_id)} neurons, but {keys['responses']} has "
                         f"{responses.shape[1]} columns")
    tier = np.array([canonical_tier(t, path, keys["tiers"]) for t in tiers])
    raw_tiers = np.array([t.decode() if isinstance(t, bytes) else str(t) for t in tiers])

    keep = np.ones(n, bool)
    bad = ~np.isfinite(responses).all(axis=1)
    if bad.any():
        withheld = bad & (tier == "test")
        if (bad & ~withheld).any():
            i = int(np.flatnonzero(bad & ~withheld)[0])
            raise InputError(path, keys["responses"], f"{int((bad & ~withheld).sum())} {tier[i]}-tier trials with "
                             f"non-finite responses (NaN or inf), first at trial {i}")
        log.warning("%s: %s: dropping %d %s trials whose responses are NaN (withheld test responses)",
                    path, keys["responses"], int(withheld.sum()), sorted(map(str, set(raw_tiers[withheld]))))
        keep &= ~withheld
        if not keep.any():
            raise InputError(path, keys["responses"], "every trial has non-finite responses")
    for name in ("behavior", "pupil_center"):
        arr = np.asarray(arrays[name], dtype=np.float64)[keep]
        if not np.isfinite(arr).all():
            i = int(np.flatnonzero(keep)[np.flatnonzero(~np.isfinite(arr).all(axis=1))[0]])
            raise InputError(path, keys[name], f"non-finite values (NaN or inf), first at trial {i}")

    kept = np.flatnonzero(keep)
    ids, first, trial_image = np.unique(frame_image_id[kept], return_index=True, return_inverse=True)
    images = np.asarray(load_images(kept[first]))
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    if images.ndim != 3:
        raise InputError(path, keys["images"], f"expected (n, 1, h, w) or (n, h, w) images, got shape {images.shape}")
    if images.dtype != np.uint8:
        images = images.astype(np.float32)
        if not np.isfinite(images).all():
            raise InputError(path, keys["images"], "non-finite pixel values (NaN or inf)")
    n_dropped = n - len(kept)
    reps = np.bincount(trial_image, minlength=len(ids))
    if not (reps > 1).any():
        hint = f" ({n_dropped} test trials with withheld responses were dropped)" if n_dropped else ""
        raise InputError(path, keys["frame_image_id"], "no image is shown more than once: oracle (repeated) images "
                         f"are needed to estimate signal and noise (Eq. 1){hint}")
    scan = Scan(
        images=images,
        image_id=ids.astype(np.int64),
        responses=responses[kept].astype(np.float32),
        trial_image=trial_image.reshape(-1).astype(np.int64),
        behavior=np.asarray(behavior, dtype=np.float32)[kept],
        pupil_center=np.asarray(pupil_center, dtype=np.float32)[kept],
        tier=tier[kept],
        neuron_id=np.asarray(neuron_id).astype(np.int64),
        attrs={"has_behavior": True, "n_dropped_trials": n_dropped, **attrs},
    )
    return validate(scan, path, min_repeats=min_repeats)


def neuron_attrs(meta: dict) -> dict:
    """animal / session / scan attributes from per-neuron arrays (animal_ids, sessions, scan_idx)."""
    out = {}
    for src, dst in (("animal_ids", "animal"), ("sessions", "session"), ("scan_idx", "scan")):
        if src in meta:
            vals = np.unique(np.asarray(meta[src]).reshape(-1))
            vals = [v.decode() if isinstance(v, bytes) else v.item() if isinstance(v, np.generic) else v for v in vals]
            out[dst] = vals[0] if len(vals) == 1 else ",".join(map(str, vals))
    return out
