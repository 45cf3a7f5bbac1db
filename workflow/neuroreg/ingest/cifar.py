"""CIFAR-10 / CIFAR-100 from the standard "python version" layout to a grayscale HDF5.

Inputs (read in place, never extracted to disk):

* a folder ``cifar-10-batches-py/`` (``data_batch_1`` .. ``data_batch_5``,
  ``test_batch``, ``batches.meta``) or ``cifar-100-python/`` (``train``,
  ``test``, ``meta``), or the folder that contains it;
* or the archive ``cifar-10-python.tar.gz`` / ``cifar-100-python.tar.gz``.

Each batch is a pickled dict: ``data`` (n, 3072) uint8 (R, G, B planes, each
32 x 32 row-major) and ``labels`` (CIFAR-10) or ``fine_labels`` (+ optional
``coarse_labels``, CIFAR-100); keys may be bytes or str. The pickles are read
with :class:`RestrictedUnpickler`, which only rebuilds numpy arrays and plain
builtins, so a malicious file cannot run code.

Output ``results/data/{cifar10,cifar100}.h5`` (gzip)::

    train/images  (50000, 32, 32) uint8   grayscale, ITU-R 601-2 luma
    train/labels  (50000,)        int64   in [0, n_classes)
    test/images   (10000, 32, 32) uint8
    test/labels   (10000,)        int64
    {train,test}/coarse_labels    int64   CIFAR-100 only, when present
    attrs: classes (list of str), n_classes, source, grayscale, dataset
"""

from __future__ import annotations

import io
import logging
import os
import pickle
import posixpath
import tarfile
import zlib
from pathlib import Path

import h5py
import numpy as np

from ..files import InputError, atomic_output, open_h5, require_key

log = logging.getLogger(__name__)

GRAYSCALE = "ITU-R 601-2 luma: 0.299 R + 0.587 G + 0.114 B"
SIDE = 32

