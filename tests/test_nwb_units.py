"""NWB units and times: the reader applies a series' conversion and offset, and starting_time + i / rate.

NWB stores a series' values as `data` with `conversion` and `offset` (value in `unit` = data * conversion
+ offset), and a regularly sampled series' times as `starting_time` and `rate` instead of timestamps.
Here the traces are stored as int16 counts (conversion 0.01, offset -2) sampled at 20 Hz from 1.5 s,
and running speed at conversion 0.5, offset 1 from 0.75 s at 10 Hz; the trial responses and the running
speed must come back in their units, at the right times. pynwb's warnings go to the log.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import h5py
import numpy as np
import pytest

from neuroreg.ingest.registry import read_recording

pynwb = pytest.importorskip("pynwb")

RATE, START = 20.0, 1.5  # the traces: 20 Hz from 1.5 s (rate-based timing, no timestamps)
CONVERSION, OFFSET = 0.01, -2.0  # dF/F = counts * 0.01 - 2
RUN_RATE, RUN_START, RUN_CONVERSION, RUN_OFFSET = 10.0, 0.75, 0.5, 1.0
N_ROI, N_ONCE, N_ORACLE, REPEATS, ISI = 4, 12, 3, 3, 1.0
WINDOW = {"window_start": 0.1, "window_length": 0.5}


def recording(seed=0):
    """Trials (onsets, image ids), the traces in dF/F at their frame times, running speed in cm/s."""
    rng = np.random.default_rng(seed)
    ids = np.concatenate([np.arange(N_ONCE), np.repeat(np.arange(N_ONCE, N_ONCE + N_ORACLE), REPEATS)])
    ids = rng.permutation(ids)
    onsets = START + 1.0 + ISI * np.arange(len(ids))
    n_frames = int((onsets[-1] + 1.0 - START) * RATE)
    times = START + np.arange(n_frames) / RATE
    level = rng.uniform(0.2, 3.0, (len(ids), N_ROI))  # each trial's response, held over [onset, onset + 0.8)
    dff = np.full((n_frames, N_ROI), 0.05)
    for k, t0 in enumerate(onsets):
        dff[(times >= t0) & (times < t0 + 0.8)] = level[k]
    counts = np.round((dff - OFFSET) / CONVERSION).astype(np.int16)  # what the file stores
    dff = counts * CONVERSION + OFFSET  # exactly what a reader that applies the units gets back
    run_times = RUN_START + np.arange(int((onsets[-1] + 1.0) * RUN_RATE)) / RUN_RATE
    speed = 3.0 + 2.0 * np.sin(run_times)  # cm/s
    speed_raw = (speed - RUN_OFFSET) / RUN_CONVERSION
    return dict(ids=ids, onsets=onsets, times=times, dff=dff, counts=counts, run_times=run_times, speed=speed,
                speed_raw=speed_raw, images=rng.integers(0, 256, (N_ONCE + N_ORACLE, 6, 8), dtype=np.uint8))


def write(path, rec):
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.epoch import TimeIntervals
    from pynwb.image import ImageSeries
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel

    nwb = NWBFile(session_description="units", identifier="units", session_start_time=datetime(2026, 12, 6, tzinfo=timezone.utc))
    device = nwb.create_device(name="microscope")
    plane = nwb.create_imaging_plane(
        name="plane0", optical_channel=OpticalChannel(name="green", description="GCaMP", emission_lambda=510.0),
        imaging_rate=RATE, description="V1", device=device, excitation_lambda=920.0, indicator="GCaMP6", location="V1")
    module = nwb.create_processing_module(name="ophys", description="2p")
    seg = ImageSegmentation()
    module.add(seg)
    ps = seg.create_plane_segmentation(name="PlaneSegmentation", description="rois", imaging_plane=plane)
    for a in range(N_ROI):
        mask = np.zeros((4, 4))
        mask[a, a] = 1
        ps.add_roi(image_mask=mask)
    region = ps.create_roi_table_region(region=list(range(N_ROI)), description="all")
    dff = DfOverF()
    module.add(dff)
    dff.create_roi_response_series(name="RoiResponseSeries", data=rec["counts"], rois=region, unit="dF/F",
                                   conversion=CONVERSION, offset=OFFSET, rate=RATE, starting_time=START)
    table = TimeIntervals(name="natural_scenes_presentations", description="natural scenes")
    table.add_column(name="frame", description="image index")
    for t, i in zip(rec["onsets"], rec["ids"]):
        table.add_row(start_time=float(t), stop_time=float(t) + 0.5, frame=int(i))
    nwb.add_time_intervals(table)
    nwb.add_stimulus_template(ImageSeries(name="natural_scenes", data=rec["images"], unit="NA", rate=1.0))
    running = nwb.create_processing_module(name="running", description="wheel")
    running.add(TimeSeries(name="speed", data=rec["speed_raw"], unit="cm/s", conversion=RUN_CONVERSION,
                           offset=RUN_OFFSET, rate=RUN_RATE, starting_time=RUN_START))
    # a series the reader does not use, with one timestamp too few: pynwb warns about it when it reads the file
    nwb.add_acquisition(TimeSeries(name="licks", data=np.ones(5), unit="n", timestamps=np.arange(5.0)))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with h5py.File(path, "a") as f:
        del f["acquisition/licks/timestamps"]
        f["acquisition/licks/timestamps"] = np.arange(4.0)
    return path


def expected_responses(rec):
    """Mean dF/F (in its unit) over the frames whose times fall in [onset + 0.1, onset + 0.6), by hand."""
    out = []
    for t0 in rec["onsets"]:
        sel = (rec["times"] >= t0 + WINDOW["window_start"]) & (rec["times"] < t0 + sum(WINDOW.values()))
        out.append(rec["dff"][sel].mean(axis=0))
    return np.array(out)


def test_conversion_offset_and_rate_based_times_give_the_trial_responses_in_units(tmp_path, caplog):
    rec = recording()
    path = write(tmp_path / "units.nwb", rec)
    with caplog.at_level(logging.WARNING, logger="neuroreg"):
        scan = read_recording({"source": "nwb", "path": str(path), **WINDOW})
    want = expected_responses(rec)
    np.testing.assert_array_equal(scan.image_id[scan.trial_image], rec["ids"])
    np.testing.assert_allclose(scan.responses, want, rtol=1e-5, atol=1e-6)
    # what a reader that ignored them would have got is far from it: counts (~200-500), or times from 0 s
    assert np.abs(scan.responses - want).max() < 1e-4 < np.abs(rec["counts"].mean() - want.mean())
    shifted = np.array([rec["dff"][(rec["times"] - START >= t0 + 0.1) & (rec["times"] - START < t0 + 0.6)].mean(0)
                        for t0 in rec["onsets"][:-2]])  # the last ones would run past the recording
    assert np.abs(shifted - want[:-2]).max() > 0.5
    # running speed in cm/s at the window's centre, from its own starting_time and rate
    centre = rec["onsets"] + WINDOW["window_start"] + WINDOW["window_length"] / 2
    np.testing.assert_allclose(scan.behavior[:, 2], np.interp(centre, rec["run_times"], rec["speed"]), rtol=1e-4)
    # pynwb's warning about the unused series reached the log, naming the file
    warned = [r.getMessage() for r in caplog.records if "licks" in r.getMessage()]
    assert warned and str(path) in warned[0] and "timestamps" in warned[0], caplog.text
