"""Recorded scans -> the canonical :class:`~neuroreg.ingest.scan.Scan`: one reader per source.

:data:`SOURCES` maps a ``config.yaml`` ``recordings`` entry's ``source`` to its reader; each
reader takes a path and returns a validated ``Scan``:

* ``static_h5``   sinzlab / neuralpredictors "static" HDF5 (:func:`.static_h5.read_static_h5`);
* ``sensorium``   Sensorium 2022 folder or zip (:func:`.sensorium.read_sensorium`);
* ``antolik2016`` Antolik et al. 2016 region folder (:func:`.antolik2016.read_antolik2016`);
* ``nwb``         an NWB 2 file with two-photon traces (:func:`.nwb.read_nwb`);
* ``suite2p``     a suite2p plane folder and a stimulus log (:func:`.suite2p.read_suite2p`).

The trace-based sources (nwb, suite2p) also take their options (:data:`OPTIONS`: response window,
trace, stimulus names ...) from the ``recordings`` entry; :mod:`.traces` turns traces into trials.

A new source: a module with a ``read_<source>(path, *, min_repeats) -> Scan`` reader (the
trial-based ones build on :func:`.trials.assemble_trials`), an entry here, and the name in the
schema's ``recordings.source`` enum (a test checks the two agree).
"""

from __future__ import annotations

import logging
import os

from ..files import InputError
from . import nwb, suite2p
from .antolik2016 import read_antolik2016
from .scan import Scan, write_scan
from .sensorium import read_sensorium
from .static_h5 import read_static_h5

log = logging.getLogger(__name__)

SOURCES = {"static_h5": read_static_h5, "sensorium": read_sensorium, "antolik2016": read_antolik2016,
           "nwb": nwb.read_nwb, "suite2p": suite2p.read_suite2p}
OPTIONS = {"nwb": nwb.OPTIONS, "suite2p": suite2p.OPTIONS}  # entry keys beyond source/path/animal/session/scan
COMMON = ("source", "path", "animal", "session", "scan")
FILE_OPTIONS = ("stimulus_log", "frame_times", "images")  # options that name input files


def input_paths(spec: dict) -> list[str]:
    """The files a recordings entry reads (the ingest rule's inputs): path and any file options."""
    return [spec["path"]] + [spec[k] for k in FILE_OPTIONS if spec.get(k)]


def read_recording(spec: dict, *, min_repeats: int = 2) -> Scan:
    """Read the recording described by ``spec`` (keys ``source``, ``path``, optional
    ``animal``, ``session``, ``scan`` overriding the attributes read from the file)."""
    source, path = spec.get("source"), spec.get("path")
    if source not in SOURCES:
        raise InputError("config.yaml", "recordings.source", f"unknown source {source!r}; supported: {list(SOURCES)}")
    if not path:
        raise InputError("config.yaml", "recordings.path", "missing (required)")
    options = {k: v for k, v in spec.items() if k not in COMMON}
    extra = set(options) - OPTIONS.get(source, set())
    if extra:
        raise InputError("config.yaml", f"recordings.{sorted(extra)[0]}", f"not an option of source {source!r}")
    scan = SOURCES[source](path, min_repeats=min_repeats, **options)
    for key in ("animal", "session", "scan"):
        if spec.get(key) is not None:
            scan.attrs[key] = spec[key]
    return scan


def ingest(spec: dict, output: str | os.PathLike, *, min_repeats: int = 2) -> Scan:
    """Read a recording and write the canonical scan file atomically (what the
    ``ingest_recording`` rule runs). A failing read leaves no ``output``."""
    scan = read_recording(spec, min_repeats=min_repeats)
    write_scan(scan, output)
    n_oracle = len(scan.oracle_images())
    log.info("%s (%s): %d trials, %d images (%d oracle), %d neurons, images %s -> %s", spec["path"],
             spec["source"], scan.n_trials, len(scan.images), n_oracle, scan.n_neurons,
             scan.images.shape[1:], output)
    return scan