# dataset -> (folder inside the archive, {split: [batch files]}, meta file, label key, class-names key, n_classes)
LAYOUTS = {
    "cifar10": dict(folder="cifar-10-batches-py",
                    splits={"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
                    meta="batches.meta", labels="labels", names="label_names", n_classes=10),
    "cifar100": dict(folder="cifar-100-python", splits={"train": ["train"], "test": ["test"]},
                     meta="meta", labels="fine_labels", names="fine_label_names", n_classes=100),
}

_NUMPY_RECONSTRUCT = ("numpy.core.multiarray", "numpy._core.multiarray")
_ALLOWED_BUILTINS = {"bytes", "bytearray", "str", "int", "float", "complex", "bool",
                     "list", "tuple", "dict", "set", "frozenset"}


def _multiarray(numeric: bool = False):
    try:  # numpy >= 2 (avoids the numpy.core deprecation shim)
        from numpy._core import multiarray
        from numpy._core import numeric as num
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
        from numpy.core import numeric as num
    return num if numeric else multiarray


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and builtins, and nothing else.

    Allowed globals: ``numpy.(_)core.multiarray._reconstruct`` / ``scalar``,
    ``numpy.(_)core.numeric._frombuffer`` (protocol 5), ``numpy.ndarray``,
    ``numpy.dtype``, ``_codecs.encode`` (bytes in protocol-2 pickles) and
    plain builtin containers/scalars. Anything else (``os.system``,
    ``subprocess.Popen``, ``builtins.eval`` ...) raises :class:`InputError`.
    """

    def __init__(self, file, *, path, encoding: str = "bytes"):
        super().__init__(file, encoding=encoding)
        self.path = path

    def find_class(self, module, name):
        if module in _NUMPY_RECONSTRUCT and name in ("_reconstruct", "scalar"):
            return getattr(_multiarray(), name)
        if module in ("numpy.core.numeric", "numpy._core.numeric") and name == "_frombuffer":  # protocol 5
            return getattr(_multiarray(numeric=True), name)
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        if module == "_codecs" and name == "encode":
            import codecs

            return codecs.encode
        if module in ("builtins", "__builtin__") and name in _ALLOWED_BUILTINS:
            return super().find_class(module, name)
        raise InputError(self.path, None, f"refusing to unpickle the global {module}.{name}: "
                         "only numpy arrays and plain builtins are allowed in a CIFAR batch")


def restricted_loads(data: bytes, path) -> dict:
    """Unpickle ``data`` (from file ``path``) with :class:`RestrictedUnpickler`; str keys.

    Keys are decoded (bytes -> str); errors name ``path``.
    """
    try:
        obj = RestrictedUnpickler(io.BytesIO(data), path=path, encoding="bytes").load()
    except InputError:
        raise
    except Exception as err:  # truncated / corrupt pickle: EOFError, UnpicklingError, ValueError ...
        raise InputError(path, None, f"corrupt or truncated pickle ({type(err).__name__}: {err})") from err
    if not isinstance(obj, dict):
        raise InputError(path, None, f"expected a pickled dict, got {type(obj).__name__}")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def _read_members(path: Path, layout: dict) -> dict[str, bytes]:
    """Raw bytes of the batch and meta files, from a folder or a tar(.gz); keyed by file name."""
    wanted = [f for files in layout["splits"].values() for f in files] + [layout["meta"]]
    folder = layout["folder"]
    if path.is_dir():
        root = path / folder if (path / folder).is_dir() else path
        out = {}
        for name in wanted:
            file = root / name
            if not file.is_file():
                raise InputError(file, None, f"missing CIFAR file {name!r} (expected in {root})")
            out[name] = file.read_bytes()
        return out
    if not path.exists():
        raise InputError(path, None, "file does not exist")
    out = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:  # one sequential pass over the (compressed) stream
                name = member.name[2:] if member.name.startswith("./") else member.name
                if name.startswith("/") or ".." in name.split("/") or not member.isfile():
                    continue  # never follow absolute paths, parent references, links or devices
                parent, base = posixpath.split(posixpath.normpath(name))
                if parent == folder and base in wanted:
                    out[base] = tar.extractfile(member).read()
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise InputError(path, None, f"not a readable tar archive (corrupt or truncated?): {err}") from err
    for name in wanted:
        if name not in out:
            raise InputError(path, f"{folder}/{name}", "missing from the archive")
    return out


def to_grayscale(data: np.ndarray) -> np.ndarray:
    """(n, 3072) uint8 RGB planes -> (n, 32, 32) uint8 luma 0.299 R + 0.587 G + 0.114 B.

    Exact integer arithmetic, rounded half up: (299 R + 587 G + 114 B + 500) // 1000.
    """
    rgb = data.reshape(-1, 3, SIDE, SIDE).astype(np.int32)
    luma = 299 * rgb[:, 0] + 587 * rgb[:, 1] + 114 * rgb[:, 2]
    return ((luma + 500) // 1000).astype(np.uint8)


def grayscale_hwc(images: np.ndarray) -> np.ndarray:
    """(n, 32, 32, 3) uint8 RGB -> (n, 32, 32) uint8, the same luma as :func:`to_grayscale`."""
    n = len(images)
    return to_grayscale(np.ascontiguousarray(np.asarray(images).transpose(0, 3, 1, 2)).reshape(n, -1))


def _batch(raw: bytes, where: str, layout: dict, rgb: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """One batch -> (images (n, 32, 32) uint8 (rgb: (n, 32, 32, 3) RGB), labels (n,) int64, coarse labels or None)."""
    d = restricted_loads(raw, where)
    for key in ("data", layout["labels"]):
        if key not in d:
            raise InputError(where, key, f"missing key (found: {sorted(d)})")
    data = d["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE:
        desc = f"{data.shape} {data.dtype}" if isinstance(data, np.ndarray) else type(data).__name__
        raise InputError(where, "data", f"expected a (n, 3072) uint8 array, got {desc}")
    n = data.shape[0]
    labels = {}
    for key in (layout["labels"], "coarse_labels"):
        if key not in d:
            continue
        try:
            lab = np.asarray(d[key], dtype=np.int64)
        except (TypeError, ValueError) as err:
            raise InputError(where, key, f"labels are not integers: {err}") from err
        if lab.shape != (n,):
            raise InputError(where, key, f"expected {n} labels (one per image), got shape {lab.shape}")
        labels[key] = lab
    lab = labels[layout["labels"]]
    if n and (lab.min() < 0 or lab.max() >= layout["n_classes"]):
        raise InputError(where, layout["labels"],
                         f"labels must lie in [0, {layout['n_classes']}), got [{lab.min()}, {lab.max()}]")
    images = data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1).copy() if rgb else to_grayscale(data)
    return images, lab, labels.get("coarse_labels")


def load_cifar(path: str | os.PathLike, dataset: str = "cifar10", *, rgb: bool = False) -> dict:
    """Read CIFAR-10/100 (folder or tar.gz) into grayscale arrays (``rgb``: (n, 32, 32, 3) RGB instead,
    for the corruptions, which CIFAR-10-C applies to the colour images).

    Returns ``{"train": {"images": (n, 32, 32) uint8, "labels": (n,) int64[, "coarse_labels"]},
    "test": {...}, "classes": [str] * n_classes, "coarse_classes": [str] (CIFAR-100) , "n_classes": int}``.
    Any number of images per batch is accepted.
    """
    if dataset not in LAYOUTS:
        raise InputError(None, "dataset", f"unknown dataset {dataset!r}; expected one of {sorted(LAYOUTS)}")
    layout = LAYOUTS[dataset]
    path = Path(path)
    raw = _read_members(path, layout)

    def where(name: str) -> str:  # how errors name a batch file
        if not path.is_dir():
            return f"{path}[{layout['folder']}/{name}]"
        root = path / layout["folder"] if (path / layout["folder"]).is_dir() else path
        return str(root / name)

    out: dict = {"n_classes": layout["n_classes"]}
    meta = restricted_loads(raw[layout["meta"]], where(layout["meta"]))
    for key, out_key in ((layout["names"], "classes"), ("coarse_label_names", "coarse_classes")):
        if key in meta:
            out[out_key] = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in meta[key]]
    if "classes" not in out:
        raise InputError(where(layout["meta"]), layout["names"], f"missing key (found: {sorted(meta)})")
    if len(out["classes"]) != layout["n_classes"]:
        raise InputError(where(layout["meta"]), layout["names"],
                         f"expected {layout['n_classes']} class names, got {len(out['classes'])}")
    for split, files in layout["splits"].items():
        parts = [_batch(raw.pop(name), where(name), layout, rgb) for name in files]
        out[split] = {"images": np.concatenate([p[0] for p in parts]),
                      "labels": np.concatenate([p[1] for p in parts])}
        if all(p[2] is not None for p in parts):
            out[split]["coarse_labels"] = np.concatenate([p[2] for p in parts])
        log.info("%s %s: %d images from %d batch file(s)", dataset, split, len(out[split]["labels"]), len(files))
    return out


def validation_split(cifar: dict, n_validation: int) -> dict:
    """The last ``n_validation`` training images as the evaluation ("test") split, the rest as training.

    For choosing hyper-parameters without the test set: a pipeline run on the result evaluates
    every model (per-epoch accuracy, noise, attacks) on images of the training set that no model
    of the run trains on. The true test split is dropped from the result.
    """
    train = cifar["train"]
    n = len(train["labels"])
    if not 0 < n_validation < n:
        raise ValueError(f"data.n_validation: {n_validation} is not between 1 and {n - 1} (the training images)")
    cut = n - n_validation
    out = {k: v for k, v in cifar.items() if k not in ("train", "test")}
    out["train"] = {k: v[:cut] for k, v in train.items()}
    out["test"] = {k: v[cut:] for k, v in train.items()}
    out["evaluation_split"] = f"validation: train[{cut}:{n}]"
    return out


def write_cifar_h5(cifar: dict, path: str | os.PathLike, *, source: str = "", dataset: str = "") -> None:
    """Write the dict of :func:`load_cifar` to ``path`` (schema: module docstring), atomically."""
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            for split in ("train", "test"):
                g = f.create_group(split)
                images = cifar[split]["images"]
                g.create_dataset("images", data=images, compression="gzip", compression_opts=4,
                                 chunks=(max(1, min(len(images), 1000)), SIDE, SIDE))
                for key in ("labels", "coarse_labels"):
                    if key in cifar[split]:
                        g.create_dataset(key, data=np.asarray(cifar[split][key], dtype=np.int64),
                                         compression="gzip", compression_opts=4)
            f.attrs["classes"] = list(cifar["classes"])
            if "coarse_classes" in cifar:
                f.attrs["coarse_classes"] = list(cifar["coarse_classes"])
            f.attrs["n_classes"] = int(cifar["n_classes"])
            f.attrs["source"] = str(source)
            f.attrs["dataset"] = str(dataset)
            f.attrs["grayscale"] = GRAYSCALE
            f.attrs["evaluation_split"] = cifar.get("evaluation_split", "test")


def prepare_cifar(source: str | os.PathLike, output: str | os.PathLike, dataset: str = "cifar10",
                  n_validation: int | None = None) -> dict:
    """Load CIFAR from ``source`` and write ``output``; returns the loaded dict.

    ``n_validation``: write :func:`validation_split` instead (the test split becomes the last
    ``n_validation`` training images; config ``data.evaluation_split: validation``).
    """
    cifar = load_cifar(source, dataset)
    if n_validation:
        cifar = validation_split(cifar, int(n_validation))
        log.info("%s: evaluation on the validation split %s, not on the test set", dataset, cifar["evaluation_split"])
    write_cifar_h5(cifar, output, source=str(source), dataset=dataset)
    log.info("wrote %s (%.1f MB)", output, Path(output).stat().st_size / 1e6)
    return cifar


def load_cifar_h5(path: str | os.PathLike, *, splits=("train", "test"), n_train: int | None = None,
                  n_test: int | None = None) -> dict:
    """Read ``results/data/cifar*.h5``: the one reader of that file (co-training, robustness, figures).

    Returns ``{"train_images": (n, 32, 32) uint8, "train_labels": (n,) int64, "test_images",
    "test_labels", "classes": [str], "n_classes": int}`` for the ``splits`` asked for;
    ``n_train`` / ``n_test`` keep only the first n images of a split (None = all; only those are
    read). Errors name the file and key.
    """
    path = Path(path)
    first = {"train": n_train, "test": n_test}
    with open_h5(path) as f:
        out = {}
        for split in splits:
            n = first[split]
            for key in ("images", "labels"):
                ds = require_key(f, f"{split}/{key}", path)
                try:
                    out[f"{split}_{key}"] = ds[()] if n is None else ds[: int(n)]
                except OSError as err:
                    raise InputError(path, f"{split}/{key}", f"cannot be read (corrupt or truncated?): {err}") from err
        for key in ("classes", "n_classes"):
            if key not in f.attrs:
                raise InputError(path, f"attrs/{key}", "missing (required)")
        out["classes"] = [c.decode() if isinstance(c, bytes) else str(c) for c in f.attrs["classes"]]
        out["n_classes"] = int(f.attrs["n_classes"])
    for split in splits:
        images, labels = out[f"{split}_images"], out[f"{split}_labels"]
        if images.ndim != 3 or images.shape[1:] != (SIDE, SIDE) or images.dtype != np.uint8:
            raise InputError(path, f"{split}/images", f"expected (n, 32, 32) uint8, got {images.shape} {images.dtype}")
        if labels.shape != (len(images),):
            raise InputError(path, f"{split}/labels", f"expected shape ({len(images)},), got {labels.shape}")
        if len(labels) and (labels.min() < 0 or labels.max() >= out["n_classes"]):
            raise InputError(path, f"{split}/labels", f"labels must lie in [0, {out['n_classes']})")
        out[f"{split}_labels"] = labels.astype(np.int64)
    return out
