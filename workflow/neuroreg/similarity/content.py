"""Similarity targets from the stimuli alone: the feature similarity of a fixed function of the images, with no brain
data, in the schema of every other target (``results/<run>/similarity/{target}.h5``, :mod:`.matrix`).

* ``pixel``: the centred cosine similarity (Eq. 9) of the stimuli as the CNN receives them, pixel by pixel
  (Attias, Pehlevan and Obeid 2024 used the raw pixels' similarity in place of S^neural). The network's own input
  normalisation (one mean and one sd for every pixel) changes nothing: the centring removes the shift and the cosine
  the scale.
* ``random_network``: the same similarity of an untrained network's features: the co-trained architecture
  (``cotrain.arch``, ``cotrain.width``) initialised at a fixed seed, in eval mode (BatchNorm at its initial
  statistics, so an identity up to its epsilon), its feature of conv layer ``similarity.random_network.layer``
  (default 9, the end of the second stage, the middle of Eq. 10's five). A content target with no learning.
* ``vgg`` (:mod:`.vgg`): a trained network's features.

All of them run :func:`feature_target`: the features of the once-shown stimuli (``is_oracle`` false) in batches to a
scratch store, centred by their mean over the images and scaled to unit length, then S = the Gram matrix of those
unit vectors, streamed in blocks (:func:`.matrix.write_similarity`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..files import InputError, open_h5, require_key
from .matrix import vector_store, write_similarity

CONTENT_TARGETS = ("pixel", "random_network")


def feature_target(out, stimuli_path, features: Callable[[np.ndarray], np.ndarray], name: str, attrs: dict, *,
                   block_size: int = 1024, batch_size: int = 64, scratch_dir=None) -> None:
    """Write the similarity target ``name`` to ``out``: S_ij = <e_i, e_j> of the centred unit feature vectors e of
    the once-shown stimuli, ``features`` mapping uint8 images (B, H, W) to (B, D) float features."""
    with open_h5(stimuli_path) as f:
        is_oracle = require_key(f, "is_oracle", stimuli_path)[()].astype(bool)
        image_index = np.flatnonzero(~is_oracle).astype(np.int64)
        if len(image_index) < 2:
            raise InputError(stimuli_path, "is_oracle", f"{len(image_index)} once-shown images: a target needs 2")
        image_id = require_key(f, "image_id", stimuli_path)[()][image_index].astype(np.int64)
        images = require_key(f, "images", stimuli_path)
        with vector_store(scratch_dir) as store:
            ds, total = None, None
            for a in range(0, len(image_index), batch_size):
                feats = np.asarray(features(images[image_index[a:a + batch_size]]), dtype=np.float32)
                if ds is None:
                    ds = store.create_dataset(name, shape=(len(image_index), feats.shape[1]), dtype="float32",
                                              chunks=(min(batch_size, len(image_index)), feats.shape[1]))
                    total = np.zeros(feats.shape[1])
                ds[a:a + len(feats)] = feats
                total += feats.sum(axis=0, dtype=np.float64)
            mean = (total / len(image_index)).astype(np.float32)
            for a in range(0, len(image_index), block_size):
                e = ds[a:a + block_size] - mean
                norm = np.linalg.norm(e, axis=1, keepdims=True)
                if not (norm > 0).all():
                    raise InputError(stimuli_path, "images", f"an image's {name} features equal the mean: its "
                                     "similarity is undefined")
                ds[a:a + block_size] = e / norm
            write_similarity(out, [ds], image_id, image_index, {"target": name, "scans": [], "weighting": "none",
                                                                **attrs}, block_size)


def pixel_features(images: np.ndarray) -> np.ndarray:
    """(B, H, W) uint8 -> (B, H * W) float in [0, 1]: the stimuli as the CNN receives them."""
    x = np.asarray(images, dtype=np.float32) / 255.0
    return x.reshape(len(x), -1)


def random_network(*, arch: str = "resnet18", width: int = 64, seed: int = 0):
    """The co-trained architecture, untrained: initialised under ``torch.manual_seed(seed)``, eval mode."""
    from .. import resnet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        model = resnet.build(arch=arch, width=int(width))
    return model.eval()


def network_features(model, layer: int) -> Callable[[np.ndarray], np.ndarray]:
    """uint8 (B, H, W) -> (B, D): the flattened feature of conv ``layer`` (``model.layer_name``, a forward hook)."""
    from ..features import layer_features

    name = model.layer_name(int(layer))

    @torch.no_grad()
    def features(images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.asarray(images, dtype=np.float32) / 255.0)[:, None]
        (f,) = layer_features(model, x, [name])
        return f.flatten(1).double().numpy()

    return features


def build_content_target(target: str, out, stimuli_path, *, arch: str = "resnet18", width: int = 64, layer: int = 9,
                         seed: int = 0, block_size: int = 1024, scratch_dir=None) -> dict:
    """Write ``pixel`` or ``random_network`` (module doc) to ``out``; returns the attributes written."""
    if target == "pixel":
        attrs = {"method": "pixels of the stimuli in [0, 1], centred over the images, cosine (Eq. 9)"}
        feature_target(out, stimuli_path, pixel_features, target, attrs, block_size=block_size, scratch_dir=scratch_dir)
        return attrs
    if target == "random_network":
        model = random_network(arch=arch, width=width, seed=seed)
        attrs = {"method": f"untrained {arch} of width {width} (torch seed {seed}, eval mode), conv layer {layer} "
                           f"({model.layer_name(layer)}) features, centred over the images, cosine (Eq. 9)",
                 "arch": arch, "width": int(width), "layer": int(layer), "seed": int(seed)}
        feature_target(out, stimuli_path, network_features(model, layer), target, attrs, block_size=block_size,
                       scratch_dir=scratch_dir)
        return attrs
    raise ValueError(f"{target!r} is not a content target ({', '.join(CONTENT_TARGETS)})")
