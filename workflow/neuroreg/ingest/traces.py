"""Fluorescence traces -> per-trial responses (what the ``nwb`` and ``suite2p`` sources share).

A recording is a trace per neuron sampled at frame times, plus stimulus onsets and the image of
each presentation. The response of neuron a to trial k is a statistic of its trace over a window
after the onset o_k::

    r_ka = mean_{t in W_k} x_a(t)  [- mean_{t in B_k} x_a(t)]      (statistic: mean; sum: the sum)
    W_k = [o_k + window_start, o_k + window_start + window_length)  frames whose time lies in it
    B_k = [o_k - baseline, o_k)                                     when baseline (seconds) is set

A trial is dropped (one warning that counts them) when its window (or baseline) starts before the
first frame, runs past the last one, or spans a dropped frame: a frame interval longer than 1.5
median intervals. Tiers (:func:`trial_tiers`): trials of images shown more than once are ``test``
(the oracle images); the trials of a seeded ``validation_fraction`` of the other images are
``validation``; the rest ``train``. Defaults: :class:`TrialOptions` (the one source of them).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..files import InputError

log = logging.getLogger(__name__)

GAP = 1.5  # a frame interval longer than GAP median intervals is a dropped frame


@dataclass(frozen=True)
class TrialOptions:
    """How traces become trial responses (config keys of a ``recordings`` entry)."""

    window_start: float = 0.0  # seconds after onset
    window_length: float = 0.5  # seconds
    statistic: str = "mean"  # mean | sum
    baseline: float | None = None  # seconds before onset to subtract (mean), or None
    validation_fraction: float = 0.1
    split_seed: int = 0
    only_cells: bool = True  # keep ROIs the segmentation marks as cells
    blank_image: int = -1  # image id of blank (grey-screen) presentations: their trials are skipped

    @classmethod
    def pick(cls, options: dict) -> "TrialOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in names})


def check_frame_times(times: np.ndarray, path, key) -> np.ndarray:
    """(T,) frame times in seconds: finite, strictly increasing, at least 2."""
    times = np.asarray(times, np.float64)
    if times.ndim != 1 or len(times) < 2:
        raise InputError(path, key, f"expected (frames,) timestamps, at least 2, got shape {times.shape}")
    if not np.isfinite(times).all():
        raise InputError(path, key, f"{int((~np.isfinite(times)).sum())} non-finite timestamps (NaN or inf)")
    bad = np.flatnonzero(np.diff(times) <= 0)
    if len(bad):
        raise InputError(path, key, f"timestamps not increasing: {len(bad)} steps <= 0, first at frame {bad[0] + 1} "
                         f"({times[bad[0]]:.6g} -> {times[bad[0] + 1]:.6g} s)")
    return times


def check_window(onsets: np.ndarray, opts: TrialOptions, path, key) -> None:
    """The window must be positive, and fit between consecutive onsets (the inter-stimulus interval)."""
    if opts.statistic not in ("mean", "sum"):
        raise InputError("config", "recordings.statistic", f"{opts.statistic!r}: expected mean or sum")
    if opts.window_length <= 0 or opts.window_start < 0 or (opts.baseline is not None and opts.baseline <= 0):
        raise InputError("config", "recordings.window_length", "window_length and baseline must be > 0, "
                         "window_start >= 0")
    isi = np.diff(np.sort(onsets))
    if len(isi) and opts.window_start + opts.window_length > isi.min() + 1e-9:
        raise InputError(path, key, f"the response window (start {opts.window_start} s + length "
                         f"{opts.window_length} s) is longer than the shortest inter-stimulus interval "
                         f"({isi.min():.4g} s): responses of consecutive trials would mix")


def trial_responses(trace: np.ndarray, times: np.ndarray, onsets: np.ndarray, opts: TrialOptions,
                    path, key) -> tuple[np.ndarray, np.ndarray]:
    """trace (T, n), times (T,) s, onsets (k,) s -> responses (k, n) float64 and keep (k,) bool.

    Rows of dropped trials (module docstring) are NaN and ``keep`` False; one warning counts them.
    """
    trace = np.asarray(trace, np.float64)
    if trace.ndim != 2 or trace.shape[0] != len(times):
        raise InputError(path, key, f"expected ({len(times)} frames, neurons), got shape {trace.shape}")
    if not np.isfinite(trace).all():
        i, a = np.argwhere(~np.isfinite(trace))[0]
        raise InputError(path, key, f"{int((~np.isfinite(trace)).sum())} non-finite values (NaN or inf), "
                         f"first at frame {i}, ROI {a}")
    dt = float(np.median(np.diff(times)))
    eps = 1e-6 * dt
    gaps = np.diff(times) > GAP * dt  # gaps[i]: frames i and i+1 are too far apart
    cum = np.concatenate([[0.0], np.cumsum(gaps)])
    csum = np.concatenate([np.zeros((1, trace.shape[1])), np.cumsum(trace, axis=0)])

    def span(a, b):
        """frame index range [i0, i1) with a <= t < b, and whether it is complete (in range, no gap)."""
        ok = (a + eps >= times[0]) & (b - eps <= times[-1] + dt)
        # a frame at a boundary's time belongs to the window that it starts (0.2 + 0.1 > 0.3 in floating point)
        i0, i1 = np.searchsorted(times, a - eps, "left"), np.searchsorted(times, b - eps, "left")
        ok &= i1 > i0
        lo, hi = np.maximum(i0 - 1, 0), np.minimum(i1, len(times) - 1)
        ok &= (cum[hi] - cum[lo]) == 0  # no gap between the frame before and the last frame
        return i0, i1, ok

    w0 = onsets + opts.window_start
    i0, i1, keep = span(w0, w0 + opts.window_length)
    count = np.maximum(i1 - i0, 1)[:, None]
    resp = csum[i1] - csum[i0]
    if opts.statistic == "mean":
        resp = resp / count
    if opts.baseline is not None:
        b0, b1, bok = span(onsets - opts.baseline, onsets)
        keep &= bok
        base = (csum[b1] - csum[b0]) / np.maximum(b1 - b0, 1)[:, None]
        resp = resp - (base * count if opts.statistic == "sum" else base)
    resp[~keep] = np.nan
    if (~keep).any():
        log.warning("%s: dropping %d of %d trials whose response window runs past the recording or over "
                    "dropped frames", ": ".join(str(p) for p in (path, key) if p), int((~keep).sum()), len(keep))
    return resp, keep


def trial_tiers(image_ids: np.ndarray, opts: TrialOptions) -> np.ndarray:
    """(k,) image id per trial -> (k,) tier: repeated images test, a seeded share of the rest validation."""
    ids, counts = np.unique(image_ids, return_counts=True)
    once = ids[counts == 1]
    rng = np.random.default_rng(opts.split_seed)
    val = rng.choice(once, size=int(round(opts.validation_fraction * len(once))), replace=False)
    tier = np.full(len(image_ids), "train", dtype="<U10")
    tier[np.isin(image_ids, val)] = "validation"
    tier[np.isin(image_ids, ids[counts > 1])] = "test"
    return tier


def behavior_at(times: np.ndarray, onsets: np.ndarray, opts: TrialOptions, *, pupil_size=None,
                pupil_position=None, running=None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Behaviour at the centre of each response window, linearly interpolated.

    Each of ``pupil_size``, ``running`` is (times (m,), values (m,)) or None; ``pupil_position`` is
    (times, (m, 2)). Returns behavior (k, 3) = pupil size, its time derivative (per s), running
    speed; pupil_center (k, 2); and whether any of them was present (missing ones are 0).
    """
    centre = onsets + opts.window_start + opts.window_length / 2
    k = len(onsets)
    behavior, eye = np.zeros((k, 3)), np.zeros((k, 2))
    if pupil_size is not None:
        t, v = pupil_size
        behavior[:, 0] = np.interp(centre, t, v)
        behavior[:, 1] = np.interp(centre, t, np.gradient(v, t)) if len(t) > 1 else 0.0
    if running is not None:
        behavior[:, 2] = np.interp(centre, *running)
    if pupil_position is not None:
        t, v = pupil_position
        eye = np.stack([np.interp(centre, t, v[:, j]) for j in range(2)], axis=1)
    return behavior, eye, any(x is not None for x in (pupil_size, pupil_position, running))


