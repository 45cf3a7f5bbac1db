"""Brain-likeness of a trained classifier: how well its representational similarity on images it never
trained on agrees with the neural similarity of the same images.

Images: each scan's oracle images (stage 4's ``results/<run>/similarity/oracle/{scan}.h5``). They are
not among the once-shown images the similarity targets are built from, and not in CIFAR-10, so no
model of the run trained on them. For each scan the network's similarity S^CNN-k of its oracle images is
Eq. 9 (centred cosine similarity of the flattened feature maps of conv layer k, centred by the mean over
those images) and the gamma-mixed S^CNN is Eq. 10 with the model's final gamma (``metrics.json``; the
untrained uniform gamma for ``none``). Brain-likeness is the Pearson r of the off-diagonal entries
(i < j) of S^CNN and a reference, per scan, averaged over scans. References (stage 4's names):

* ``neural_model``: the encoders' predicted responses (S^model, Fig. 1B), the target of neural_model;
* ``neural_data``: the trial-averaged recorded responses (S^oracle, Fig. 1A);
* ``ground_truth``: the noise-free responses (S^true), on the virtual experiment only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ..files import InputError, open_h5, require_key
from ..measures import pearson_r

#: reference name -> dataset of the oracle file
REFERENCES = {"neural_model": "model", "neural_data": "oracle", "ground_truth": "true"}


def read_oracle(path) -> dict:
    """One scan's oracle comparison file: oracle_image_id and the reference matrices it holds."""
    with open_h5(path) as f:
        ids = require_key(f, "oracle_image_id", path)[()].astype(np.int64)
        out = {"oracle_image_id": ids}
        for name, key in REFERENCES.items():
            if key in f:
                m = f[key][()].astype(np.float64)
                if m.shape != (len(ids), len(ids)):
                    raise InputError(path, key, f"shape {m.shape}, expected ({len(ids)}, {len(ids)})")
                out[name] = m
    if len(ids) < 3:
        raise InputError(path, "oracle_image_id", "needs at least 3 oracle images for a correlation of similarities")
    return out


def oracle_images(stimuli_path, ids: np.ndarray) -> torch.Tensor:
    """(n, 1, H, W) float in [0, 1]: the stimulus images with these image_ids, in that order."""
    with open_h5(stimuli_path) as f:
        all_ids = require_key(f, "image_id", stimuli_path)[()].astype(np.int64)
        pos = {int(i): k for k, i in enumerate(all_ids)}
        missing = [int(i) for i in ids if int(i) not in pos]
        if missing:
            raise InputError(stimuli_path, "image_id", f"has no image for oracle image ids {missing[:5]}")
        idx = np.array([pos[int(i)] for i in ids])
        images = require_key(f, "images", stimuli_path)[()][idx]  # the bank is small (~10 MB): read it whole
    return torch.from_numpy(images[:, None].astype(np.float32) / 255.0)


@torch.no_grad()
def layer_similarities(model, x: torch.Tensor, layers) -> list[np.ndarray]:
    """Eq. 9 per layer on images x (n, 1, H, W), centred by their own mean; float64 (n, n) each."""
    from ..measures import centered_cosine_similarity_direct

    model.eval()
    feats = model.features(x.contiguous(memory_format=torch.channels_last), layers)
    return [centered_cosine_similarity_direct(f.double()).numpy() for f in feats]


def off_diagonal_r(a: np.ndarray, b: np.ndarray) -> float:
    iu = np.triu_indices(len(a), k=1)
    return pearson_r(a[iu], b[iu])


def brain_likeness(model, gamma: dict, stimuli_path, oracle_paths) -> pd.DataFrame:
    """Rows: layer ('conv{k}' for each regularized layer, 'mixed' for Eq. 10), gamma, reference, r (mean
    over scans), n_scans, n_images (per scan, the first scan's)."""
    layers = tuple(model.layers)
    g = np.array([float(gamma[f"gamma_{k}"]) for k in layers])
    per = {}  # (layer, reference) -> [r per scan]
    n_images = None
    for path in oracle_paths:
        comp = read_oracle(path)
        x = oracle_images(stimuli_path, comp["oracle_image_id"])
        n_images = n_images or len(x)
        sims = layer_similarities(model, x, layers)
        mixed = sum(gk * s for gk, s in zip(g, sims))
        for ref in REFERENCES:
            if ref not in comp:
                continue
            for name, s in [(f"conv{k}", s) for k, s in zip(layers, sims)] + [("mixed", mixed)]:
                per.setdefault((name, ref), []).append(off_diagonal_r(s, comp[ref]))
    gam = {f"conv{k}": gk for k, gk in zip(layers, g)} | {"mixed": 1.0}
    rows = [{"layer": name, "gamma": gam[name], "reference": ref, "r": float(np.mean(rs)), "n_scans": len(rs),
             "n_images": n_images} for (name, ref), rs in per.items()]
    return pd.DataFrame(rows, columns=["layer", "gamma", "reference", "r", "n_scans", "n_images"])
