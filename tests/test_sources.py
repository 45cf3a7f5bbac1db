"""Ingestion of recorded scans (static_h5, sensorium, antolik2016) into the canonical scan."""

from __future__ import annotations

import logging
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from neuroreg.files import InputError
from neuroreg.ingest.scan import read_scan
from neuroreg.ingest.registry import ingest, read_recording
from neuroreg.ingest.trials import stable_image_id

from conftest import SHARED_DATA

H, W, N_NEURONS = 6, 8, 5


def trial_design(n_once=20, n_oracle=4, repeats=5, seed=0):
    """Per-trial arrays of a small experiment: 20 images once, 4 oracle images x 5 (40 trials).

    Image ids are scattered (not 0..n-1) and trials shuffled, so a wrong mapping shows.
    Trial t's image has every pixel = its id % 251; responses[t, 0] = t.
    """
    rng = np.random.default_rng(seed)
    ids = rng.choice(np.arange(1000, 9000), n_once + n_oracle, replace=False)
    frame = np.concatenate([ids[:n_once], np.repeat(ids[n_once:], repeats)])
    tiers = np.array(["train"] * n_once + ["test"] * (n_oracle * repeats), dtype=object)
    tiers[:4] = "validation"
    tiers[4] = "val"
    order = rng.permutation(len(frame))
    frame, tiers = frame[order], tiers[order]
    n = len(frame)
    responses = rng.gamma(2.0, 1.0, (n, N_NEURONS))
    responses[:, 0] = np.arange(n)
    return dict(
        frame_image_id=frame.astype(np.int64),
        tiers=tiers.astype(str),
        images=np.broadcast_to((frame % 251).astype(np.uint8)[:, None, None, None], (n, 1, H, W)).copy(),
        responses=responses,
        behavior=rng.normal(size=(n, 3)),
        pupil_center=rng.normal(size=(n, 2)),
        unit_ids=np.arange(N_NEURONS) + 7,
        oracle_ids=np.sort(ids[n_once:]),
    )


def write_static_h5(path, d, *, drop=(), images_3d=False):
    with h5py.File(path, "w") as f:
        f["images"] = d["images"][:, 0] if images_3d else d["images"]
        for key in ("responses", "behavior", "pupil_center"):
            f[key] = d[key]
        f["tiers"] = np.array([t.encode() for t in d["tiers"]])
        f["item_info/frame_image_id"] = d["frame_image_id"]
        f["neurons/unit_ids"] = d["unit_ids"]
        f["neurons/animal_ids"] = np.full(N_NEURONS, 17)
        f["neurons/sessions"] = np.full(N_NEURONS, 3)
        f["neurons/scan_idx"] = np.full(N_NEURONS, 9)
        for key in drop:
            del f[key]
    return path


def write_sensorium(root: Path, d):
    """The Sensorium 2022 file tree under ``root``."""
    for kind in ("images", "responses", "behavior", "pupil_center"):
        (root / "data" / kind).mkdir(parents=True, exist_ok=True)
        for i, arr in enumerate(d[kind]):
            np.save(root / "data" / kind / f"{i}.npy", arr)
    (root / "meta" / "trials").mkdir(parents=True, exist_ok=True)
    (root / "meta" / "neurons").mkdir(parents=True, exist_ok=True)
    np.save(root / "meta/trials/tiers.npy", d["tiers"])
    np.save(root / "meta/trials/frame_image_id.npy", d["frame_image_id"])
    np.save(root / "meta/neurons/unit_ids.npy", d["unit_ids"])
    np.save(root / "meta/neurons/animal_ids.npy", np.full(N_NEURONS, 26872))
    return root


def zip_tree(root: Path, zip_path: Path, top="static26872-17-20-GrayImageNet-94c6ff995dac583098847cfecd43e7b6"):
    with zipfile.ZipFile(zip_path, "w") as z:
        for p in sorted(root.rglob("*")):
            if p.is_file():
                z.write(p, f"{top}/{p.relative_to(root).as_posix()}")
    return zip_path


