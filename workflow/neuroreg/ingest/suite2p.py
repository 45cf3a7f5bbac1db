"""A suite2p plane folder plus a stimulus log -> the canonical scan.

Files (suite2p's own names in ``path``, a ``plane<k>/`` folder; config keys in parentheses)::

    F.npy, Fneu.npy   (ROIs, frames)  cell and neuropil fluorescence
    spks.npy          (ROIs, frames)  deconvolved events (trace: spks)
    iscell.npy        (ROIs, 2)       column 0: 1 = cell (only_cells keeps those)
    ops.npy           pickled dict    only its frame rate ``fs`` is used, and only without frame_rate
    (stimulus_log)    CSV, one row per presentation: image_id and time (s) or frame (0-based)
    (frame_times)     optional .npy or one-column .csv, (frames,) s; default frame / frame_rate
    (images)          folder of <image_id>.npy / <image_id>.png

trace F: x = F - neuropil * Fneu (neuropil 0.7 by default, suite2p's own default); trace spks: x =
spks. Traces become trial responses as in :mod:`neuroreg.ingest.traces`.

``ops.npy`` is a pickle, and unpickling can run arbitrary code. It is read by
:func:`load_ops`, whose unpickler builds only numpy arrays, dtypes and plain builtins (dict, list,
str, numbers ...) and refuses anything else with an :class:`InputError`; set ``frame_rate`` in the
config to not read ops.npy at all.
"""

from __future__ import annotations

import io
import logging
import pickle
from pathlib import Path

import numpy as np

from ..files import InputError
from .scan import Scan
from .traces import TrialOptions, build_scan, check_frame_times, check_window, load_image_folder, trial_responses

log = logging.getLogger(__name__)

DEFAULTS = {"trace": "F", "neuropil": 0.7, "frame_rate": None, "stimulus_log": None, "frame_times": None,
            "images": None}
OPTIONS = set(DEFAULTS) | {"window_start", "window_length", "statistic", "baseline", "validation_fraction",
                           "split_seed", "only_cells", "blank_image"}
SAFE_BUILTINS = {"dict", "list", "tuple", "set", "frozenset", "str", "bytes", "bytearray", "int", "float",
                 "complex", "bool", "slice", "range"}
