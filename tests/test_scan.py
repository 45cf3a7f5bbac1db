"""The canonical scan file: round trip, validation, atomic writes, clear errors."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from neuroreg.files import InputError, atomic_output
from neuroreg.ingest.scan import read_scan, validate, write_scan

from conftest import make_scan


def test_round_trip(tmp_path, tiny_scan):
    path = tmp_path / "scan.h5"
    tiny_scan.ground_truth = {"snr": np.ones(tiny_scan.n_neurons)}
    write_scan(tiny_scan, path)
    back = read_scan(path)
    np.testing.assert_array_equal(back.responses, tiny_scan.responses)
    np.testing.assert_array_equal(back.trial_image, tiny_scan.trial_image)
    np.testing.assert_array_equal(back.tier, tiny_scan.tier)
    np.testing.assert_array_equal(back.images, tiny_scan.images)
    assert back.attrs["source"] == "test"
    np.testing.assert_array_equal(back.ground_truth["snr"], 1.0)
    idx, reps = back.oracle_responses()
    assert list(idx) == [20, 21, 22, 23]
    assert all(r.shape == (3, 5) for r in reps)


@pytest.mark.parametrize(
    "mutate, key, words",
    [
        (lambda s: setattr(s, "behavior", s.behavior[:-1]), "behavior", "expected shape"),
        (lambda s: setattr(s, "pupil_center", s.pupil_center[:, :1]), "pupil_center", "expected shape"),
        (lambda s: s.responses.__setitem__((3, 2), np.nan), "responses", "non-finite"),
        (lambda s: s.behavior.__setitem__((0, 0), np.inf), "behavior", "non-finite"),
        (lambda s: setattr(s, "trial_image", s.trial_image + 100), "trial_image", "indices must lie"),
        (lambda s: setattr(s, "trial_image", np.arange(s.n_trials) % len(s.images)), None, None),
        (lambda s: setattr(s, "tier", np.full(s.n_trials, "holdout")), "tier", "unknown tier"),
        (lambda s: setattr(s, "neuron_id", np.zeros(s.n_neurons, int)), "neuron_id", "not unique"),
    ],
)
def test_validate_names_key_and_problem(tiny_scan, mutate, key, words):
    mutate(tiny_scan)
    if key is None:  # every image shown the same number of times: still valid when > 1 repeat
        return
    with pytest.raises(InputError) as err:
        validate(tiny_scan, "my_scan.h5")
    assert "my_scan.h5" in str(err.value) and key in str(err.value) and words in str(err.value)


def test_no_repeats_and_one_repeat(tiny_scan):
    scan = make_scan(n_oracle=0)
    with pytest.raises(InputError, match="no image is shown more than once"):
        validate(scan, "x.h5")
    scan = make_scan(repeats=2)
    with pytest.raises(InputError, match="at least 3 repeats"):
        validate(scan, "x.h5", min_repeats=3)


def test_failed_write_leaves_nothing(tmp_path, tiny_scan):
    tiny_scan.responses[0, 0] = np.nan
    out = tmp_path / "scan.h5"
    with pytest.raises(InputError):
        write_scan(tiny_scan, out)
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_removes_temp_on_error(tmp_path):
    out = tmp_path / "a.txt"
    with pytest.raises(RuntimeError):
        with atomic_output(out) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_output_removes_what_a_killed_writer_left(tmp_path):
    """A writer killed mid-write (SIGKILL; a scheduler's scancel) leaves .<name>.tmp-<pid>: the next write of the same
    output removes it when that process is gone, and keeps a live process's file and other outputs' files."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    out = tmp_path / "checkpoint.pt"
    (tmp_path / f".checkpoint.pt.tmp-{pid}").write_text("half")  # its writer has exited
    (tmp_path / f".checkpoint.pt.tmp-{os.getppid()}").write_text("live")  # a live process's
    (tmp_path / f".other.pt.tmp-{pid}").write_text("another output's")
    with atomic_output(out) as tmp:
        tmp.write_text("whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["checkpoint.pt", f".checkpoint.pt.tmp-{os.getppid()}", f".other.pt.tmp-{pid}"])


def test_read_errors(tmp_path, tiny_scan):
    with pytest.raises(InputError, match="does not exist"):
        read_scan(tmp_path / "nope.h5")
    bad = tmp_path / "corrupt.h5"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(InputError, match="corrupt.h5.*not a readable HDF5"):
        read_scan(bad)
    good = tmp_path / "good.h5"
    write_scan(tiny_scan, good)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated.h5"):
        read_scan(truncated)
    with h5py.File(good, "a") as f:
        del f["behavior"]
    with pytest.raises(InputError, match="good.h5: behavior: missing"):
        read_scan(good)
