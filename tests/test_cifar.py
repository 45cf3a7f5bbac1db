"""CIFAR loader: real layouts (folder, tar.gz) written small, grayscale, restricted unpickling, clear errors."""

from __future__ import annotations

import os
import pickle
import tarfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import SHARED_DATA
from neuroreg.ingest.cifar import LAYOUTS, load_cifar, load_cifar_h5, prepare_cifar, restricted_loads
from neuroreg.files import InputError

N = 10  # images per batch file


def _dump(path: Path, obj: dict, str_keys: bool = False, protocol: int = 2):
    if str_keys:
        obj = {k.decode(): v for k, v in obj.items()}
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def write_cifar(root: Path, dataset: str = "cifar10", *, str_keys=False, protocol=2, seed=0) -> dict:
    """All batch files of ``dataset`` with N images each under root/<folder>; returns the raw arrays per file."""
    lay = LAYOUTS[dataset]
    folder = root / lay["folder"]
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    raw = {}
    for files in lay["splits"].values():
        for name in files:
            data = rng.integers(0, 256, (N, 3072), dtype=np.uint8)
            labels = rng.integers(0, lay["n_classes"], N).tolist()
            batch = {b"batch_label": name.encode(), b"data": data, lay["labels"].encode(): labels}
            if dataset == "cifar100":
                batch[b"coarse_labels"] = (np.array(labels) // 5).tolist()
            _dump(folder / name, batch, str_keys, protocol)
            raw[name] = (data, np.array(labels))
    names = [f"class{i}".encode() for i in range(lay["n_classes"])]
    meta = {lay["names"].encode(): names}
    if dataset == "cifar100":
        meta[b"coarse_label_names"] = [f"super{i}".encode() for i in range(20)]
    _dump(folder / lay["meta"], meta, str_keys, protocol)
    return raw


def make_tar(root: Path, dataset: str) -> Path:
    folder = LAYOUTS[dataset]["folder"]
    tar_path = root / ("cifar-10-python.tar.gz" if dataset == "cifar10" else "cifar-100-python.tar.gz")
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(root / folder, arcname=folder)
    return tar_path


def assert_no_output(out: Path):
    assert not out.exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]


@pytest.mark.parametrize("dataset", ["cifar10", "cifar100"])
@pytest.mark.parametrize("form", ["folder", "parent", "tar"])
def test_round_trip(tmp_path, dataset, form):
    raw = write_cifar(tmp_path / "src", dataset)
    lay = LAYOUTS[dataset]
    source = {"folder": tmp_path / "src" / lay["folder"], "parent": tmp_path / "src"}.get(form)
    if form == "tar":
        source = make_tar(tmp_path / "src", dataset)
    out = tmp_path / "out" / f"{dataset}.h5"
    prepare_cifar(source, out, dataset)
    d = load_cifar_h5(out)
    train_files, test_files = lay["splits"]["train"], lay["splits"]["test"]
    assert d["train_images"].shape == (N * len(train_files), 32, 32) and d["train_images"].dtype == np.uint8
    assert d["test_images"].shape == (N * len(test_files), 32, 32)
    np.testing.assert_array_equal(d["train_labels"], np.concatenate([raw[f][1] for f in train_files]))
    np.testing.assert_array_equal(d["test_labels"], np.concatenate([raw[f][1] for f in test_files]))
    assert d["train_labels"].dtype == np.int64
    assert d["n_classes"] == lay["n_classes"] and d["classes"][:2] == ["class0", "class1"]
    # one pixel by hand: luma = 0.299 R + 0.587 G + 0.114 B, rounded
    data = raw[test_files[0]][0]
    r, g, b = (int(data[3, c * 1024 + 5 * 32 + 7]) for c in range(3))
    assert d["test_images"][3, 5, 7] == int(np.floor(0.299 * r + 0.587 * g + 0.114 * b + 0.5))


