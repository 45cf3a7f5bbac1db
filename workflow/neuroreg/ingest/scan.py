"""The canonical scan: one HDF5 file per two-photon scan, whatever the source.

Schema of ``results/scans/{scan}.h5`` (also in docs/STAGES.md, "Stage by stage")::

    images        (n_images, H, W)   float32 or uint8   the stimuli shown (default 36 x 64)
    image_id      (n_images,)        int64    stimulus identity shared across scans
    responses     (n_trials, n_neurons) float32  single-trial responses (>= 0 for calcium data)
    trial_image   (n_trials,)        int64    index into ``images``
    behavior      (n_trials, 3)      float32  pupil size, its derivative, running speed
    pupil_center  (n_trials, 2)      float32  eye position (x, y)
    tier          (n_trials,)        bytes    b"train" | b"validation" | b"test"
    neuron_id     (n_neurons,)       int64
    attrs: source, animal, session, scan, source_path, has_behavior (bool)

    ground_truth/ (optional; the virtual experiment only)
        image_response (n_images, n_neurons)  noise-free response, behaviour at its mean, eye centred
        trial_mean     (n_trials, n_neurons)  expected response of each trial (its behaviour and eye)
        snr            (n_neurons,)           the true sigma_a / eta_a on the oracle images (shared noise included)
        latent         (n_trials, K)          the latent factors x_t of shared variability (neuroreg.virtual_scan)
        latent_internal (n_trials, K)         their part that no recorded behaviour explains
        latent_gain_loading, latent_additive_loading (n_neurons, K)  per-neuron loadings M_a, L_a

Oracle images are the images shown more than once; their trials form the
``test`` tier.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from ..files import InputError, atomic_output, open_h5, require_finite, require_key

TIERS = ("train", "validation", "test")
REQUIRED = ("images", "image_id", "responses", "trial_image", "behavior", "pupil_center", "tier", "neuron_id")


@dataclass
class Scan:
    """An in-memory canonical scan. Arrays follow the module docstring's shapes."""

    images: np.ndarray
    responses: np.ndarray
    trial_image: np.ndarray
    behavior: np.ndarray
    pupil_center: np.ndarray
    tier: np.ndarray
    neuron_id: np.ndarray
    image_id: np.ndarray | None = None
    attrs: dict = field(default_factory=dict)
    ground_truth: dict | None = None

    def __post_init__(self):
        if self.image_id is None:
            self.image_id = np.arange(len(self.images), dtype=np.int64)
        self.tier = np.asarray([t.decode() if isinstance(t, bytes) else str(t) for t in self.tier])

    @property
    def n_trials(self) -> int:
        return self.responses.shape[0]

    @property
    def n_neurons(self) -> int:
        return self.responses.shape[1]

    def repeats_per_image(self) -> np.ndarray:
        """(n_images,) how often each image was shown."""
        return np.bincount(self.trial_image, minlength=len(self.images))

    def oracle_images(self) -> np.ndarray:
        """Indices of the images shown more than once (the oracle images)."""
        return np.flatnonzero(self.repeats_per_image() > 1)

    def oracle_responses(self) -> tuple[np.ndarray, np.ndarray]:
        """Responses of the oracle images as a list of (repeats, neurons) arrays, one per image.

        Returns ``(oracle_image_indices, responses)`` where ``responses[k]`` has
        shape (repeats_k, n_neurons). Repeat counts may differ between images.
        """
        idx = self.oracle_images()
        return idx, [self.responses[self.trial_image == i] for i in idx]


