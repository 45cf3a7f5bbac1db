"""CIFAR-10-C corruptions, their files, the relative-robustness score and brain-likeness, on small cases."""

from __future__ import annotations

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from scipy import ndimage

from neuroreg import resnet
from neuroreg.measures import centered_cosine_similarity_direct
from neuroreg.figures import corruptions as F
from neuroreg.ingest.cifar import grayscale_hwc
from neuroreg.files import InputError
from neuroreg.robustness import brain
from neuroreg.robustness import corruption_sets as S
from neuroreg.robustness import corruptions as C

RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "snow", "frost", "fog",
          "elastic_transform"}


def natural(n=6, seed=0) -> np.ndarray:
    """(n, 32, 32, 3) uint8 images with a natural-image-like spectrum (smoothed noise plus edges)."""
    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.normal(size=(n, 32, 32, 3)), [0, 2, 2, 0])
    x += (np.arange(32)[None, :, None, None] > 16) * rng.normal(size=(n, 1, 1, 3))
    x = (x - x.min()) / (x.max() - x.min())
    return np.uint8(40 + 170 * x)


@pytest.fixture(scope="module")
def images():
    return natural()


def distortion(a, b) -> float:
    return float(np.abs(a.astype(float) - b.astype(float)).mean())


@pytest.mark.parametrize("name", list(C.CORRUPTIONS))
def test_each_corruption_keeps_shape_and_range_and_severity_5_distorts_more_than_1(name, images):
    """Every corruption, every severity: shape, dtype, a change; severity 5 distorts more than 1 except elastic,
    whose CIFAR-10-C constants trade affine jitter for elastic displacement (its severity 1 moves pixels most)."""
    out = {s: C.corrupt(images, name, s, seed=0) for s in C.SEVERITIES}
    for s, o in out.items():
        assert o.shape == images.shape and o.dtype == np.uint8, (name, s)
        assert distortion(o, images) > 0, (name, s)  # every severity changes the images
    if name != "elastic_transform":  # the benchmark's severity 1 has the largest affine jitter (2.6 px against 1.0)
        assert distortion(out[5], images) > distortion(out[1], images), name
    again = C.corrupt(images, name, 3, seed=0)
    assert np.array_equal(again, out[3]), f"{name}: the seed must fix the draw"
    other = C.corrupt(images, name, 3, seed=1)
    assert np.array_equal(other, out[3]) != (name in RANDOM), f"{name}: another seed must change a random draw only"
    assert C.CORRUPTIONS[name][0] in C.FAMILIES and name in C.SOURCES


def test_severity_is_monotone_where_the_benchmark_constants_are():
    """Noise, contrast, brightness, defocus, zoom, pixelate, jpeg and fog grow with every severity step."""
    x = natural(8, seed=3)
    for name in ("gaussian_noise", "shot_noise", "impulse_noise", "contrast", "brightness", "defocus_blur",
                 "zoom_blur", "pixelate", "jpeg_compression", "fog"):
        d = [distortion(C.corrupt(x, name, s, seed=0), x) for s in C.SEVERITIES]
        assert all(b > a for a, b in zip(d, d[1:])), (name, d)


def test_known_answers_of_the_closed_form_corruptions():
    gray = np.full((2, 32, 32, 3), 0.5)
    rng = np.random.default_rng(0)
    noisy = C.gaussian_noise(gray, 3, rng)
    assert noisy.std() == pytest.approx(0.08, rel=0.05) and noisy.mean() == pytest.approx(0.5, abs=0.01)
    assert C.shot_noise(gray, 5, rng).mean() == pytest.approx(0.5, abs=0.01)
    hit = C.impulse_noise(gray, 5, rng)
    assert ((hit == 0) | (hit == 1)).mean() == pytest.approx(0.07, abs=0.01)
    x = natural(2).astype(float) / 255
    c = C.contrast(x, 2, rng)  # (x - mean) * 0.5 + mean, per image and channel
    assert np.allclose(c.mean((1, 2)), x.mean((1, 2))) and np.allclose(c - c.mean((1, 2), keepdims=True),
                                                                       0.5 * (x - x.mean((1, 2), keepdims=True)))
    g = np.repeat(x[..., :1], 3, axis=-1)  # a gray image: HSV value + c is x + c
    assert np.allclose(C.brightness(g, 3, rng), np.clip(g + 0.15, 0, 1))
    const = np.full((1, 32, 32, 3), 0.3)
    for fn in (C.defocus_blur, C.zoom_blur, C.pixelate):
        assert np.allclose(fn(const, 5, rng), 0.3, atol=1 / 255), fn.__name__
    assert C.disk(1.5, 0.1).sum() == pytest.approx(1)