def load_image_folder(folder, ids: np.ndarray) -> np.ndarray:
    """Images ``<folder>/<id>.npy`` or ``<id>.png`` (grayscale) for each id -> (k, h, w)."""
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, None, "image folder does not exist")
    out = []
    for i in ids:
        npy, png = folder / f"{int(i)}.npy", folder / f"{int(i)}.png"
        try:
            if npy.is_file():
                im = np.load(npy, allow_pickle=False)
            elif png.is_file():
                with Image.open(png) as f:
                    im = np.asarray(f.convert("L"))
            else:
                raise InputError(folder, f"{int(i)}.npy", f"no image file for image id {int(i)} (.npy or .png)")
        except (ValueError, OSError, EOFError) as err:
            raise InputError(npy if npy.is_file() else png, None, f"not a readable image (corrupt?): {err}") from err
        out.append(np.asarray(im))
    shapes = {im.shape for im in out}
    if len(shapes) != 1 or out[0].ndim != 2:
        raise InputError(folder, None, f"expected grayscale images of one shape (h, w), got {sorted(shapes)[:3]}")
    return np.stack(out)


def build_scan(path, *, responses, keep, image_ids, load_images_by_id, behavior, eye, has_behavior: bool,
               neuron_id, attrs: dict, keys: dict, opts: TrialOptions, min_repeats: int = 2):
    """Kept trials -> a validated canonical scan (:func:`.trials.assemble_trials`), tiers by :func:`trial_tiers`.

    ``load_images_by_id(ids)`` returns the images of those image ids as (k, h, w).
    """
    from .trials import assemble_trials

    ids = np.asarray(image_ids, np.int64)[keep]
    if not len(ids):
        raise InputError(path, keys["responses"], "no trial left (every window runs past the recording or over "
                         "dropped frames)")
    tiers = trial_tiers(ids, opts)
    return assemble_trials(
        path, frame_image_id=ids, responses=responses[keep], behavior=behavior[keep], pupil_center=eye[keep],
        tiers=tiers, neuron_id=neuron_id, load_images=lambda trials: load_images_by_id(ids[trials]), keys=keys,
        attrs={**attrs, "has_behavior": bool(has_behavior), "n_dropped_trials": int((~keep).sum())},
        min_repeats=min_repeats)