SAFE_NUMPY = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
              ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
              ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict")}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module == "builtins" and name in SAFE_BUILTINS) or (module, name) in SAFE_NUMPY:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_ops(file: Path) -> dict:
    """suite2p's ops.npy (a pickled dict in a .npy) without executing arbitrary pickles."""
    if not file.is_file():
        raise InputError(file, None, "file does not exist (set frame_rate in the config to do without it)")
    try:
        with open(file, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            dtype = read_header(f)[2]
            if not dtype.hasobject:
                raise InputError(file, None, f"expected suite2p's pickled ops dict, got a {dtype} array")
            ops = _SafeUnpickler(io.BytesIO(f.read())).load()
    except InputError:
        raise
    except (pickle.UnpicklingError, ValueError, EOFError, OSError, AttributeError, TypeError) as err:
        raise InputError(file, None, f"not loaded: {err} (only numpy arrays and plain builtins are unpickled; "
                         "set frame_rate in the config instead)") from err
    if isinstance(ops, np.ndarray) and ops.dtype == object and ops.size == 1:
        ops = ops.item()
    if not isinstance(ops, dict):
        raise InputError(file, None, f"expected a dict, got {type(ops).__name__}")
    return ops


def _npy(file: Path, key=None) -> np.ndarray:
    if not file.is_file():
        raise InputError(file, key, "file does not exist (required)")
    try:
        return np.load(file, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InputError(file, key, f"not a readable .npy file (corrupt or truncated?): {err}") from err


def _stimulus_log(file: Path, times: np.ndarray):
    """(onsets (k,) s, image ids (k,)) from the stimulus log CSV."""
    import pandas as pd

    if not file.is_file():
        raise InputError(file, None, "stimulus log does not exist")
    try:
        df = pd.read_csv(file)
    except Exception as err:
        raise InputError(file, None, f"not a readable CSV file: {err}") from err
    if "image_id" not in df.columns:
        raise InputError(file, "image_id", f"the stimulus log has no image ids (columns: {list(df.columns)})")
    ids = df["image_id"].to_numpy()
    if ids.dtype.kind not in "iu":
        raise InputError(file, "image_id", f"image ids must be integers, got {ids.dtype}")
    if "time" in df.columns:
        onsets = df["time"].to_numpy(np.float64)
        key = "time"
    elif "frame" in df.columns:
        frames = df["frame"].to_numpy()
        if frames.dtype.kind not in "iu" or (frames < 0).any() or (frames >= len(times)).any():
            raise InputError(file, "frame", f"onset frames must be integers in 0 .. {len(times) - 1}")
        onsets = times[frames]
        key = "frame"
    else:
        raise InputError(file, None, f"needs an onset column, time (s) or frame (columns: {list(df.columns)})")
    if not np.isfinite(onsets).all() or (np.diff(onsets) <= 0).any():
        raise InputError(file, key, "onsets must be finite and increasing")
    return onsets, ids.astype(np.int64)


def read_suite2p(path, *, min_repeats: int = 2, **options) -> Scan:
    """Read a suite2p plane folder and its stimulus log (module docstring) into a validated Scan."""
    path = Path(path)
    unknown = set(options) - OPTIONS
    if unknown:
        raise InputError("config", f"recordings.{sorted(unknown)[0]}", "not an option of source suite2p")
    o = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS}}
    opts = TrialOptions.pick(options)
    if not path.is_dir():
        raise InputError(path, None, "does not exist" if not path.exists() else "expected a suite2p plane folder")
    if not o["stimulus_log"]:
        raise InputError("config", "recordings.stimulus_log", "missing (required for source suite2p)")
    if o["trace"] not in ("F", "spks"):
        raise InputError("config", "recordings.trace", f"{o['trace']!r}: source suite2p has F or spks")
    if o["trace"] == "F":
        F, Fneu = _npy(path / "F.npy"), _npy(path / "Fneu.npy")
        if Fneu.shape != F.shape:
            raise InputError(path / "Fneu.npy", None, f"shape {Fneu.shape}, but F.npy has {F.shape}")
        trace, key = F - o["neuropil"] * Fneu, "F.npy"
    else:
        trace, key = _npy(path / "spks.npy"), "spks.npy"
    if trace.ndim != 2:
        raise InputError(path / key, None, f"expected (ROIs, frames), got shape {trace.shape}")
    n_rois, n_frames = trace.shape
    cells = np.ones(n_rois, bool)
    if opts.only_cells:
        iscell = _npy(path / "iscell.npy")
        if iscell.ndim == 1:
            iscell = iscell[:, None]
        if iscell.shape[0] != n_rois:
            raise InputError(path / "iscell.npy", None, f"{iscell.shape[0]} ROIs, but {key} has {n_rois}")
        cells = iscell[:, 0] > 0.5
        if not cells.any():
            raise InputError(path / "iscell.npy", None, "no ROI is marked as a cell")
    if o["frame_times"]:
        ft = Path(o["frame_times"])
        if ft.suffix == ".csv":
            import pandas as pd
            try:
                times = pd.read_csv(ft, header=None).to_numpy(np.float64).reshape(-1)
            except Exception as err:
                raise InputError(ft, None, f"not a readable one-column CSV of frame times: {err}") from err
        else:
            times = _npy(ft)
        times = check_frame_times(times, ft, None)
        if len(times) != n_frames:
            raise InputError(ft, None, f"{len(times)} frame times, but {key} has {n_frames} frames")
    else:
        rate = o["frame_rate"] or load_ops(path / "ops.npy").get("fs")
        if not rate or not np.isfinite(rate) or rate <= 0:
            raise InputError(path / "ops.npy", "fs", f"no positive frame rate ({rate!r}); set frame_rate")
        times = np.arange(n_frames) / float(rate)
    log_file = Path(o["stimulus_log"])
    onsets, ids = _stimulus_log(log_file, times)
    check_window(onsets, opts, log_file, "time")
    responses, keep = trial_responses(trace[cells].T, times, onsets, opts, path / key, None)
    if not o["images"]:
        raise InputError("config", "recordings.images", "missing: the folder of stimulus images (<id>.npy / .png)")
    sel = np.flatnonzero(ids != opts.blank_image)
    zeros3, zeros2 = np.zeros((len(sel), 3)), np.zeros((len(sel), 2))
    return build_scan(
        path, responses=responses[sel], keep=keep[sel], image_ids=ids[sel],
        load_images_by_id=lambda i: load_image_folder(o["images"], i), behavior=zeros3, eye=zeros2,
        has_behavior=False, neuron_id=np.flatnonzero(cells),
        attrs={"source": "suite2p", "source_path": str(path), "trace": o["trace"]},
        keys={"responses": str(path / key), "behavior": "behavior", "pupil_center": "pupil_center", "tiers": "tiers",
              "frame_image_id": f"{log_file}: image_id", "neuron_id": str(path / "iscell.npy"), "images": o["images"]},
        opts=opts, min_repeats=min_repeats)
