"""Stimulus bank: photos from a folder or a zip, seeded choice, grayscale 36 x 64, safe zip reading."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED_DATA
from neuroreg.files import InputError
from neuroreg.ingest.stimuli import PhotoBank, build_stimulus_bank, make_stimulus_bank, read_stimuli

REAL_ZIP = SHARED_DATA / "tiny-imagenet-200-val.zip"


def photo(seed: int, size=(64, 64)) -> np.ndarray:
    """A smooth RGB photo (height, width, 3) uint8."""
    rng = np.random.default_rng(seed)
    h, w = size
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(127 + 120 * np.sin(x / (3 + c + rng.random()) + y / (5 + rng.random()))) for c in range(3)],
                    -1).astype(np.uint8)


def write_photos(folder: Path, n: int = 12) -> dict[str, np.ndarray]:
    """n photos (PNG and JPEG, mixed-case suffixes) in folder/images, plus a text file; returns rel -> RGB."""
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "notes.txt").write_text("not a photo")
    out = {}
    for i in range(n):
        rel = f"images/p{i:02d}" + (".png", ".JPEG", ".jpg")[i % 3]
        rgb = photo(i)
        Image.fromarray(rgb).save(folder / rel, format="PNG" if rel.endswith(".png") else "JPEG", quality=95)
        out[rel] = rgb
    return out


def zip_folder(folder: Path, zip_path: Path, extra: dict[str, bytes] | None = None) -> Path:
    with zipfile.ZipFile(zip_path, "w") as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            z.writestr(zipfile.ZipInfo(name), data)
    return zip_path


def png_bytes(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def bank(tmp_path):
    photos = write_photos(tmp_path / "photos")
    return tmp_path / "photos", zip_folder(tmp_path / "photos", tmp_path / "photos.zip"), photos


def test_folder_and_zip_give_the_same_stimuli(bank, tmp_path):
    folder, zip_path, photos = bank
    a = make_stimulus_bank(folder, tmp_path / "a.h5", n_images=6, n_oracle=3, seed=1)
    b = make_stimulus_bank(zip_path, tmp_path / "b.h5", n_images=6, n_oracle=3, seed=1)
    np.testing.assert_array_equal(a["images"], b["images"])
    np.testing.assert_array_equal(a["name"], b["name"])
    s = read_stimuli(tmp_path / "b.h5")
    assert s["images"].shape == (9, 36, 64) and s["images"].dtype == np.uint8
    assert s["image_id"].dtype == np.int64 and len(set(s["image_id"])) == 9
    assert s["is_oracle"].tolist() == [False] * 6 + [True] * 3
    assert s["name"].dtype.kind == "S"
    names = sorted(photos)  # image_id indexes the sorted photo list (the .txt file is not a photo)
    assert [n.decode() for n in s["name"]] == [names[i] for i in s["image_id"]]
    assert s["attrs"]["seed"] == 1 and s["attrs"]["height"] == 36 and s["attrs"]["width"] == 64
    assert s["attrs"]["source"] == str(zip_path)
    # a PNG (lossless): grayscale (ITU-R 601-2, PIL "L") and its central 36 rows
    row = next(r for r, n in enumerate(s["name"]) if n.endswith(b".png"))
    gray = np.asarray(Image.fromarray(photos[s["name"][row].decode()]).convert("L"))
    np.testing.assert_array_equal(s["images"][row], gray[14:50])


def test_seed_determines_the_choice(bank):
    _, zip_path, _ = bank
    a = build_stimulus_bank(zip_path, n_images=5, n_oracle=2, seed=3)
    b = build_stimulus_bank(zip_path, n_images=5, n_oracle=2, seed=3)
    c = build_stimulus_bank(zip_path, n_images=5, n_oracle=2, seed=4)
    for key in ("images", "image_id", "name", "is_oracle"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["image_id"], c["image_id"])


def test_crop_and_resize_of_other_shapes(tmp_path):
    (tmp_path / "p").mkdir()
    for i, size in enumerate([(40, 100), (100, 40), (30, 30), (300, 500)]):  # (height, width)
        Image.fromarray(photo(i, size)).save(tmp_path / "p" / f"{i}.PNG")
    Image.fromarray(photo(9)).convert("RGBA").save(tmp_path / "p" / "rgba.png")
    s = build_stimulus_bank(tmp_path / "p", n_images=5, n_oracle=0, seed=0, height=9, width=16)
    assert s["images"].shape == (5, 9, 16) and s["images"].dtype == np.uint8 and s["images"].std() > 0


def test_unsafe_zip_members_are_ignored(bank, tmp_path):
    folder, _, photos = bank
    evil = png_bytes(photo(99))
    zip_path = zip_folder(folder, tmp_path / "evil.zip", {"../evil.png": evil, "/abs/evil.png": evil,
                                                          "images/../../up.png": evil, "C:/win.png": evil})
    with PhotoBank(zip_path) as pb:
        assert pb.names == sorted(photos)
    # the bank has exactly 12 safe photos: asking for 13 fails, 12 works
    with pytest.raises(InputError, match="evil.zip.*holds 12 photos"):
        build_stimulus_bank(zip_path, n_images=10, n_oracle=3, seed=0)
    s = build_stimulus_bank(zip_path, n_images=10, n_oracle=2, seed=0)
    assert not any(b"evil" in n or b"up" in n for n in s["name"])


def test_too_few_photos_and_missing_bank(bank, tmp_path):
    folder, _, _ = bank
    out = tmp_path / "out" / "stimuli.h5"
    with pytest.raises(InputError, match=r"photos: the photo bank holds 12 photos .* = 13"):
        make_stimulus_bank(folder, out, n_images=10, n_oracle=3, seed=0)
    with pytest.raises(InputError, match="nope.zip: photo bank does not exist"):
        make_stimulus_bank(tmp_path / "nope.zip", out, n_images=1, n_oracle=0, seed=0)
    with pytest.raises(InputError, match="stimuli.n_images"):
        make_stimulus_bank(folder, out, n_images=0, n_oracle=0, seed=0)
    assert not out.exists()


def test_corrupt_photo_is_named_and_leaves_no_output(bank, tmp_path):
    folder, _, _ = bank
    (folder / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a jpeg")
    out = tmp_path / "stimuli.h5"
    with pytest.raises(InputError, match=r"broken.jpg.*corrupt or unreadable image"):
        make_stimulus_bank(folder, out, n_images=13, n_oracle=0, seed=0)  # every photo, so the broken one too
    zip_path = zip_folder(folder, tmp_path / "broken.zip")
    with pytest.raises(InputError, match=r"broken.zip\[images/broken.jpg\].*corrupt"):
        make_stimulus_bank(zip_path, out, n_images=10, n_oracle=3, seed=0)
    assert not out.exists() and not list(tmp_path.glob(".stimuli.h5*"))
    bad_zip = tmp_path / "bad.zip"
    bad_zip.write_bytes(zip_path.read_bytes()[:100])
    with pytest.raises(InputError, match="bad.zip: not a readable zip"):
        make_stimulus_bank(bad_zip, out, n_images=1, n_oracle=0, seed=0)


@pytest.mark.skipif(not REAL_ZIP.exists(), reason="real tiny-imagenet-200-val.zip absent")
def test_real_photo_zip(tmp_path):
    s = make_stimulus_bank(REAL_ZIP, tmp_path / "stimuli.h5", n_images=20, n_oracle=5, seed=2019)
    assert s["attrs"]["n_photos"] >= 10000  # the shared zip holds 10,100 (val_0 .. val_10099)
    assert s["images"].shape == (25, 36, 64) and s["images"].std() > 10
    assert all(n.startswith(b"tiny-imagenet-200/val/images/") and n.endswith(b".JPEG") for n in s["name"])
    assert s["is_oracle"].sum() == 5
