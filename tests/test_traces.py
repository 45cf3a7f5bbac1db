"""The trace-based sources (nwb, suite2p): a virtual V1 scan rendered as a two-photon recording round-trips.

A known answer: the virtual scan's trial responses r_ka become calcium events at each onset, convolved
with a calcium kernel, sampled at 30 Hz with noise added, written as an NWB file (pynwb) and as a suite2p
folder; ingestion must give back the exact trial -> image mapping and responses that correlate with r_ka
above MIN_R for every neuron. Then every bad input is an InputError naming the file and the object, with
no output left behind.
"""

from __future__ import annotations

import logging
import pickle
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest

from neuroreg.ingest.registry import ingest, read_recording
from neuroreg.ingest.traces import TrialOptions, trial_responses
from neuroreg.ingest.virtual_scan import simulate_scan
from neuroreg.files import InputError

pynwb = pytest.importorskip("pynwb")

RATE, ISI, LATENCY, TAU_RISE, TAU_DECAY, NOISE = 30.0, 1.0, 0.05, 0.03, 0.25, 0.02
MIN_R = 0.98  # per-neuron correlation, recovered vs original trial responses (measured min: nwb 0.999, suite2p 0.992)
N_ONCE, N_ORACLE, REPEATS, N_NEURONS, N_NONCELL = 30, 5, 4, 12, 3
GAP_TRIAL = 10  # frames dropped inside this trial's window
WINDOW = {"window_start": 0.0, "window_length": 0.6}


def kernel(t):
    """Calcium kernel (rise tau 30 ms, decay 250 ms), peak 1; 0 before the event."""
    h = np.where(t > 0, (1 - np.exp(-np.maximum(t, 0) / TAU_RISE)) * np.exp(-np.maximum(t, 0) / TAU_DECAY), 0.0)
    tt = np.linspace(0, 2, 4001)[1:]
    return h / ((1 - np.exp(-tt / TAU_RISE)) * np.exp(-tt / TAU_DECAY)).max()


@pytest.fixture(scope="module")
def rec():
    return render_recording()


def render_recording():
    """The virtual scan and its rendering: times (T,), traces (T, n + non-cells), onsets, trial image ids."""
    rng = np.random.default_rng(0)
    n_img = N_ONCE + N_ORACLE
    images = rng.integers(0, 256, (n_img, 12, 16), dtype=np.uint8)
    is_oracle = np.arange(n_img) >= N_ONCE
    scan = simulate_scan(images, np.arange(n_img), is_oracle, animal=1, session=1, n_neurons=N_NEURONS,
                         repeats=REPEATS, seed=3)
    k = scan.n_trials
    onsets = 2.0 + ISI * np.arange(k)
    times = np.arange(int((onsets[-1] + 0.3) * RATE)) / RATE  # the last trial's window runs past the end
    drop = (times > onsets[GAP_TRIAL] + 0.2) & (times < onsets[GAP_TRIAL] + 0.4)  # dropped frames
    times = times[~drop]
    r = scan.responses.astype(np.float64)  # (k, n)
    events = kernel(times[:, None] - onsets[None, :] - LATENCY)  # (T, k)
    calcium = events @ r
    noncell = rng.normal(0, 1, (len(times), N_NONCELL))
    traces = np.concatenate([calcium, noncell], axis=1)
    traces += rng.normal(0, NOISE * calcium.std(), traces.shape)
    behavior = scan.behavior.astype(np.float64)
    return dict(scan=scan, times=times, traces=traces, onsets=onsets, ids=scan.image_id[scan.trial_image],
                images=images, running=behavior[:, 2], rng=rng)


