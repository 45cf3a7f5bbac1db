"""Tiny real-format inputs for integration tests: a CIFAR-10 folder, a photo zip, a config."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import yaml
from PIL import Image


def write_cifar10(folder: Path, per_batch: int = 20, n_test: int = 20, seed: int = 0) -> Path:
    """CIFAR-10 in the python layout, `per_batch` images per training batch."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)

    def batch(n, name):
        labels = (np.arange(n) % 10).tolist()
        # class-dependent brightness so that a classifier can learn something
        base = (np.array(labels)[:, None] * 20 + 30).astype(np.int64)
        data = np.clip(base + rng.integers(-30, 30, (n, 3072)), 0, 255).astype(np.uint8)
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": data}, f)

    for i in range(1, 6):
        batch(per_batch, f"data_batch_{i}")
    batch(n_test, "test_batch")
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in names], b"num_cases_per_batch": per_batch}, f)
    return folder



def write_cifar100(folder: Path, n_train: int = 200, n_test: int = 100, seed: int = 0) -> Path:
    """CIFAR-100 in the python layout (train, test, meta), fine and coarse labels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", n_train), ("test", n_test)):
        fine = (np.arange(n) % 100).tolist()
        base = (np.array(fine)[:, None] * 2 + 30).astype(np.int64)
        data = np.clip(base + rng.integers(-30, 30, (n, 3072)), 0, 255).astype(np.uint8)
        batch = {b"filenames": [], b"batch_label": name.encode(), b"fine_labels": fine,
                 b"coarse_labels": (np.array(fine) // 5).tolist(), b"data": data}
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"class{i}".encode() for i in range(100)],
                     b"coarse_label_names": [f"super{i}".encode() for i in range(20)]}, f)
    return folder

def write_photo_zip(path: Path, n: int = 80, seed: int = 0) -> Path:
    """A zip of n 64x64 RGB JPEG 'photos' (smooth random blobs) in a Tiny-ImageNet-like tree."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:64]
    with zipfile.ZipFile(path, "w") as z:
        for i in range(n):
            img = np.zeros((64, 64, 3))
            for _ in range(4):
                cy, cx, s = rng.uniform(0, 64), rng.uniform(0, 64), rng.uniform(4, 20)
                img += rng.uniform(-1, 1, 3) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))[..., None]
            img = np.clip(128 + 100 * img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="JPEG", quality=90)
            z.writestr(f"tiny/val/images/val_{i}.JPEG", buf.getvalue())
    return path


def tiny_config(root: Path, cifar100: bool = False, run: str = "tiny", **overrides) -> dict:
    """A config for a whole pipeline run in seconds: same code paths as the default, tiny sizes, its outputs
    under results/<run>/. cifar100: also a tiny CIFAR-100 (Fig. 4B)."""
    default = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.yaml").read_text())
    cifar = write_cifar10(root / "cifar-10-batches-py")
    photos = write_photo_zip(root / "photos.zip")
    cfg = default
    cfg["run"] = run
    cfg["data"].update(cifar10=str(cifar), photos=str(photos))
    if cifar100:
        cfg["data"]["cifar100"] = str(write_cifar100(root / "cifar-100-python"))
    cfg["stimuli"].update(n_images=48, n_oracle=8, repeats=4)
    cfg["virtual_v1"]["n_neurons"] = 40
    cfg["virtual_v1"]["scans"] = {"v1_a1_s1": {"animal": 1, "session": 1}, "v1_a2_s1": {"animal": 2, "session": 1}}
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if name:
            cfg[section][name] = value
        else:
            cfg[section] = value
    (root / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return cfg
