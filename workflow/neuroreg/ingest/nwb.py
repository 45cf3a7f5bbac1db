"""An NWB 2 file (pynwb) with two-photon traces and stimulus presentations -> the canonical scan.

What is read (names are config keys of the ``recordings`` entry; defaults in :data:`DEFAULTS`, set
for the Allen Brain Observatory natural-scenes layout)::

    processing/<ophys_module>/<trace>[/<series>]   RoiResponseSeries (frames, ROIs): trace = DfOverF,
                                                   Fluorescence or a deconvolved-events interface;
                                                   series: its name in there (default: the only one)
    its rois -> PlaneSegmentation                  ROI ids (neuron_id) and <cell_column> (0/1) if present
    <stimulus>                                     an intervals table (start_time + <image_column>) or a
                                                   TimeSeries of image indices (timestamps = onsets)
    <stimulus_images>                              (n_images, h, w) indexed by image id; or the
                                                   ``images`` folder (<id>.npy / <id>.png) instead
    <running>, <pupil_area>, <pupil_position>      TimeSeries, each optional (missing: not used)

An object is named by its path in the file: ``acquisition/<name>``, ``processing/<module>/<name>[/<name>]``,
``intervals/<name>``, ``stimulus/<name>``, ``stimulus_template/<name>``. Traces become trial responses
as in :mod:`neuroreg.ingest.traces`; presentations of ``blank_image`` (Allen: -1) are skipped.

Units and times as NWB defines them, through pynwb's own accessors: a series' values are
``data * conversion + offset`` in its ``unit`` (``get_data_in_units``, with ``channel_conversion``
where present), its times its ``timestamps`` or ``starting_time + i / rate`` (``get_timestamps``).
Image ids and stimulus images are read as stored. pynwb's warnings about the file go to the log,
each with the file's name.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np

from ..files import InputError
from .scan import Scan
from .traces import (TrialOptions, behavior_at, build_scan, check_frame_times, check_window, load_image_folder,
                     trial_responses)

log = logging.getLogger(__name__)

DEFAULTS = {
    "ophys_module": "ophys",
    "trace": "DfOverF",
    "series": None,
    "cell_column": "is_cell",
    "stimulus": "intervals/natural_scenes_presentations",
    "image_column": "frame",
    "stimulus_images": "stimulus_template/natural_scenes",
    "images": None,
    "running": "processing/running/speed",
    "pupil_area": "processing/eye_tracking/pupil_area",
    "pupil_position": "processing/eye_tracking/pupil_position",
}
OPTIONS = set(DEFAULTS) | {"window_start", "window_length", "statistic", "baseline", "validation_fraction",
                           "split_seed", "only_cells", "blank_image"}


def _child(obj, name):
    """obj[name] for an NWBFile attribute dict, a ProcessingModule or an interface; None if absent."""
    for attr in ("data_interfaces", "roi_response_series", "time_series"):
        d = getattr(obj, attr, None)
        if isinstance(d, dict) or hasattr(d, "keys"):
            if name in d:
                return d[name]
    try:
        return obj[name]
    except (KeyError, TypeError, AttributeError, IndexError):
        return None


def resolve(nwb, where: str):
    """The object at ``where`` (module docstring), or None."""
    parts = [p for p in where.split("/") if p]
    if not parts:
        return None
    obj = getattr(nwb, parts[0], None)
    for p in parts[1:]:
        if obj is None:
            return None
        obj = _child(obj, p)
    return obj


def _timestamps(series, path, where) -> np.ndarray:
    """The series' times in seconds: its timestamps, or starting_time + i / rate (pynwb's get_timestamps)."""
    key = f"{where}.timestamps" if series.timestamps is not None else f"{where}.rate"
    try:
        times = np.asarray(series.get_timestamps()[:], np.float64)
    except Exception as err:
        raise InputError(path, key, f"cannot be read (corrupt or truncated file?): {err}") from err
    return check_frame_times(times, path, key)


def _in_units(series, path, where) -> np.ndarray:
    """The series' values in its unit: data * conversion + offset (pynwb's get_data_in_units)."""
    try:
        return np.asarray(series.get_data_in_units(), np.float64)
    except Exception as err:
        raise InputError(path, where, f"cannot be read (corrupt or truncated file?): {err}") from err


def _optional_series(nwb, where, path):
    if not where:
        return None
    ts = resolve(nwb, where)
    if ts is None:
        log.info("%s: %s: not in the file, not used", path, where)
        return None
    v = _in_units(ts, path, where)
    t = _timestamps(ts, path, where)
    if len(v) != len(t) or not np.isfinite(v).all():
        finite = np.isfinite(v).reshape(len(v), -1).all(axis=1) if len(v) == len(t) else None
        if finite is None or finite.sum() < 2:
            raise InputError(path, where, f"expected {len(t)} finite samples, got shape {v.shape}")
        t, v = t[finite], v[finite]  # eye tracking loses samples to blinks: interpolate over them
    return t, v


def _presentations(nwb, o: dict, path):
    """(onsets (k,) s, image ids (k,)) from an intervals table or a TimeSeries of image indices."""
    where = o["stimulus"]
    obj = resolve(nwb, where)
    if obj is None:
        raise InputError(path, where, "no such stimulus table or TimeSeries (config key stimulus)")
    if hasattr(obj, "colnames"):
        if "start_time" not in obj.colnames:
            raise InputError(path, where, "the stimulus table has no start_time column")
        if o["image_column"] not in obj.colnames:
            raise InputError(path, f"{where}.{o['image_column']}", f"the stimulus table has no image ids (columns: "
                             f"{list(obj.colnames)}; config key image_column)")
        onsets = np.asarray(obj["start_time"].data[:], np.float64)
        ids = np.asarray(obj[o["image_column"]].data[:])
        key = f"{where}.{o['image_column']}"
    elif hasattr(obj, "data") and (getattr(obj, "timestamps", None) is not None or getattr(obj, "rate", None)):
        ids = np.asarray(obj.data[:])  # indices: as stored (NWB's IndexSeries takes no conversion)
        onsets = np.asarray(obj.get_timestamps()[:], np.float64)
        key = f"{where}.data"
    else:
        raise InputError(path, where, f"a {type(obj).__name__}, not an intervals table or a TimeSeries")
    if ids.ndim != 1 or len(ids) != len(onsets):
        raise InputError(path, key, f"expected one image id per onset ({len(onsets)},), got shape {ids.shape}")
    if not np.isfinite(onsets).all() or (np.diff(onsets) <= 0).any():
        raise InputError(path, f"{where}.start_time", "onsets must be finite and increasing")
    if ids.dtype.kind == "f" and (not np.isfinite(ids).all() or (ids != np.round(ids)).any()):
        raise InputError(path, key, "image ids must be finite integers")
    if ids.dtype.kind not in "iuf":
        raise InputError(path, key, f"image ids must be integers (indices of the stimulus images), got {ids.dtype}")
    return onsets, ids.astype(np.int64), key


def _trace_series(nwb, o: dict, path):
    module = resolve(nwb, f"processing/{o['ophys_module']}")
    if module is None:
        raise InputError(path, f"processing/{o['ophys_module']}", "no ophys processing module (config key "
                         f"ophys_module; modules in the file: {list(nwb.processing)})")
    where = f"processing/{o['ophys_module']}/{o['trace']}"
    iface = _child(module, o["trace"])
    if iface is None:
        raise InputError(path, where, f"missing (config key trace; in the module: {list(module.data_interfaces)})")
    series_d = getattr(iface, "roi_response_series", None)
    if series_d is None:  # the interface is itself a RoiResponseSeries
        if not hasattr(iface, "rois"):
            raise InputError(path, where, f"a {type(iface).__name__}, not a RoiResponseSeries or an interface "
                             "holding them (DfOverF, Fluorescence)")
        return iface, where
    if o["series"] is None:
        if len(series_d) != 1:
            raise InputError(path, where, f"{len(series_d)} RoiResponseSeries {list(series_d)}: name one (config "
                             "key series)")
        name = next(iter(series_d))
    else:
        name = o["series"]
        if name not in series_d:
            raise InputError(path, f"{where}/{name}", f"missing (config key series; there: {list(series_d)})")
    return series_d[name], f"{where}/{name}"


def read_nwb(path, *, min_repeats: int = 2, **options) -> Scan:
    """Read an NWB file (module docstring) into a validated Scan."""
    from pynwb import NWBHDF5IO

    path = Path(path)
    unknown = set(options) - OPTIONS
    if unknown:
        raise InputError("config", f"recordings.{sorted(unknown)[0]}", "not an option of source nwb")
    o = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS}}
    opts = TrialOptions.pick(options)
    if not path.is_file():
        raise InputError(path, None, "does not exist" if not path.exists() else "expected an NWB file")
    with warnings.catch_warnings(record=True) as caught:  # pynwb's warnings: to the log, with the file's name
        warnings.simplefilter("always")
        try:
            try:
                io = NWBHDF5IO(str(path), "r")
                nwb = io.read()
            except Exception as err:  # h5py / hdmf raise many types for a corrupt file
                raise InputError(path, None, f"not a readable NWB 2 file (corrupt or truncated?): {err}") from err
            try:
                return _read(nwb, o, opts, path, min_repeats)
            finally:
                io.close()
        finally:
            _log_warnings(caught, path)


def _log_warnings(caught, path) -> None:
    seen = set()
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in seen:
            seen.add(text)
            log.warning("%s: %s", path, text)


def _read(nwb, o, opts, path, min_repeats):
    series, where = _trace_series(nwb, o, path)
    trace = _in_units(series, path, where)
    if trace.ndim == 1:
        trace = trace[:, None]
    times = _timestamps(series, path, where)
    rois = series.rois
    table = rois.table
    idx = np.asarray(rois.data[:], np.int64)
    if trace.ndim != 2 or trace.shape[1] != len(idx):
        raise InputError(path, where, f"expected (frames, {len(idx)} ROIs), got shape {trace.shape}")
    neuron_id = np.asarray(table.id[:], np.int64)[idx]
    cells = np.ones(len(idx), bool)
    if opts.only_cells and o["cell_column"] and o["cell_column"] in table.colnames:
        cells = np.asarray(table[o["cell_column"]].data[:])[idx].astype(bool)
        if not cells.any():
            raise InputError(path, f"{table.name}.{o['cell_column']}", "no ROI is marked as a cell")
    onsets, ids, stim_key = _presentations(nwb, o, path)
    check_window(onsets, opts, path, o["stimulus"])
    responses, keep = trial_responses(trace[:, cells], times, onsets, opts, path, where)
    shown = ids != opts.blank_image
    if (~shown).any():
        log.info("%s: %s: skipping %d blank presentations (image %d)", path, stim_key, int((~shown).sum()),
                 opts.blank_image)
    behavior, eye, has_behavior = behavior_at(
        times, onsets, opts, pupil_size=_optional_series(nwb, o["pupil_area"], path),
        pupil_position=_optional_series(nwb, o["pupil_position"], path),
        running=_optional_series(nwb, o["running"], path))
    load = _image_loader(nwb, o, path)
    sel = np.flatnonzero(shown)
    return build_scan(
        path, responses=responses[sel], keep=keep[sel], image_ids=ids[sel], load_images_by_id=load,
        behavior=behavior[sel], eye=eye[sel], has_behavior=has_behavior, neuron_id=neuron_id[cells],
        attrs={"source": "nwb", "source_path": str(path), "trace": where, **_file_attrs(nwb)},
        keys={"responses": where, "behavior": o["running"] or "behavior", "pupil_center": o["pupil_position"] or
              "pupil_position", "tiers": "tiers", "frame_image_id": stim_key, "neuron_id": f"{table.name}.id",
              "images": o["images"] or o["stimulus_images"]},
        opts=opts, min_repeats=min_repeats)


def _file_attrs(nwb) -> dict:
    """animal (subject_id) and session (session_id) when the file has them."""
    out = {"animal": getattr(nwb.subject, "subject_id", None), "session": nwb.session_id}
    return {k: str(v) for k, v in out.items() if v}


def _image_loader(nwb, o, path):
    if o["images"]:
        return lambda ids: load_image_folder(o["images"], ids)
    where = o["stimulus_images"]
    obj = resolve(nwb, where)
    if obj is None:
        raise InputError(path, where, "no stimulus images in the file: give the image folder (config key images)")

    def load(ids):
        data = obj.data
        n = len(data)
        bad = (ids < 0) | (ids >= n)
        if bad.any():
            raise InputError(path, where, f"image id {int(ids[bad][0])} out of range: {n} images in the file")
        try:
            return np.stack([np.asarray(data[int(i)]) for i in ids])
        except Exception as err:
            raise InputError(path, where, f"cannot be read (corrupt or truncated file?): {err}") from err

    return load