def write_nwb(path, rec, *, ophys=True, timestamps=None, data=None, image_column="frame", blank=True):
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.base import ProcessingModule
    from pynwb.epoch import TimeIntervals
    from pynwb.image import ImageSeries
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel

    nwb = NWBFile(session_description="virtual V1 rendered", identifier="virtual-v1",
                  session_start_time=datetime(2026, 12, 2, tzinfo=timezone.utc), session_id="s1")
    times = rec["times"] if timestamps is None else timestamps
    if ophys:
        device = nwb.create_device(name="microscope")
        plane = nwb.create_imaging_plane(
            name="plane0", optical_channel=OpticalChannel(name="green", description="GCaMP", emission_lambda=510.0),
            imaging_rate=RATE, description="V1", device=device, excitation_lambda=920.0, indicator="GCaMP6",
            location="V1")
        module = nwb.create_processing_module(name="ophys", description="2p")
        seg = ImageSegmentation()
        module.add(seg)
        ps = seg.create_plane_segmentation(name="PlaneSegmentation", description="rois", imaging_plane=plane)
        ps.add_column(name="is_cell", description="1 = cell")
        n_roi = rec["traces"].shape[1]
        for a in range(n_roi):
            mask = np.zeros((4, 4))
            mask[a % 4, a // 4 % 4] = 1
            ps.add_roi(image_mask=mask, is_cell=int(a < N_NEURONS), id=100 + a)
        region = ps.create_roi_table_region(region=list(range(n_roi)), description="all")
        dff = DfOverF()
        module.add(dff)
        dff.create_roi_response_series(name="RoiResponseSeries", data=rec["traces"] if data is None else data,
                                       rois=region, unit="dF/F", timestamps=times)
    ids, onsets = rec["ids"].copy(), rec["onsets"].copy()
    if blank:  # one blank (grey screen) presentation before the first trial
        onsets = np.insert(onsets, 0, onsets[0] - ISI)
        ids = np.insert(ids, 0, -1)
    table = TimeIntervals(name="natural_scenes_presentations", description="natural scenes")
    if image_column:
        table.add_column(name=image_column, description="image index")
    for t, i in zip(onsets, ids):
        table.add_row(start_time=float(t), stop_time=float(t) + 0.25, **({image_column: int(i)} if image_column else {}))
    nwb.add_time_intervals(table)
    nwb.add_stimulus_template(ImageSeries(name="natural_scenes", data=rec["images"], unit="NA", rate=1.0))
    running = ProcessingModule(name="running", description="wheel")
    nwb.add_processing_module(running)
    running.add(TimeSeries(name="speed", data=np.repeat(rec["running"], 2), unit="cm/s",
                           timestamps=np.stack([rec["onsets"] - 0.01, rec["onsets"] + 0.98], 1).reshape(-1)))
    eye = nwb.create_processing_module(name="eye_tracking", description="pupil")
    t_eye = np.arange(0, rec["times"][-1], 0.1)
    eye.add(TimeSeries(name="pupil_area", data=1 + 0.1 * t_eye, unit="mm^2", timestamps=t_eye))  # area 1 + 0.1 t
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def write_suite2p(root: Path, rec, *, ops=True):
    """plane0/ (F, Fneu, spks, iscell, ops), frame_times.npy, stimulus_log.csv, images/<id>.npy."""
    rng = np.random.default_rng(1)
    plane = root / "plane0"
    plane.mkdir(parents=True)
    T, n = rec["traces"].shape
    fneu = 50 + np.cumsum(rng.normal(0, 0.5, (n, T)), axis=1)  # slow neuropil drift
    F = 200.0 + rec["traces"].T + 0.7 * fneu
    np.save(plane / "F.npy", F.astype(np.float32))
    np.save(plane / "Fneu.npy", fneu.astype(np.float32))
    np.save(plane / "spks.npy", np.maximum(rec["traces"].T, 0).astype(np.float32))
    np.save(plane / "iscell.npy", np.stack([np.arange(n) < N_NEURONS, np.full(n, 0.9)], 1).astype(np.float64))
    if ops:
        np.save(plane / "ops.npy", {"fs": RATE, "nframes": T, "meanImg": np.zeros((4, 4))}, allow_pickle=True)
    np.save(root / "frame_times.npy", rec["times"])
    lines = ["time,image_id"] + [f"{t:.6f},{i}" for t, i in zip(rec["onsets"], rec["ids"])]
    (root / "stimulus_log.csv").write_text("\n".join(lines) + "\n")
    (root / "images").mkdir()
    for i, im in enumerate(rec["images"]):
        np.save(root / "images" / f"{i}.npy", im)
    return {"source": "suite2p", "path": str(plane), "stimulus_log": str(root / "stimulus_log.csv"),
            "frame_times": str(root / "frame_times.npy"), "images": str(root / "images"), "baseline": 0.3,
            "window_length": 0.6}


def per_neuron_r(a, b):
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def check_round_trip(scan, rec, caplog):
    """Exact trial -> image mapping, the two dropped trials, responses per neuron r >= MIN_R, tiers."""
    n_trials = rec["scan"].n_trials
    keep = np.ones(n_trials, bool)
    keep[[GAP_TRIAL, n_trials - 1]] = False
    assert "dropping 2 of" in caplog.text
    assert scan.attrs["n_dropped_trials"] == 2
    np.testing.assert_array_equal(scan.image_id[scan.trial_image], rec["ids"][keep])
    np.testing.assert_array_equal(scan.images, rec["images"][scan.image_id])
    assert scan.n_neurons == N_NEURONS
    r = per_neuron_r(scan.responses.astype(np.float64), rec["scan"].responses[keep].astype(np.float64))
    assert r.min() > MIN_R, np.round(r, 4)
    oracle = np.isin(scan.image_id[scan.trial_image], np.arange(N_ONCE, N_ONCE + N_ORACLE))
    assert (scan.tier[oracle] == "test").all() and (scan.tier[~oracle] != "test").all()
    assert (scan.tier == "validation").sum() == 3  # 10 % of the 30 once-shown images
    return r


def test_nwb_round_trip(tmp_path, rec, caplog):
    path = write_nwb(tmp_path / "rec.nwb", rec)
    with caplog.at_level(logging.INFO):
        scan = read_recording({"source": "nwb", "path": str(path), **WINDOW})
    r = check_round_trip(scan, rec, caplog)
    print(f"nwb: per-neuron r min {r.min():.4f} median {np.median(r):.4f}")
    np.testing.assert_array_equal(scan.neuron_id, 100 + np.arange(N_NEURONS))
    assert "skipping 1 blank" in caplog.text
    keep = np.ones(rec["scan"].n_trials, bool)
    keep[[GAP_TRIAL, rec["scan"].n_trials - 1]] = False
    np.testing.assert_allclose(scan.behavior[:, 2], rec["running"][keep], rtol=1e-5)
    assert scan.attrs["has_behavior"] and scan.attrs["session"] == "s1"
    centre = rec["onsets"][keep] + WINDOW["window_start"] + WINDOW["window_length"] / 2
    np.testing.assert_allclose(scan.behavior[:, 0], 1 + 0.1 * centre, rtol=1e-5)  # pupil size at the window centre
    np.testing.assert_allclose(scan.behavior[:, 1], 0.1, rtol=1e-4)  # its derivative, per s


def test_suite2p_round_trip(tmp_path, rec, caplog):
    spec = write_suite2p(tmp_path, rec)
    out = tmp_path / "scans" / "s2p.h5"
    scan = ingest(spec, out)
    r = check_round_trip(scan, rec, caplog)
    print(f"suite2p: per-neuron r min {r.min():.4f} median {np.median(r):.4f}")
    np.testing.assert_array_equal(scan.neuron_id, np.arange(N_NEURONS))
    assert out.exists() and not scan.attrs["has_behavior"]
    # the frame rate from ops.npy (safe loader) instead of frame_times: same trials without the gap's drop
    del spec["frame_times"]
    caplog.clear()
    scan2 = read_recording(spec)
    assert scan2.n_trials >= scan.n_trials


def test_window_mean_sum_and_baseline_by_hand():
    times = np.arange(10) / 10.0  # 10 Hz
    trace = np.arange(10.0)[:, None]  # x(t) = 10 t
    onsets = np.array([0.2, 0.6])
    opts = TrialOptions(window_start=0.1, window_length=0.2)
    resp, keep = trial_responses(trace, times, onsets, opts, "f", "k")
    np.testing.assert_allclose(resp[:, 0], [3.5, 7.5])  # frames 3,4 and 7,8
    resp, _ = trial_responses(trace, times, onsets, TrialOptions(window_start=0.1, window_length=0.2,
                                                                 statistic="sum", baseline=0.2), "f", "k")
    np.testing.assert_allclose(resp[:, 0], [7 - 2 * 0.5, 15 - 2 * 4.5])  # baseline frames 0,1 and 4,5
    assert keep.all()


def test_ops_pickle_that_runs_code_is_refused(tmp_path, rec):
    spec = write_suite2p(tmp_path, rec)
    del spec["frame_times"]

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    ops = Path(spec["path"]) / "ops.npy"
    np.save(ops, np.array([Evil()], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match=r"ops.npy: not loaded: refusing to load builtins.print.*frame_rate"):
        read_recording(spec)
    assert read_recording({**spec, "frame_rate": RATE}).n_neurons == N_NEURONS  # the config's rate instead


# ---- bad inputs: (spec, where, words) -------------------------------------------------------------------


def _nwb(tmp_path, rec, **kw):
    return {"source": "nwb", "path": str(write_nwb(tmp_path / "rec.nwb", rec, **kw)), **WINDOW}


def nwb_missing_file(tmp_path, rec):
    return {"source": "nwb", "path": str(tmp_path / "none.nwb")}, "none.nwb", "does not exist"


def nwb_no_ophys(tmp_path, rec):
    return _nwb(tmp_path, rec, ophys=False), "processing/ophys", "no ophys processing module"


def nwb_missing_series(tmp_path, rec):
    return {**_nwb(tmp_path, rec), "series": "deconvolved"}, "DfOverF/deconvolved", "missing (config key series"


def nwb_missing_interface(tmp_path, rec):
    return {**_nwb(tmp_path, rec), "trace": "Fluorescence"}, "processing/ophys/Fluorescence", "missing"


def nwb_timestamps_not_increasing(tmp_path, rec):
    t = rec["times"].copy()
    t[50] = t[48]
    return _nwb(tmp_path, rec, timestamps=t), "RoiResponseSeries.timestamps", "timestamps not increasing"


def nwb_no_image_ids(tmp_path, rec):
    return _nwb(tmp_path, rec, image_column=None), "natural_scenes_presentations.frame", "has no image ids"


def nwb_window_longer_than_isi(tmp_path, rec):
    return ({**_nwb(tmp_path, rec), "window_length": 1.2}, "natural_scenes_presentations",
            "longer than the shortest inter-stimulus interval")


def nwb_nan_trace(tmp_path, rec):
    d = rec["traces"].copy()
    d[7, 2] = np.nan
    return _nwb(tmp_path, rec, data=d), "RoiResponseSeries", "non-finite values (NaN or inf), first at frame 7, ROI 2"


def nwb_wrong_shape(tmp_path, rec):
    with pytest.warns(UserWarning, match="does not match the length of rois"):  # pynwb warns, and writes it
        spec = _nwb(tmp_path, rec, data=rec["traces"][:, :-1])
    return spec, "RoiResponseSeries", "expected (frames, 15 ROIs)"


def nwb_image_out_of_range(tmp_path, rec):
    return ({**_nwb(tmp_path, rec), "stimulus_images": "stimulus_template/natural_scenes", "blank_image": -2},
            "stimulus_template/natural_scenes", "image id -1 out of range")


def nwb_corrupt(tmp_path, rec):
    spec = _nwb(tmp_path, rec)
    raw = Path(spec["path"]).read_bytes()
    Path(spec["path"]).write_bytes(raw[: len(raw) // 3])
    return spec, "rec.nwb", "not a readable NWB 2 file"


def nwb_trace_not_a_series(tmp_path, rec):
    return ({**_nwb(tmp_path, rec), "trace": "ImageSegmentation"}, "processing/ophys/ImageSegmentation",
            "not a RoiResponseSeries")


def nwb_unknown_option(tmp_path, rec):
    return {**_nwb(tmp_path, rec), "neuropil": 0.7}, "recordings.neuropil", "not an option of source 'nwb'"


def s2p_missing_F(tmp_path, rec):
    spec = write_suite2p(tmp_path, rec)
    (Path(spec["path"]) / "F.npy").unlink()
    return spec, "F.npy", "file does not exist"


def s2p_fneu_shape(tmp_path, rec):
    spec = write_suite2p(tmp_path, rec)
    np.save(Path(spec["path"]) / "Fneu.npy", np.zeros((3, 4)))
    return spec, "Fneu.npy", "shape (3, 4), but F.npy has"


def s2p_nan(tmp_path, rec):
    spec = write_suite2p(tmp_path, rec)
    F = np.load(Path(spec["path"]) / "F.npy")
    F[1, 9] = np.nan
    np.save(Path(spec["path"]) / "F.npy", F)
    return spec, "F.npy", "non-finite values (NaN or inf), first at frame 9, ROI 1"


def s2p_corrupt_npy(tmp_path, rec):
    spec = write_suite2p(tmp_path, rec)
    (Path(spec["path"]) / "spks.npy").write_bytes(b"\x93NUMPY garbage")
    return {**spec, "trace": "spks"}, "spks.npy", "not a readable .npy file"


def s2p_log_without_ids(tmp_path, rec):
    spec = write_suite2p(tmp_path, rec)
    Path(spec["stimulus_log"]).write_text("time,stim\n1.0,3\n2.0,4\n")
    return spec, "stimulus_log.csv: image_id", "has no image ids"


def s2p_window_longer_than_isi(tmp_path, rec):
    return ({**write_suite2p(tmp_path, rec), "window_length": 1.2}, "stimulus_log.csv",
            "longer than the shortest inter-stimulus interval")


def s2p_frame_times_not_increasing(tmp_path, rec):
    spec = write_suite2p(tmp_path, rec)
    t = rec["times"].copy()
    t[[3, 4]] = t[[4, 3]]
    np.save(spec["frame_times"], t)
    return spec, "frame_times.npy", "timestamps not increasing"


def s2p_frame_times_wrong_length(tmp_path, rec):
    spec = write_suite2p(tmp_path, rec)
    np.save(spec["frame_times"], rec["times"][:-5])
    return spec, "frame_times.npy", "frame times, but F.npy has"


def s2p_missing_images(tmp_path, rec):
    spec = write_suite2p(tmp_path, rec)
    (Path(spec["images"]) / "3.npy").unlink()
    return spec, "3.npy", "no image file for image id 3"


CASES = {f.__name__: f for f in list(globals().values()) if callable(f) and getattr(f, "__name__", "")[:4] in
         ("nwb_", "s2p_")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_names_file_and_object_and_leaves_no_output(tmp_path, rec, case):
    spec, where, words = CASES[case](tmp_path, rec)
    out = tmp_path / "results" / "scans" / "bad.h5"
    with pytest.raises(InputError) as err:
        ingest(spec, out)
    msg = str(err.value)
    assert where in msg and words in msg, msg
    assert not out.exists() and (not out.parent.exists() or not any(out.parent.iterdir()))


def test_pickled_behaviour_is_never_run(tmp_path):
    """The safe unpickler refuses a reduce to os.system, before any call."""
    from neuroreg.ingest.suite2p import load_ops

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    f = tmp_path / "ops.npy"
    with open(f, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, {"descr": "|O", "fortran_order": False, "shape": (1,)})
        pickle.dump(np.array([Evil()], dtype=object), fh)
    with pytest.raises(InputError, match="refusing to load"):
        load_ops(f)
    assert not (tmp_path / "pwned").exists()


def test_stimulus_as_a_timeseries_of_image_indices(tmp_path, rec):
    """The other NWB layout: a TimeSeries of image indices (timestamps = onsets) in stimulus/."""
    from pynwb import NWBHDF5IO, TimeSeries

    path = write_nwb(tmp_path / "rec.nwb", rec, blank=False)
    with NWBHDF5IO(str(path), "a") as io:
        nwb = io.read()
        nwb.add_stimulus(TimeSeries(name="scene_index", data=rec["ids"], unit="NA", timestamps=rec["onsets"]))
        io.write(nwb)
    scan = read_recording({"source": "nwb", "path": str(path), "stimulus": "stimulus/scene_index", **WINDOW})
    keep = np.ones(rec["scan"].n_trials, bool)
    keep[[GAP_TRIAL, rec["scan"].n_trials - 1]] = False
    np.testing.assert_array_equal(scan.image_id[scan.trial_image], rec["ids"][keep])


def test_the_options_are_the_schemas():
    """One list of option keys: the schema's recordings entry = the common keys + both sources' options."""
    from neuroreg import config as C
    from neuroreg.ingest import registry

    props = set(C.schema()["properties"]["recordings"]["additionalProperties"]["properties"])
    assert props == set(registry.COMMON) | set().union(*registry.OPTIONS.values())
    assert set(registry.FILE_OPTIONS) <= props


@pytest.mark.parametrize("example", ["nwb-example.yaml", "suite2p-example.yaml"])
def test_the_shipped_examples_ingest(tmp_path, rec, example):
    """config/<source>-example.yaml's recording, its file paths pointed at files this test writes."""
    import yaml

    entry = next(iter(yaml.safe_load((Path(__file__).parents[1] / "config" / example).read_text())
                      ["recordings"].values()))
    files = _nwb(tmp_path, rec) if entry["source"] == "nwb" else write_suite2p(tmp_path, rec)
    spec = {**entry, **{k: files[k] for k in ("path", "stimulus_log", "frame_times", "images") if k in entry}}
    if entry["source"] == "nwb":
        spec["window_length"] = 0.6  # the Allen example's 0.2 s works too; the virtual trials are 1 s apart
    scan = read_recording(spec)
    assert scan.n_neurons == N_NEURONS and scan.n_trials == rec["scan"].n_trials - 2


def test_suite2p_log_with_onset_frames(tmp_path, rec, caplog):
    """The stimulus log may give each onset as a frame index instead of a time."""
    spec = write_suite2p(tmp_path, rec)
    frames = np.searchsorted(rec["times"], rec["onsets"] - 1e-9)
    np.testing.assert_allclose(rec["times"][frames], rec["onsets"])  # onsets lie on frames here
    lines = ["frame,image_id"] + [f"{f},{i}" for f, i in zip(frames, rec["ids"])]
    Path(spec["stimulus_log"]).write_text("\n".join(lines) + "\n")
    check_round_trip(read_recording(spec), rec, caplog)
