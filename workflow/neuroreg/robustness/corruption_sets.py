"""The corruption sets of stage 6: made (:func:`.corruptions.corrupt`) or read from the real CIFAR-10-C
(:func:`load_cifar10c`), written to and read from ``results/<run>/data/cifar10c.h5`` (:func:`write_sets`,
:func:`read_sets`), and one model's accuracy on each (:func:`accuracy_table`, ``corruptions.csv``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..files import InputError
from .corruptions import CORRUPTIONS, SIDE, corrupt


def load_cifar10c(folder, name: str, severity: int, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The real CIFAR-10-C: ``<folder>/<name>.npy`` (50000, 32, 32, 3) uint8, severity s in rows
    (s - 1) 10000 .. s 10000, and ``labels.npy``. Returns (the first n RGB images of that severity,
    their labels). Errors name the file."""
    folder = Path(folder)
    path, lpath = folder / f"{name}.npy", folder / "labels.npy"
    for p in (path, lpath):
        if not p.is_file():
            raise InputError(p, None, "file does not exist (robustness.corruptions.cifar10c: a folder of CIFAR-10-C .npy files)")
    try:
        data = np.load(path, mmap_mode="r", allow_pickle=False)
        labels = np.load(lpath, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as err:
        raise InputError(path, None, f"cannot be read as a .npy array: {err}") from err
    if data.ndim != 4 or data.shape[1:] != (SIDE, SIDE, 3) or data.dtype != np.uint8 or len(data) % 5:
        raise InputError(path, None, f"expected (5 x n, 32, 32, 3) uint8 (severities 1-5 stacked), got {data.shape} {data.dtype}")
    if labels.shape != (len(data),):
        raise InputError(lpath, None, f"expected {len(data)} labels (one per image of {path.name}), got shape {labels.shape}")
    per = len(data) // 5
    stop = per if n is None else min(per, int(n))
    rows = slice((severity - 1) * per, (severity - 1) * per + stop)
    return np.array(data[rows]), np.array(labels[rows], dtype=np.int64)


def make_sets(rgb: np.ndarray | None, labels: np.ndarray, cfg: dict, *, reader=None) -> dict:
    """{(name, severity): (n, 32, 32) uint8 grayscale} for every corruption and severity of ``cfg``
    (``robustness.corruptions``): generated from ``rgb`` (n, 32, 32, 3) uint8, or, with ``reader``
    (name, severity) -> (rgb, labels), read (the real CIFAR-10-C); read labels must equal ``labels``."""
    from ..ingest.cifar import grayscale_hwc

    out = {}
    for name in cfg["names"]:
        for sev in cfg["severities"]:
            if reader is None:
                img = corrupt(rgb, name, int(sev), int(cfg["seed"]), frost_images=cfg.get("frost_images"))
            else:
                img, lab = reader(name, int(sev))
                if len(lab) != len(labels) or not np.array_equal(lab, labels):
                    raise InputError(Path(cfg["cifar10c"]) / f"{name}.npy", f"severity {sev}",
                                     "its labels (labels.npy) are not those of the evaluation images: "
                                     "CIFAR-10-C corrupts the CIFAR-10 test set in its order")
            out[(name, int(sev))] = grayscale_hwc(img)
    return out


def write_sets(path, sets: dict, labels: np.ndarray, attrs: dict) -> None:
    """results/<run>/data/cifar10c.h5: labels (n,) int64; <corruption>/<severity> (n, 32, 32) uint8
    grayscale, attrs family; root attrs: source, seed, n_images, corruptions, severities, grayscale."""
    import h5py

    from ..files import atomic_output

    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("labels", data=np.asarray(labels, dtype=np.int64))
            for (name, sev), img in sets.items():
                ds = f.create_dataset(f"{name}/{sev}", data=img, compression="gzip", compression_opts=1)
                ds.attrs["family"] = CORRUPTIONS[name][0]
            for k, v in attrs.items():
                f.attrs[k] = v


def read_sets(path) -> tuple[np.ndarray, dict]:
    """(labels, {(name, severity): images}) of :func:`write_sets`' file; errors name the file and key."""
    from ..files import open_h5, require_key

    with open_h5(path) as f:
        labels = require_key(f, "labels", path)[()].astype(np.int64)
        sets = {}
        for name in f:
            if name == "labels":
                continue
            if name not in CORRUPTIONS:
                raise InputError(path, name, f"not a corruption of {list(CORRUPTIONS)}")
            for sev in f[name]:
                img = f[name][sev][()]
                if img.shape != (len(labels), SIDE, SIDE) or img.dtype != np.uint8:
                    raise InputError(path, f"{name}/{sev}", f"expected ({len(labels)}, 32, 32) uint8, got {img.shape} {img.dtype}")
                sets[(name, int(sev))] = img
    if not sets:
        raise InputError(path, None, "holds no corruption sets")
    return labels, sets


def accuracy_table(model, clean: np.ndarray, labels: np.ndarray, sets: dict, *, batch_size=500, device="cpu"):
    """corruptions.csv of one model: corruption, family, severity, accuracy, n_images; first row the clean
    accuracy on the same images (corruption ``clean``, severity 0)."""
    import pandas as pd
    import torch

    from ..noise import predict

    y = torch.as_tensor(labels)
    rows = []

    def acc(images):
        pred = predict(model, torch.from_numpy(np.ascontiguousarray(images[:, None])), batch_size=batch_size,
                       device=device)
        return float((pred == y).float().mean())

    rows.append({"corruption": "clean", "family": "clean", "severity": 0, "accuracy": acc(clean), "n_images": len(y)})
    for (name, sev), img in sets.items():
        rows.append({"corruption": name, "family": CORRUPTIONS[name][0], "severity": sev, "accuracy": acc(img),
                     "n_images": len(y)})
    return pd.DataFrame(rows, columns=["corruption", "family", "severity", "accuracy", "n_images"])