def test_motion_blur_kernel_is_imagemagicks_one_sided_gaussian_line():
    x = np.zeros((2, 32, 32, 1))
    x[:, 16, 16] = 1.0
    out = C.motion_kernel_blur(x, 3, 1.0, np.array([0.0, 90.0]))
    w = np.exp(-np.arange(7) ** 2 / 2.0)
    w /= w.sum()
    # out(p) = sum_i w_i x(p + o_i): the delta at (16, 16) lands at p = (16, 16) - o_i
    assert np.allclose(out[0, 16, 10:17, 0], w[::-1]) and out[0].sum() == pytest.approx(1)
    assert np.allclose(out[1, 10:17, 16, 0], w[::-1])
    assert np.allclose(C.motion_kernel_blur(np.full((1, 8, 8, 1), 0.4), 6, 2.0, np.array([30.0])), 0.4)


def test_zoom_is_scipys_bilinear_zoom():
    def reference(x, z):  # the benchmark's clipped_zoom, with scipy's zoom
        ch = int(np.ceil(32 / z))
        top = (32 - ch) // 2
        ref = ndimage.zoom(x[:, top : top + ch, top : top + ch], (1, z, z) + (1,) * (x.ndim - 3), order=1)
        trim = (ref.shape[1] - 32) // 2
        return ref[:, trim : trim + 32, trim : trim + 32]

    x = np.random.default_rng(0).random((3, 32, 32, 3)).astype(np.float32)
    for z in (1.0, 1.07, 1.25, 1.75, 2.25):
        assert np.allclose(C.clipped_zoom(x, z), reference(x, z), atol=1e-5), z
    layer = x[..., 0].astype(np.float64)  # snow's single-channel layer
    assert np.allclose(C.clipped_zoom(layer, 1.75), reference(layer, 1.75))


def test_bad_names_and_severities_are_errors(images):
    with pytest.raises(InputError, match="unknown corruption 'fig'"):
        C.corrupt(images, "fig", 1, 0)
    with pytest.raises(InputError, match="severity 6"):
        C.corrupt(images, "contrast", 6, 0)
    with pytest.raises(ValueError, match="uint8 RGB"):
        C.corrupt(images[..., 0], "contrast", 1, 0)


def test_cifar10c_reader_and_sets_file(tmp_path, images):
    n = len(images)
    labels = np.arange(n) % 10
    data = np.concatenate([C.corrupt(images, "contrast", s, 0) for s in C.SEVERITIES])
    np.save(tmp_path / "contrast.npy", data)
    np.save(tmp_path / "labels.npy", np.tile(labels, 5).astype(np.uint8))
    rgb, lab = S.load_cifar10c(tmp_path, "contrast", 3, n=4)
    assert np.array_equal(rgb, data[2 * n : 2 * n + 4]) and np.array_equal(lab, labels[:4])
    cfg = {"names": ["contrast"], "severities": [2, 5], "seed": 0, "cifar10c": str(tmp_path), "frost_images": None}
    read = S.make_sets(None, labels, cfg, reader=lambda name, s: S.load_cifar10c(tmp_path, name, s))
    made = S.make_sets(images, labels, {**cfg, "cifar10c": None})
    for key in read:  # the real files and the generator agree (the files were written by the generator)
        assert np.array_equal(read[key], made[key]) and np.array_equal(read[key], grayscale_hwc(data[(key[1] - 1) * n:][:n]))
    with pytest.raises(InputError, match="not those of the evaluation images"):
        S.make_sets(None, labels[::-1], cfg, reader=lambda name, s: S.load_cifar10c(tmp_path, name, s))
    with pytest.raises(InputError, match="fog.npy: file does not exist"):
        S.load_cifar10c(tmp_path, "fog", 1)
    np.save(tmp_path / "snow.npy", data[:, :, :, 0])
    with pytest.raises(InputError, match="snow.npy.*expected"):
        S.load_cifar10c(tmp_path, "snow", 1)

    path = tmp_path / "c.h5"
    S.write_sets(path, made, labels, {"seed": 0})
    lab2, sets = S.read_sets(path)
    assert np.array_equal(lab2, labels) and set(sets) == set(made) and all(np.array_equal(sets[k], made[k]) for k in made)
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="bad.h5"):
        S.read_sets(tmp_path / "bad.h5")