def write_antolik(folder: Path, repeats=3, n_images=4, n_neurons=5, seed=0, images=None):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    raw = rng.gamma(2.0, 1.0, (repeats, n_images, n_neurons))
    if images is None:
        images = rng.integers(0, 256, (n_images, 31 * 31))
    np.save(folder / "raw_validation_set.npy", raw)
    np.save(folder / "validation_inputs.npy", images / 1e6)
    np.save(folder / "validation_set.npy", raw.mean(0))
    return raw, images


def check_trial_based(scan, d):
    """Shapes, trial -> image mapping, tiers, oracle images of a static_h5/sensorium scan."""
    n = len(d["frame_image_id"])
    assert scan.responses.shape == (n, N_NEURONS) and scan.images.shape == (24, H, W)
    np.testing.assert_array_equal(scan.responses[:, 0], np.arange(n))  # trial order kept (numeric, not lexical)
    np.testing.assert_array_equal(scan.image_id[scan.trial_image], d["frame_image_id"])
    np.testing.assert_array_equal(scan.images[scan.trial_image], d["images"][:, 0])
    np.testing.assert_allclose(scan.behavior, d["behavior"], rtol=1e-6)
    np.testing.assert_array_equal(scan.neuron_id, d["unit_ids"])
    expected = np.where(np.isin(d["tiers"], ["val", "validation"]), "validation", d["tiers"])
    np.testing.assert_array_equal(scan.tier, expected)
    np.testing.assert_array_equal(scan.image_id[scan.oracle_images()], d["oracle_ids"])
    assert all(r.shape == (5, N_NEURONS) for r in scan.oracle_responses()[1])


@pytest.mark.parametrize("images_3d", [False, True])
def test_static_h5_round_trip(tmp_path, images_3d):
    d = trial_design()
    src = write_static_h5(tmp_path / "static.h5", d, images_3d=images_3d)
    out = tmp_path / "scans" / "s.h5"
    ingest({"source": "static_h5", "path": str(src)}, out)
    scan = read_scan(out)
    check_trial_based(scan, d)
    assert scan.images.dtype == np.uint8
    assert (scan.attrs["source"], scan.attrs["animal"], scan.attrs["session"], scan.attrs["scan"]) == (
        "static_h5", 17, 3, 9)
    assert scan.attrs["has_behavior"]


@pytest.mark.parametrize("as_zip", [False, True])
def test_sensorium_round_trip(tmp_path, as_zip):
    d = trial_design()
    src = write_sensorium(tmp_path / "tree", d)
    if as_zip:
        src = zip_tree(src, tmp_path / "sensorium.zip")
    scan = read_recording({"source": "sensorium", "path": str(src), "session": 4})
    check_trial_based(scan, d)
    if not as_zip:  # the folder above the dataset folder works too
        check_trial_based(read_recording({"source": "sensorium", "path": str(tmp_path)}), d)
    assert scan.attrs["animal"] == 26872 and scan.attrs["session"] == 4


def test_sensorium_withheld_test_responses_are_dropped(tmp_path, caplog):
    d = trial_design()
    n = len(d["tiers"])
    extra = np.flatnonzero(d["tiers"] == "train")[:3]  # three train images move to a withheld final_test tier
    d["tiers"][extra] = "final_test"
    d["responses"][extra] = np.nan
    with caplog.at_level(logging.WARNING, logger="neuroreg"):
        scan = read_recording({"source": "sensorium", "path": str(write_sensorium(tmp_path / "t", d))})
    assert "dropping 3 ['final_test'] trials" in caplog.text
    assert scan.n_trials == n - 3 and len(scan.images) == 21 and scan.attrs["n_dropped_trials"] == 3
    assert not np.isin(scan.image_id, d["frame_image_id"][extra]).any()
    keep = np.setdiff1d(np.arange(n), extra)
    np.testing.assert_array_equal(scan.responses[:, 0], keep)