def validate(scan: Scan, path: str | os.PathLike | None = None, *, min_repeats: int = 2) -> Scan:
    """Check shapes, values and oracle repeats; raise :class:`InputError` naming the problem."""
    n_trials, n_neurons = _shape2(scan.responses, path, "responses")
    if scan.images.ndim != 3:
        raise InputError(path, "images", f"expected (n_images, height, width), got shape {scan.images.shape}")
    n_images = scan.images.shape[0]
    for key, arr, shape in (
        ("trial_image", scan.trial_image, (n_trials,)),
        ("behavior", scan.behavior, (n_trials, 3)),
        ("pupil_center", scan.pupil_center, (n_trials, 2)),
        ("tier", scan.tier, (n_trials,)),
        ("neuron_id", scan.neuron_id, (n_neurons,)),
        ("image_id", scan.image_id, (n_images,)),
    ):
        if tuple(np.shape(arr)) != shape:
            raise InputError(path, key, f"expected shape {shape}, got {tuple(np.shape(arr))}")
    for key in ("images", "responses", "behavior", "pupil_center"):
        require_finite(getattr(scan, key), path, key)
    ti = np.asarray(scan.trial_image)
    if not np.issubdtype(ti.dtype, np.integer):
        raise InputError(path, "trial_image", f"expected integer indices, got dtype {ti.dtype}")
    if n_trials and (ti.min() < 0 or ti.max() >= n_images):
        raise InputError(path, "trial_image", f"indices must lie in [0, {n_images}), got [{ti.min()}, {ti.max()}]")
    bad_tiers = sorted(set(np.unique(scan.tier)) - set(TIERS))
    if bad_tiers:
        raise InputError(path, "tier", f"unknown tier values {bad_tiers}; allowed: {list(TIERS)}")
    if len(np.unique(scan.neuron_id)) != n_neurons:
        raise InputError(path, "neuron_id", "neuron ids are not unique")
    reps = scan.repeats_per_image()
    if not (reps > 1).any():
        raise InputError(path, "trial_image", "no image is shown more than once: oracle (repeated) images are needed "
                         "to estimate signal and noise (Eq. 1)")
    oracle_reps = reps[reps > 1]
    if oracle_reps.min() < min_repeats:
        raise InputError(path, "trial_image", f"oracle images need at least {min_repeats} repeats, "
                         f"the fewest is {oracle_reps.min()}")
    return scan


def _shape2(arr, path, key):
    if np.ndim(arr) != 2:
        raise InputError(path, key, f"expected a 2-d array (trials, neurons), got shape {np.shape(arr)}")
    return np.shape(arr)


def write_scan(scan: Scan, path: str | os.PathLike) -> None:
    """Validate ``scan`` and write it to ``path`` atomically (see module docstring)."""
    validate(scan, path)
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            images = scan.images if scan.images.dtype == np.uint8 else scan.images.astype(np.float32)
            f.create_dataset("images", data=images, compression="gzip", compression_opts=4)
            f.create_dataset("image_id", data=np.asarray(scan.image_id, dtype=np.int64))
            # byte-shuffle + fast gzip: float32 noise barely compresses at higher levels
            f.create_dataset("responses", data=np.asarray(scan.responses, dtype=np.float32),
                             compression="gzip", compression_opts=1, shuffle=True)
            f.create_dataset("trial_image", data=np.asarray(scan.trial_image, dtype=np.int64))
            f.create_dataset("behavior", data=np.asarray(scan.behavior, dtype=np.float32))
            f.create_dataset("pupil_center", data=np.asarray(scan.pupil_center, dtype=np.float32))
            f.create_dataset("tier", data=np.asarray([t.encode() for t in scan.tier], dtype="S10"))
            f.create_dataset("neuron_id", data=np.asarray(scan.neuron_id, dtype=np.int64))
            for k, v in scan.attrs.items():
                f.attrs[k] = v
            if scan.ground_truth:
                g = f.create_group("ground_truth")
                for k, v in scan.ground_truth.items():
                    g.create_dataset(k, data=np.asarray(v, dtype=np.float32),
                                     compression="gzip", compression_opts=1, shuffle=True)


def read_scan(path: str | os.PathLike, *, ground_truth: bool = True) -> Scan:
    """Read and validate a canonical scan file; errors name the file and key."""
    path = Path(path)
    with open_h5(path) as f:
        arrays = {}
        for key in REQUIRED:
            ds = require_key(f, key, path)
            try:
                arrays[key] = ds[()]
            except OSError as err:
                raise InputError(path, key, f"cannot be read (corrupt or truncated file?): {err}") from err
        attrs = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
        gt = None
        if ground_truth and "ground_truth" in f:
            gt = {k: f["ground_truth"][k][()] for k in f["ground_truth"]}
    scan = Scan(attrs=attrs, ground_truth=gt, **arrays)
    return validate(scan, path)