def test_validation_split_holds_out_the_last_training_images(tmp_path):
    """data.evaluation_split: validation: the 'test' split is the end of the training set; the test set is gone."""
    write_cifar(tmp_path / "src", "cifar10")
    full = tmp_path / "full.h5"
    prepare_cifar(tmp_path / "src", full)
    d = load_cifar_h5(full)
    n = len(d["train_labels"])
    out = tmp_path / "val.h5"
    prepare_cifar(tmp_path / "src", out, n_validation=7)
    v = load_cifar_h5(out)
    np.testing.assert_array_equal(v["train_images"], d["train_images"][: n - 7])
    np.testing.assert_array_equal(v["test_images"], d["train_images"][n - 7:])
    np.testing.assert_array_equal(v["test_labels"], d["train_labels"][n - 7:])
    with h5py.File(out) as f, h5py.File(full) as g:
        assert f.attrs["evaluation_split"] == f"validation: train[{n - 7}:{n}]"
        assert g.attrs["evaluation_split"] == "test"
    with pytest.raises(ValueError, match="data.n_validation"):
        prepare_cifar(tmp_path / "src", tmp_path / "bad.h5", n_validation=n)
    assert_no_output(tmp_path / "bad.h5")


def test_grayscale_hand_values(tmp_path):
    write_cifar(tmp_path, "cifar10")
    folder = tmp_path / "cifar-10-batches-py"
    data = np.zeros((N, 3072), np.uint8)
    data[0, [0, 1024, 2048]] = (10, 200, 50)  # pixel (0, 0): 2.99 + 117.4 + 5.7 = 126.09 -> 126
    data[0, 1] = 255                           # pixel (0, 1): pure red: 76.245 -> 76
    data[0, [2, 1026, 2050]] = 255             # pixel (0, 2): white -> 255
    _dump(folder / "data_batch_1", {b"data": data, b"labels": [0] * N})
    images = load_cifar(folder)["train"]["images"]
    assert images[0, 0, :3].tolist() == [126, 76, 255]
    assert images[1].max() == 0


@pytest.mark.parametrize("str_keys,protocol", [(True, 2), (False, 4), (True, 5), (False, 0)])
def test_keys_and_protocols(tmp_path, str_keys, protocol):
    raw = write_cifar(tmp_path, "cifar10", str_keys=str_keys, protocol=protocol)
    c = load_cifar(tmp_path / "cifar-10-batches-py")
    np.testing.assert_array_equal(c["test"]["labels"], raw["test_batch"][1])


def test_cifar100_coarse_labels_optional(tmp_path):
    write_cifar(tmp_path, "cifar100")
    c = load_cifar(tmp_path, "cifar100")
    assert c["train"]["coarse_labels"].max() < 20 and len(c["coarse_classes"]) == 20
    folder = tmp_path / "cifar-100-python"
    _dump(folder / "train", {b"data": np.zeros((N, 3072), np.uint8), b"fine_labels": [99] * N})
    c = load_cifar(folder, "cifar100")
    assert "coarse_labels" not in c["train"] and c["train"]["labels"].tolist() == [99] * N


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_not_executed(tmp_path):
    write_cifar(tmp_path, "cifar10")
    marker = tmp_path / "pwned"
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    batch.write_bytes(pickle.dumps({b"data": Evil(marker), b"labels": [0]}, protocol=2))
    out = tmp_path / "out.h5"
    with pytest.raises(InputError, match=r"data_batch_3.*refusing to unpickle the global (posix|os|nt)\.system"):
        prepare_cifar(tmp_path / "cifar-10-batches-py", out)
    assert not marker.exists()
    assert_no_output(out)
    for payload in (pickle.dumps(eval), b"cbuiltins\nexec\n(S'print(1)'\ntR."):
        with pytest.raises(InputError, match="refusing"):
            restricted_loads(payload, "x.pkl")