def test_antolik_fake_region(tmp_path):
    raw, pixels = write_antolik(tmp_path / "region7")
    scan = read_recording({"source": "antolik2016", "path": str(tmp_path / "region7")})
    assert scan.images.shape == (4, 31, 31) and scan.images.dtype == np.uint8
    np.testing.assert_array_equal(scan.images.reshape(4, -1), pixels)
    np.testing.assert_allclose(scan.responses, raw.reshape(12, 5), rtol=1e-6)  # repeat-major trials
    np.testing.assert_array_equal(scan.trial_image, np.tile(np.arange(4), 3))
    assert set(scan.tier) == {"test"} and len(scan.oracle_images()) == 4
    assert not scan.behavior.any() and not scan.pupil_center.any() and scan.attrs["has_behavior"] is False
    assert scan.attrs["scan"] == 7 and scan.attrs["source"] == "antolik2016"
    # same pixels -> same id in another region; ids are content-derived
    write_antolik(tmp_path / "region8", repeats=2, seed=1, images=pixels[::-1])
    other = read_recording({"source": "antolik2016", "path": str(tmp_path / "region8")})
    np.testing.assert_array_equal(other.image_id, scan.image_id[::-1])
    assert scan.image_id[0] == stable_image_id(scan.images[0])


ANTOLIK = SHARED_DATA / "antolik2016"


@pytest.mark.skipif(not ANTOLIK.is_dir(), reason="real antolik2016 data not present")
def test_antolik_real_data(tmp_path):
    scans = {}
    for region, (reps, neurons) in {1: (10, 103), 2: (8, 55), 3: (12, 102)}.items():
        out = tmp_path / f"region{region}.h5"
        ingest({"source": "antolik2016", "path": str(ANTOLIK / f"region{region}")}, out)
        s = scans[region] = read_scan(out)
        raw = np.load(ANTOLIK / f"region{region}" / "raw_validation_set.npy")
        assert raw.shape == (reps, 50, neurons)
        assert s.responses.shape == (reps * 50, neurons) and s.images.shape == (50, 31, 31)
        assert s.images.max() == 255 and s.images.min() == 0
        np.testing.assert_allclose(s.oracle_responses()[1][7], raw[:, 7], rtol=1e-6)
        assert len(s.oracle_images()) == 50 and s.attrs["scan"] == region
    np.testing.assert_array_equal(scans[1].image_id, scans[2].image_id)  # regions 1 and 2 saw the same images
    assert not set(scans[3].image_id) & set(scans[1].image_id)  # region 3 saw other images


# --------------------------------------------------------------------------- bad inputs
def _static(tmp_path, mutate=None, **kw):
    d = trial_design()
    if mutate:
        mutate(d)
    return {"source": "static_h5", "path": str(write_static_h5(tmp_path / "static.h5", d, **kw))}


def _sensorium(tmp_path, mutate=None, as_zip=False):
    d = trial_design()
    if mutate:
        mutate(d)
    root = write_sensorium(tmp_path / "tree", d)
    path = zip_tree(root, tmp_path / "s.zip") if as_zip else root
    return {"source": "sensorium", "path": str(path)}


def _antolik(tmp_path, **kw):
    write_antolik(tmp_path / "region1", **kw)
    return {"source": "antolik2016", "path": str(tmp_path / "region1")}


def _set(key, index, value):
    return lambda d: d[key].__setitem__(index, value)


def _truncate(p: Path, keep=0.5):
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * keep)])


def _first(tiers, tier):
    return int(np.flatnonzero(tiers == tier)[0])


def case_static_missing_path(tmp_path):
    return {"source": "static_h5", "path": str(tmp_path / "nope.h5")}, "nope.h5", "does not exist"