def test_relative_robustness_and_summary_by_hand():
    rows = []
    for cond, seed, acc in [("none", 0, {"a": 0.5, "b": 0.4}), ("none", 1, {"a": 0.7, "b": 0.4}),
                            ("neural_model", 0, {"a": 0.6, "b": 0.2}), ("neural_model", 1, {"a": 0.9, "b": 0.4})]:
        for corr, fam in (("a", "noise"), ("b", "blur")):
            for sev in (1, 2):
                rows.append({"condition": cond, "alpha": 0.0, "seed": seed, "corruption": corr, "family": fam,
                             "severity": sev, "accuracy": acc[corr], "n_images": 10})
        rows.append({"condition": cond, "alpha": 0.0, "seed": seed, "corruption": "clean", "family": "clean",
                     "severity": 0, "accuracy": 0.8, "n_images": 10})
    corr = pd.DataFrame(rows)
    rr = F.relative_robustness(corr).set_index(["condition", "seed"])
    # A^none: a 0.6, b 0.4; neural_model seed 0: (0.6/0.6 + 0.2/0.4) / 2 = 0.75, seed 1: (1.5 + 1.0) / 2 = 1.25
    assert rr.loc[("neural_model", 0), "all"] == pytest.approx(0.75)
    assert rr.loc[("neural_model", 1), "all"] == pytest.approx(1.25)
    assert rr.loc[("neural_model", 0), "noise"] == pytest.approx(1.0) and rr.loc[("neural_model", 0), "blur"] == pytest.approx(0.5)
    assert rr.loc["none", "all"].mean() == pytest.approx(1.0)
    s = F.summary_table(corr).set_index(["condition", "measure"])
    assert s.loc[("neural_model", "relative_robustness"), "mean"] == pytest.approx(1.0)
    assert s.loc[("neural_model", "relative_robustness"), "sem"] == pytest.approx(0.25)
    assert s.loc[("none", "mean_corruption_accuracy"), "mean"] == pytest.approx(0.5)
    assert s.loc[("none", "clean_accuracy"), "mean"] == pytest.approx(0.8)
    with pytest.raises(ValueError, match="baseline"):
        F.relative_robustness(corr[corr.condition != "none"])


def test_brain_likeness_finds_its_own_similarity_in_the_oracle_order(tmp_path):
    """A reference equal to the network's own conv-5 similarity gives r = 1 for that layer, whatever the
    order of the oracle images in the file; the mixed layer uses the given gamma."""
    torch.manual_seed(0)
    model = resnet.build(width=4, layers=(1, 5)).eval()
    rng = np.random.default_rng(0)
    stim = rng.integers(0, 255, (12, 12, 16), dtype=np.uint8)
    ids = np.arange(12) * 7 + 3
    with h5py.File(tmp_path / "stimuli.h5", "w") as f:
        f["images"], f["image_id"] = stim, ids
    oracle_ids = ids[[9, 2, 5, 0, 11, 7]]
    x = torch.from_numpy(stim[[9, 2, 5, 0, 11, 7]][:, None].astype(np.float32) / 255)
    with torch.no_grad():
        f5 = model.features(x, (5,))[0]
    own = centered_cosine_similarity_direct(f5).double().numpy()
    noise = rng.normal(size=own.shape)
    with h5py.File(tmp_path / "oracle.h5", "w") as f:
        f["oracle_image_id"], f["model"], f["oracle"] = oracle_ids, own, noise + noise.T
    df = brain.brain_likeness(model, {"gamma_1": 0.0, "gamma_5": 1.0}, tmp_path / "stimuli.h5", [tmp_path / "oracle.h5"])
    r = df.set_index(["layer", "reference"])["r"]
    assert r[("conv5", "neural_model")] == pytest.approx(1.0, abs=1e-5)
    assert r[("mixed", "neural_model")] == pytest.approx(1.0, abs=1e-5)  # gamma all on conv 5
    assert abs(r[("conv5", "neural_data")]) < 0.9 and "ground_truth" not in set(df.reference)  # no S^true in the file
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["oracle_image_id"], f["model"] = np.array([999, 3, 10]), np.eye(3)
    with pytest.raises(InputError, match="no image for oracle image ids \\[999\\]"):
        brain.brain_likeness(model, {"gamma_1": 0.5, "gamma_5": 0.5}, tmp_path / "stimuli.h5", [tmp_path / "bad.h5"])
