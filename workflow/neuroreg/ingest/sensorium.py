"""The Sensorium 2022 dataset (folder or zip) -> the canonical scan.

Layout (neuralpredictors ``FileTreeDataset``), possibly under one top folder
(``static26872-17-20-GrayImageNet-<hash>/``)::

    data/images/<i>.npy        (1, h, w)   the image of trial i
    data/responses/<i>.npy     (neurons,)
    data/behavior/<i>.npy      (3,)        pupil size, its derivative, running speed
    data/pupil_center/<i>.npy  (2,)
    meta/trials/tiers.npy      (n,)        train | validation | test | final_test | live_test ...
    meta/trials/frame_image_id.npy (n,)
    meta/neurons/unit_ids.npy  (neurons,)  (+ animal_ids, sessions, scan_idx -> attrs)

Trials are i = 0 .. n-1 with n = len(tiers.npy) (numeric order, never lexical).
Zips are read member by member without extraction; members with absolute paths
or ``..`` components are rejected. Tiers: see :func:`neuroreg.ingest.trials.canonical_tier`
(every ``*test*`` tier -> test); test trials with NaN responses (withheld by
the competition) are dropped with a warning.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from ..files import InputError
from .scan import Scan
from .trials import assemble_trials, neuron_attrs

ANCHOR = "meta/trials/tiers.npy"
KINDS = ("images", "responses", "behavior", "pupil_center")


class _Tree:
    """Read-only access to the dataset's files, in a folder or a zip, by relative name."""

    def __init__(self, path: Path):
        self.path = path
        self.zip = None
        if path.is_dir():
            roots = [path] + sorted(p for p in path.iterdir() if p.is_dir())
            found = [r for r in roots if (r / ANCHOR).is_file()]
            if not found:
                raise InputError(path, ANCHOR, "missing (required): not a Sensorium dataset folder")
            self.root = found[0]
            self.prefix = ""
        elif path.is_file():
            if not zipfile.is_zipfile(path):
                raise InputError(path, None, "not a zip file, or a truncated one (expected a Sensorium folder or .zip)")
            try:
                self.zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as err:
                raise InputError(path, None, f"not a readable zip file: {err}") from err
            names = self.zip.namelist()
            for name in names:
                p = PurePosixPath(name.replace("\\", "/"))
                if p.is_absolute() or ".." in p.parts or (p.parts and ":" in p.parts[0]):
                    raise InputError(path, name, "unsafe zip member (absolute path or '..'): refusing to read")
            anchors = sorted(n for n in names if n == ANCHOR or n.endswith("/" + ANCHOR))
            if not anchors:
                raise InputError(path, ANCHOR, "missing (required): not a Sensorium dataset zip")
            if len(anchors) > 1:
                raise InputError(path, ANCHOR, f"found {len(anchors)} datasets in one zip: {anchors}")
            self.prefix = anchors[0][: -len(ANCHOR)]
            self.members = set(names)
        else:
            raise InputError(path, None, "does not exist")

    def rel(self, rel: str) -> str:
        """``rel`` as named from the dataset path (with the zip's / folder's top folder)."""
        return self.prefix + rel if self.zip else str((self.root / rel).relative_to(self.path))

    def where(self, rel: str) -> str:
        return f"{self.path}:{self.prefix}{rel}" if self.zip else str(self.root / rel)

    def exists(self, rel: str) -> bool:
        return (self.prefix + rel) in self.members if self.zip else (self.root / rel).is_file()

    def listdir(self, rel: str) -> list[str]:
        if self.zip:
            base = self.prefix + rel.rstrip("/") + "/"
            return [n[len(base):] for n in self.members if n.startswith(base) and "/" not in n[len(base):] and n != base]
        d = self.root / rel
        return [p.name for p in d.iterdir()] if d.is_dir() else []

    def load(self, rel: str) -> np.ndarray:
        if not self.exists(rel):
            raise InputError(self.where(rel), None, "file does not exist (required)")
        try:
            if self.zip:
                return np.load(io.BytesIO(self.zip.read(self.prefix + rel)), allow_pickle=False)
            return np.load(self.root / rel, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise InputError(self.where(rel), None, f"not a readable .npy file (corrupt or truncated?): {err}") from err

    def close(self):
        if self.zip:
            self.zip.close()


def read_sensorium(path, *, min_repeats: int = 2) -> Scan:
    """Read a Sensorium 2022 dataset folder or zip (module docstring) into a validated Scan."""
    path = Path(path)
    tree = _Tree(path)
    try:
        tiers = tree.load("meta/trials/tiers.npy")
        frame_image_id = tree.load("meta/trials/frame_image_id.npy")
        unit_ids = tree.load("meta/neurons/unit_ids.npy")
        meta = {k: tree.load(f"meta/neurons/{k}.npy") for k in ("animal_ids", "sessions", "scan_idx")
                if tree.exists(f"meta/neurons/{k}.npy")}
        n = len(tiers)
        if len(frame_image_id) != n:
            raise InputError(tree.where("meta/trials/frame_image_id.npy"), None,
                             f"{len(frame_image_id)} trials, but meta/trials/tiers.npy has {n}")
        for kind in KINDS:
            extra = [f for f in tree.listdir(f"data/{kind}") if f.endswith(".npy")
                     and not (f[:-4].isdigit() and int(f[:-4]) < n)]
            if extra:
                raise InputError(tree.where(f"data/{kind}"), None, f"{len(extra)} files beyond the {n} trials of "
                                 f"meta/trials/tiers.npy, e.g. {sorted(extra)[:3]}")
        per_trial = {kind: _stack(tree, kind, n, shape) for kind, shape in
                     (("responses", (len(unit_ids),)), ("behavior", (3,)), ("pupil_center", (2,)))}

        def load_images(idx):
            ims = [tree.load(f"data/images/{i}.npy") for i in idx]
            shapes = {im.shape for im in ims}
            if len(shapes) != 1:
                raise InputError(tree.where("data/images"), None, f"images differ in shape: {sorted(shapes)[:3]}")
            return np.stack(ims)

        keys = {k: tree.rel(v) for k, v in (
            ("responses", "data/responses"), ("behavior", "data/behavior"), ("pupil_center", "data/pupil_center"),
            ("tiers", "meta/trials/tiers.npy"), ("frame_image_id", "meta/trials/frame_image_id.npy"),
            ("neuron_id", "meta/neurons/unit_ids.npy"), ("images", "data/images"))}
        return assemble_trials(
            path, frame_image_id=frame_image_id, tiers=tiers, neuron_id=unit_ids, load_images=load_images,
            keys=keys, attrs={"source": "sensorium", "source_path": str(path), **neuron_attrs(meta)},
            min_repeats=min_repeats, **per_trial)
    finally:
        tree.close()


def _stack(tree: _Tree, kind: str, n: int, shape: tuple) -> np.ndarray:
    """Load ``data/<kind>/0.npy`` .. ``<n-1>.npy`` (numeric order) into an (n, *shape) array."""
    out = np.empty((n,) + shape, np.float64)
    for i in range(n):
        rel = f"data/{kind}/{i}.npy"
        arr = tree.load(rel)
        if arr.shape != shape:
            raise InputError(tree.where(rel), None, f"expected shape {shape}, got {arr.shape}")
        out[i] = arr
    return out