def case_static_missing_behavior(tmp_path):
    return _static(tmp_path, drop=["behavior"]), "behavior", "missing"


def case_static_missing_frame_id(tmp_path):
    return _static(tmp_path, drop=["item_info/frame_image_id"]), "item_info/frame_image_id", "missing"


def case_static_trial_mismatch(tmp_path):
    return _static(tmp_path, lambda d: d.update(behavior=d["behavior"][:-2])), "behavior", "38 trials"


def case_static_nan_train(tmp_path):
    def mutate(d):
        d["responses"][_first(d["tiers"], "train"), 2] = np.nan
    return _static(tmp_path, mutate), "responses", "non-finite"


def case_static_inf_behavior(tmp_path):
    return _static(tmp_path, _set("behavior", (3, 1), np.inf)), "behavior", "non-finite"


def case_static_no_repeats(tmp_path):
    def mutate(d):
        d["frame_image_id"] = np.arange(len(d["frame_image_id"])) + 5
    return _static(tmp_path, mutate), "frame_image_id", "no image is shown more than once"


def case_static_unknown_tier(tmp_path):
    return _static(tmp_path, _set("tiers", 0, "holdout")), "tiers", "unknown tier 'holdout'"


def case_static_truncated(tmp_path):
    spec = _static(tmp_path)
    _truncate(Path(spec["path"]))
    return spec, "static.h5", "corrupt or truncated"


def case_static_too_few_repeats(tmp_path):  # min_repeats from config: 6 > the 5 repeats
    return dict(_static(tmp_path), min_repeats=6), "trial_image", "at least 6 repeats, the fewest is 5"


def case_sensorium_not_a_zip(tmp_path):
    (tmp_path / "s.zip").write_bytes(b"this is not a zip file at all")
    return {"source": "sensorium", "path": str(tmp_path / "s.zip")}, "s.zip", "not a zip file"


def case_sensorium_truncated_zip(tmp_path):
    spec = _sensorium(tmp_path, as_zip=True)
    _truncate(Path(spec["path"]), 0.6)
    return spec, "s.zip", "truncated"


