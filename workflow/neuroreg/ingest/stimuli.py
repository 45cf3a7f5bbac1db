"""The stimulus bank: natural photos -> grayscale 36 x 64 stimuli, chosen with a seed.

The bank is a folder or a zip of photos (``.jpg``, ``.jpeg``, ``.png``, any
case), e.g. ``tiny-imagenet-200-val.zip`` (10,000 photos, 64 x 64 RGB). Photos
are listed sorted by their path inside the folder/zip (posix); ``image_id`` is
the index in that list. Zips are read in place: members with absolute paths or
``..`` components are ignored (never extracted anywhere).

Each chosen photo is converted to grayscale (PIL ``"L"``: ITU-R 601-2 luma),
center-cropped to the aspect ratio width:height and resized to
(height, width) with Lanczos filtering; 64 x 64 photos are simply cropped to
their central 36 rows.

Output ``results/data/stimuli.h5``::

    images    (n_total, H, W) uint8   n_total = n_images + n_oracle; default H, W = 36, 64
    image_id  (n_total,)      int64   index of the photo in the sorted photo list
    is_oracle (n_total,)      bool    False for the first n_images rows, True for the last n_oracle
    name      (n_total,)      bytes   path of the photo inside the folder/zip
    attrs: source, seed, height, width, n_images, n_oracle, n_photos
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from pathlib import Path, PurePosixPath

import h5py
import numpy as np
from PIL import Image, ImageOps

from ..files import InputError, atomic_output, open_h5, require_key

log = logging.getLogger(__name__)

PHOTO_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_PHOTO_BYTES = 64 * 2**20  # a single photo larger than this is refused (zip bombs)


def _is_photo(rel: str) -> bool:
    parts = PurePosixPath(rel).parts
    return (rel.lower().endswith(PHOTO_SUFFIXES) and not parts[-1].startswith(".")
            and "__MACOSX" not in parts)


class PhotoBank:
    """Sorted photos of a folder or zip. ``names``: list of posix paths; ``read(name)`` -> bytes.

    Use as a context manager (closes the zip).
    """

    def __init__(self, source: str | os.PathLike):
        self.source = Path(source)
        self._zip = None
        if self.source.is_dir():
            root = self.source.resolve()
            names = []
            for p in self.source.rglob("*"):
                rel = p.relative_to(self.source).as_posix()
                if p.is_file() and _is_photo(rel) and p.resolve().is_relative_to(root):
                    names.append(rel)
        elif self.source.is_file():
            try:
                self._zip = zipfile.ZipFile(self.source)
                infos = self._zip.infolist()
            except (zipfile.BadZipFile, OSError, EOFError) as err:
                raise InputError(self.source, None, f"not a readable zip file (corrupt or truncated?): {err}") from err
            names, unsafe = [], []
            for info in infos:
                rel = info.filename
                if info.is_dir() or not _is_photo(rel):
                    continue
                if rel.startswith(("/", "\\")) or ".." in PurePosixPath(rel.replace("\\", "/")).parts or ":" in rel:
                    unsafe.append(rel)
                    continue
                names.append(rel)
            if unsafe:
                log.warning("%s: ignoring %d zip member(s) with absolute or parent paths, e.g. %r",
                            self.source, len(unsafe), unsafe[0])
        else:
            raise InputError(self.source, None, "photo bank does not exist (expected a folder or a zip of photos)")
        self.names = sorted(names)

    def read(self, name: str) -> bytes:
        """Raw bytes of one photo."""
        if self._zip is not None:
            info = self._zip.getinfo(name)
            if info.file_size > MAX_PHOTO_BYTES:
                raise InputError(self.source, name, f"photo is {info.file_size} bytes, more than {MAX_PHOTO_BYTES}")
            try:
                return self._zip.read(info)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
                raise InputError(self.source, name, f"cannot be read from the zip (corrupt?): {err}") from err
        path = self.source / name
        if path.stat().st_size > MAX_PHOTO_BYTES:
            raise InputError(path, None, f"photo is larger than {MAX_PHOTO_BYTES} bytes")
        return path.read_bytes()

    def close(self):
        if self._zip is not None:
            self._zip.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def preprocess_photo(data: bytes, *, height: int = 36, width: int = 64, where: str = "") -> np.ndarray:
    """Encoded photo -> (height, width) uint8 grayscale, center-cropped to width:height, Lanczos-resized."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            gray = img.convert("L")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise InputError(where or None, None, f"corrupt or unreadable image: {err}") from err
    fitted = ImageOps.fit(gray, (width, height), method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    return np.asarray(fitted, dtype=np.uint8)


def choose_stimuli(n_photos: int, n_images: int, n_oracle: int, seed: int) -> np.ndarray:
    """(n_images + n_oracle,) int64 distinct photo indices: once-shown images first, then oracle images."""
    return np.random.default_rng(seed).choice(n_photos, size=n_images + n_oracle, replace=False).astype(np.int64)


def build_stimulus_bank(source: str | os.PathLike, *, n_images: int, n_oracle: int, seed: int,
                        height: int = 36, width: int = 64) -> dict:
    """Choose and preprocess the stimuli; only the chosen photos are decoded.

    Returns ``{"images": (n_total, height, width) uint8, "image_id": (n_total,) int64,
    "is_oracle": (n_total,) bool, "name": (n_total,) bytes, "attrs": dict}``.
    """
    for key, v, lo in (("n_images", n_images, 1), ("n_oracle", n_oracle, 0), ("height", height, 1), ("width", width, 1)):
        if int(v) != v or v < lo:
            raise InputError(None, f"stimuli.{key}", f"must be an integer >= {lo}, got {v!r}")
    n_total = n_images + n_oracle
    with PhotoBank(source) as bank:
        n_photos = len(bank.names)
        if n_photos < n_total:
            raise InputError(source, None, f"the photo bank holds {n_photos} photos (jpg/jpeg/png), "
                             f"fewer than stimuli.n_images + stimuli.n_oracle = {n_total}")
        image_id = choose_stimuli(n_photos, n_images, n_oracle, seed)
        images = np.empty((n_total, height, width), dtype=np.uint8)
        for row in np.argsort(image_id, kind="stable"):  # read in archive order
            name = bank.names[image_id[row]]
            images[row] = preprocess_photo(bank.read(name), height=height, width=width, where=f"{source}[{name}]")
        names = np.asarray([bank.names[i].encode("utf-8") for i in image_id], dtype=bytes)
    log.info("%s: %d photos, chose %d once-shown + %d oracle (seed %d)", source, n_photos, n_images, n_oracle, seed)
    return {
        "images": images,
        "image_id": image_id,
        "is_oracle": np.arange(n_total) >= n_images,
        "name": names,
        "attrs": dict(source=str(source), seed=int(seed), height=int(height), width=int(width),
                      n_images=int(n_images), n_oracle=int(n_oracle), n_photos=int(n_photos)),
    }


def write_stimuli(bank: dict, path: str | os.PathLike) -> None:
    """Write the dict of :func:`build_stimulus_bank` to ``path`` (schema: module docstring), atomically."""
    with atomic_output(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("images", data=bank["images"], compression="gzip", compression_opts=4)
            f.create_dataset("image_id", data=np.asarray(bank["image_id"], dtype=np.int64))
            f.create_dataset("is_oracle", data=np.asarray(bank["is_oracle"], dtype=bool))
            f.create_dataset("name", data=np.asarray(bank["name"], dtype=bytes))
            for k, v in bank["attrs"].items():
                f.attrs[k] = v


def make_stimulus_bank(source, output, *, n_images: int, n_oracle: int, seed: int,
                       height: int = 36, width: int = 64) -> dict:
    """Build the stimulus bank from ``source`` and write ``output``; returns the bank dict."""
    bank = build_stimulus_bank(source, n_images=n_images, n_oracle=n_oracle, seed=seed, height=height, width=width)
    write_stimuli(bank, output)
    log.info("wrote %s (%.1f MB)", output, Path(output).stat().st_size / 1e6)
    return bank


def read_stimuli(path: str | os.PathLike) -> dict:
    """Read ``results/data/stimuli.h5`` -> dict of arrays (as written) + ``attrs``; errors name file and key."""
    path = Path(path)
    with open_h5(path) as f:
        out = {}
        for key in ("images", "image_id", "is_oracle", "name"):
            ds = require_key(f, key, path)
            try:
                out[key] = ds[()]
            except OSError as err:
                raise InputError(path, key, f"cannot be read (corrupt or truncated?): {err}") from err
        out["attrs"] = {k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()}
    n = len(out["images"])
    if out["images"].ndim != 3:
        raise InputError(path, "images", f"expected (n, height, width), got shape {out['images'].shape}")
    for key in ("image_id", "is_oracle", "name"):
        if out[key].shape != (n,):
            raise InputError(path, key, f"expected shape ({n},), got {out[key].shape}")
    return out
