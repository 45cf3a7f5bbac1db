"""Antolik et al. 2016 mouse V1 recordings (one imaging region) -> the canonical scan.

Region folder: ``raw_validation_set.npy`` (repeats, images, neurons) float64 single
trials, ``validation_inputs.npy`` (images, 961) = 31 x 31 stimuli stored as pixel / 1e6.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..files import InputError
from .scan import Scan, validate
from .trials import stable_image_id


def read_antolik2016(path, *, min_repeats: int = 2) -> Scan:
    """One region of Antolik et al. 2016 (folder with ``raw_validation_set.npy``
    (repeats, images, neurons) and ``validation_inputs.npy`` (images, 961) = 31 x 31
    stimuli stored as pixel / 1e6).

    Every image is an oracle image: trials are repeat-major (trial = r * n_images + i),
    all in tier ``test``; no behaviour was recorded (zeros, ``has_behavior=False``).
    Pixels are rescaled to uint8 (round(x * 1e6)), kept at 31 x 31 (row-major).
    ``image_id`` is :func:`stable_image_id` of the pixels, so regions 1 and 2, which
    saw the same images, share ids (Eq. 4 matches images across scans by id).
    """
    path = Path(path)
    if not path.is_dir():
        raise InputError(path, None, "does not exist" if not path.exists() else "expected a region folder")
    raw_file, inp_file = path / "raw_validation_set.npy", path / "validation_inputs.npy"
    raw = _load_npy(raw_file, "raw_validation_set")
    inputs = _load_npy(inp_file, "validation_inputs")
    if raw.ndim != 3:
        raise InputError(raw_file, "raw_validation_set", f"expected (repeats, images, neurons), got shape {raw.shape}")
    n_rep, n_img, n_neu = raw.shape
    if inputs.ndim != 2 or inputs.shape[0] != n_img:
        raise InputError(inp_file, "validation_inputs", f"expected ({n_img}, pixels) to match the {n_img} images of "
                         f"raw_validation_set.npy, got shape {inputs.shape}")
    side = int(round(np.sqrt(inputs.shape[1])))
    if side * side != inputs.shape[1]:
        raise InputError(inp_file, "validation_inputs", f"{inputs.shape[1]} pixels per image is not a square image")
    raw = raw.astype(np.float64)
    if not np.isfinite(raw).all():
        first = np.unravel_index(np.flatnonzero(~np.isfinite(raw))[0], raw.shape)
        raise InputError(raw_file, "raw_validation_set", f"{int((~np.isfinite(raw)).sum())} non-finite values "
                         f"(NaN or inf), first at (repeat, image, neuron) {tuple(int(i) for i in first)}")
    pix = np.asarray(inputs, np.float64) * 1e6
    if not np.isfinite(pix).all() or pix.min() < -0.5 or pix.max() > 255.5 or np.abs(pix - np.round(pix)).max() > 1e-3:
        raise InputError(inp_file, "validation_inputs", "expected pixel values / 1e6 (0 .. 0.000255); got range "
                         f"[{np.nanmin(inputs):.3g}, {np.nanmax(inputs):.3g}]")
    images = np.round(pix).astype(np.uint8).reshape(n_img, side, side)
    ids = np.array([stable_image_id(im) for im in images], dtype=np.int64)
    if len(np.unique(ids)) != n_img:
        raise InputError(inp_file, "validation_inputs", "some images are identical: each image must appear once")
    m = re.search(r"(\d+)$", path.name)
    region = int(m.group(1)) if m else 0
    n_trials = n_rep * n_img
    scan = Scan(
        images=images, image_id=ids,
        responses=raw.reshape(n_trials, n_neu).astype(np.float32),
        trial_image=np.tile(np.arange(n_img, dtype=np.int64), n_rep),
        behavior=np.zeros((n_trials, 3), np.float32), pupil_center=np.zeros((n_trials, 2), np.float32),
        tier=np.full(n_trials, "test"), neuron_id=np.arange(n_neu, dtype=np.int64),
        attrs={"source": "antolik2016", "animal": region, "session": region, "scan": region,
               "source_path": str(path), "has_behavior": False},
    )
    if n_rep < 2:
        raise InputError(raw_file, "raw_validation_set", f"only {n_rep} repeat: oracle (repeated) images are "
                         "needed to estimate signal and noise (Eq. 1)")
    return validate(scan, raw_file, min_repeats=min_repeats)


def _load_npy(file: Path, key: str) -> np.ndarray:
    if not file.exists():
        raise InputError(file, key, "file does not exist (required)")
    try:
        return np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(file, key, f"not a readable .npy file (corrupt or truncated?): {err}") from err