def case_sensorium_corrupt_member(tmp_path):
    spec = _sensorium(tmp_path, as_zip=True)
    data = bytearray(Path(spec["path"]).read_bytes())
    with zipfile.ZipFile(spec["path"]) as z:
        info = z.getinfo(z.namelist()[0] .split("/")[0] + "/meta/trials/frame_image_id.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 20
    data[start:start + 8] = b"\xff" * 8  # damage array bytes: the CRC check fails
    Path(spec["path"]).write_bytes(bytes(data))
    return spec, "meta/trials/frame_image_id.npy", "corrupt or truncated"


def case_sensorium_unsafe_member(tmp_path):
    spec = _sensorium(tmp_path, as_zip=True)
    with zipfile.ZipFile(spec["path"], "a") as z:
        z.writestr("../evil.npy", b"x")
    return spec, "../evil.npy", "unsafe zip member"


def case_sensorium_missing_trial_file(tmp_path):
    spec = _sensorium(tmp_path)
    (Path(spec["path"]) / "data/responses/13.npy").unlink()
    return spec, "data/responses/13.npy", "does not exist"


def case_sensorium_missing_meta(tmp_path):
    spec = _sensorium(tmp_path, as_zip=False)
    (Path(spec["path"]) / "meta/neurons/unit_ids.npy").unlink()
    return spec, "meta/neurons/unit_ids.npy", "does not exist"


def case_sensorium_response_shape(tmp_path):
    spec = _sensorium(tmp_path)
    np.save(Path(spec["path"]) / "data/responses/21.npy", np.zeros(N_NEURONS + 1))
    return spec, "data/responses/21.npy", "expected shape (5,)"


def case_sensorium_nan_validation_zip(tmp_path):
    def mutate(d):
        d["responses"][_first(d["tiers"], "validation")] = np.nan
    return _sensorium(tmp_path, mutate, as_zip=True), "data/responses", "validation-tier trials with non-finite"


def case_sensorium_all_test_withheld(tmp_path):
    def mutate(d):
        d["responses"][d["tiers"] == "test"] = np.nan
    return _sensorium(tmp_path, mutate), "frame_image_id", "20 test trials with withheld responses were dropped"


def case_antolik_missing_folder(tmp_path):
    return {"source": "antolik2016", "path": str(tmp_path / "region9")}, "region9", "does not exist"


def case_antolik_missing_inputs(tmp_path):
    spec = _antolik(tmp_path)
    (Path(spec["path"]) / "validation_inputs.npy").unlink()
    return spec, "validation_inputs.npy", "does not exist"


def case_antolik_image_count(tmp_path):
    spec = _antolik(tmp_path)
    np.save(Path(spec["path"]) / "validation_inputs.npy", np.zeros((3, 961)))
    return spec, "validation_inputs.npy", "match the 4 images"


def case_antolik_nan(tmp_path):
    spec = _antolik(tmp_path)
    raw = np.load(Path(spec["path"]) / "raw_validation_set.npy")
    raw[1, 2, 3] = np.nan
    np.save(Path(spec["path"]) / "raw_validation_set.npy", raw)
    return spec, "raw_validation_set.npy", "first at (repeat, image, neuron) (1, 2, 3)"


def case_antolik_one_repeat(tmp_path):
    return _antolik(tmp_path, repeats=1), "raw_validation_set.npy", "only 1 repeat"


def case_antolik_pixel_scale(tmp_path):
    spec = _antolik(tmp_path)
    np.save(Path(spec["path"]) / "validation_inputs.npy", np.full((4, 961), 0.5))
    return spec, "validation_inputs.npy", "expected pixel values / 1e6"


def case_antolik_truncated_npy(tmp_path):
    spec = _antolik(tmp_path)
    _truncate(Path(spec["path"]) / "raw_validation_set.npy")
    return spec, "raw_validation_set.npy", "not a readable .npy"


def case_unknown_source(tmp_path):
    return {"source": "nix", "path": "x"}, "recordings.source", "unknown source 'nix'"


CASES = {name[5:]: fn for name, fn in dict(globals()).items() if name.startswith("case_")}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_names_file_and_problem_and_leaves_no_output(tmp_path, case):
    spec, where, words = CASES[case](tmp_path)
    min_repeats = spec.pop("min_repeats", 2)
    out = tmp_path / "results" / "scans" / "bad.h5"
    with pytest.raises(InputError) as err:
        ingest(spec, out, min_repeats=min_repeats)
    msg = str(err.value)
    assert where in msg and words in msg, msg
    if spec["source"] != "nix":
        assert Path(spec["path"]).name in msg, msg
    assert not out.exists()
    assert not out.parent.exists() or not any(out.parent.iterdir())


def test_the_rules_job_writes_the_scan_and_its_log(tmp_path):
    """neuroreg.ingest.jobs.ingest_recording, what the rule's script calls: scan out, log to the rule's log;
    a failing read leaves no output."""
    from types import SimpleNamespace

    from neuroreg.ingest.jobs import ingest_recording

    spec = _antolik(tmp_path)

    def smk(out):
        return SimpleNamespace(output=[str(out)], log=[str(tmp_path / "logs" / "ingest.log")],
                               params=SimpleNamespace(recording=spec, min_repeats=2))

    ingest_recording(smk(tmp_path / "ok.h5"))
    assert read_scan(tmp_path / "ok.h5").n_trials == 12
    assert "12 trials" in (tmp_path / "logs" / "ingest.log").read_text()
    shutil.rmtree(spec["path"])
    with pytest.raises(InputError, match="region1: does not exist"):
        ingest_recording(smk(tmp_path / "bad.h5"))
    assert not (tmp_path / "bad.h5").exists()