@pytest.mark.parametrize("problem,match", [
    ("missing_batch", r"data_batch_4.*missing CIFAR file"),
    ("missing_key", r"data_batch_2: labels: missing key"),
    ("wrong_shape", r"data_batch_2: data: expected a \(n, 3072\) uint8 array, got \(10, 3000\)"),
    ("wrong_dtype", r"data_batch_2: data: expected .* float64"),
    ("label_count", r"data_batch_2: labels: expected 10 labels"),
    ("label_range", r"data_batch_2: labels: labels must lie in \[0, 10\)"),
    ("truncated", r"test_batch.*corrupt or truncated pickle"),
    ("not_a_dict", r"data_batch_2.*expected a pickled dict"),
    ("meta_names", r"batches.meta: label_names: missing key"),
])
def test_bad_input_names_file_and_leaves_no_output(tmp_path, problem, match):
    write_cifar(tmp_path, "cifar10")
    folder = tmp_path / "cifar-10-batches-py"
    b2 = folder / "data_batch_2"
    ok = np.zeros((N, 3072), np.uint8)
    if problem == "missing_batch":
        (folder / "data_batch_4").unlink()
    elif problem == "missing_key":
        _dump(b2, {b"data": ok})
    elif problem == "wrong_shape":
        _dump(b2, {b"data": np.zeros((N, 3000), np.uint8), b"labels": [0] * N})
    elif problem == "wrong_dtype":
        _dump(b2, {b"data": np.zeros((N, 3072)), b"labels": [0] * N})
    elif problem == "label_count":
        _dump(b2, {b"data": ok, b"labels": [0] * (N - 1)})
    elif problem == "label_range":
        _dump(b2, {b"data": ok, b"labels": [10] * N})
    elif problem == "truncated":
        t = folder / "test_batch"
        t.write_bytes(t.read_bytes()[: len(t.read_bytes()) // 2])
    elif problem == "not_a_dict":
        b2.write_bytes(pickle.dumps([1, 2]))
    elif problem == "meta_names":
        _dump(folder / "batches.meta", {b"num_vis": 3072})
    out = tmp_path / "out" / "cifar10.h5"
    with pytest.raises(InputError, match=match):
        prepare_cifar(folder, out)
    assert not out.exists()


def test_tar_errors(tmp_path):
    write_cifar(tmp_path / "src", "cifar10")
    tar_path = make_tar(tmp_path / "src", "cifar10")
    out = tmp_path / "out.h5"
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(tar_path.read_bytes()[:2000])
    with pytest.raises(InputError, match=r"truncated.tar.gz: not a readable tar archive"):
        prepare_cifar(truncated, out)
    # members escaping the archive root are never used: only ../ and absolute copies of data_batch_1
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        for name in ("data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch", "batches.meta"):
            tar.add(tmp_path / "src" / "cifar-10-batches-py" / name, arcname=f"cifar-10-batches-py/{name}")
        src = tmp_path / "src" / "cifar-10-batches-py" / "data_batch_1"
        tar.add(src, arcname="../cifar-10-batches-py/data_batch_1")
        for name in ("/cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/../cifar-10-batches-py/data_batch_1"):
            info = tarfile.TarInfo(name)  # TarInfo keeps the name as given (tar.add would strip the "/")
            info.size = src.stat().st_size
            with open(src, "rb") as f:
                tar.addfile(info, f)
    with pytest.raises(InputError, match=r"evil.tar.gz: cifar-10-batches-py/data_batch_1: missing from the archive"):
        prepare_cifar(evil, out)
    with pytest.raises(InputError, match="does not exist"):
        prepare_cifar(tmp_path / "nope.tar.gz", out)
    assert_no_output(out)


def test_load_cifar_h5_errors(tmp_path):
    import h5py

    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["train/images"] = np.zeros((2, 32, 32), np.uint8)
    with pytest.raises(InputError, match=r"bad.h5: train/labels: missing"):
        load_cifar_h5(bad)
    with pytest.raises(InputError, match="does not exist"):
        load_cifar_h5(tmp_path / "nope.h5")


@pytest.mark.skipif(not (SHARED_DATA / "cifar-10-batches-py" / "test_batch").exists(), reason="real CIFAR-10 absent")
def test_real_cifar10_batch_restricted_unpickler():
    path = SHARED_DATA / "cifar-10-batches-py" / "test_batch"
    d = restricted_loads(path.read_bytes(), path)
    assert d["data"].shape == (10000, 3072) and d["data"].dtype == np.uint8 and len(d["labels"]) == 10000
    meta = restricted_loads((SHARED_DATA / "cifar-10-batches-py" / "batches.meta").read_bytes(), path)
    assert meta["label_names"][0] == b"airplane"
