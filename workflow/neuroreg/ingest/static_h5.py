"""The sinzlab / neuralpredictors "static" HDF5 file -> the canonical scan."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import InputError, open_h5, require_key
from .scan import Scan
from .trials import assemble_trials, neuron_attrs


def read_static_h5(path, *, min_repeats: int = 2) -> Scan:
    """neuralpredictors "static" HDF5: ``images`` (n, 1, h, w) or (n, h, w), ``responses``
    (n, neurons), ``behavior`` (n, 3), ``pupil_center`` (n, 2), ``tiers`` (n,),
    ``item_info/frame_image_id`` (n,), ``neurons/unit_ids`` (neurons,) (+ optional
    ``neurons/animal_ids``, ``neurons/sessions``, ``neurons/scan_idx`` -> attrs)."""
    path = Path(path)
    with open_h5(path) as f:
        def read(key):
            ds = require_key(f, key, path)
            try:
                return ds[()]
            except (OSError, KeyError) as err:
                raise InputError(path, key, f"cannot be read (corrupt or truncated file?): {err}") from err

        arrays = {k: read(k) for k in ("responses", "behavior", "pupil_center", "tiers")}
        frame_image_id = read("item_info/frame_image_id")
        unit_ids = read("neurons/unit_ids")
        meta = {k: read(f"neurons/{k}") for k in ("animal_ids", "sessions", "scan_idx") if f"neurons/{k}" in f}
        images_ds = require_key(f, "images", path)
        if images_ds.shape[0] != len(frame_image_id):
            raise InputError(path, "images", f"{images_ds.shape[0]} trials, but item_info/frame_image_id has "
                             f"{len(frame_image_id)}")

        def load_images(idx):
            order = np.argsort(idx)  # h5py fancy indexing needs increasing indices
            try:
                sorted_images = images_ds[np.asarray(idx)[order]]
            except (OSError, KeyError) as err:
                raise InputError(path, "images", f"cannot be read (corrupt or truncated file?): {err}") from err
            out = np.empty_like(sorted_images)
            out[order] = sorted_images
            return out

        keys = {"responses": "responses", "behavior": "behavior", "pupil_center": "pupil_center", "tiers": "tiers",
                "frame_image_id": "item_info/frame_image_id", "neuron_id": "neurons/unit_ids", "images": "images"}
        return assemble_trials(
            path, frame_image_id=frame_image_id, neuron_id=unit_ids, load_images=load_images, keys=keys,
            attrs={"source": "static_h5", "source_path": str(path), **neuron_attrs(meta)},
            min_repeats=min_repeats, **arrays)
