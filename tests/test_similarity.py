"""Stage 4: similarity targets (Eq. 2, 6), the streamed HDF5 writer, shuffle, VGG, input errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
from conftest import make_scan
from neuroreg.ingest.scan import write_scan
from neuroreg.files import InputError
from neuroreg.measures import centered_unit_vectors
from neuroreg.similarity import matrix as sim
from neuroreg.similarity import targets as st
from neuroreg.similarity import vgg


def test_eq2_hand_computed():
    # 3 images x 2 neurons, w = (1, 2): r = [[1, 0], [0, 2], [2, 4]]; mean (1, 2)
    rho = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]])
    r = sim.scaled_responses(rho, np.array([1.0, 2.0]))
    np.testing.assert_allclose(r, [[1, 0], [0, 2], [2, 4]])
    e = centered_unit_vectors(r)  # centred: (0,-2), (-1,0), (1,2) -> unit
    np.testing.assert_allclose(e, [[0, -1], [-1, 0], [1 / np.sqrt(5), 2 / np.sqrt(5)]], atol=1e-7)
    s = sim.similarity_matrix([e])
    np.testing.assert_allclose(s[0, 1], 0.0, atol=1e-7)
    np.testing.assert_allclose(s[0, 2], -2 / np.sqrt(5), atol=1e-7)
    np.testing.assert_allclose(s[1, 2], -1 / np.sqrt(5), atol=1e-7)


def test_eq6_scales_by_w_and_clipped_v():
    rho = np.array([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]])
    r = sim.scaled_responses(rho, np.array([2.0, 1.0, 4.0]), np.array([0.5, -0.3, 0.25]))
    np.testing.assert_allclose(r, [[1.0, 0.0, 1.0], [3.0, 0.0, 3.0]])  # negative v_a -> 0


def _unit(rng, n, d):
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("block", [7, 64])
def test_streamed_equals_dense(tmp_path, block):
    rng = np.random.default_rng(0)
    vecs = [_unit(rng, 50, 6), _unit(rng, 50, 9)]
    out = tmp_path / "s.h5"
    sim.write_similarity(out, vecs, np.arange(50) + 10, np.arange(50),
                         {"target": "t", "scans": ["a", "b"], "method": "m", "weighting": "w"}, block_size=block)
    t = sim.read_similarity(out)
    dense = (vecs[0] @ vecs[0].T + vecs[1] @ vecs[1].T) / 2  # mean over scans
    np.testing.assert_allclose(t.similarity, dense, atol=1e-6)
    assert t.similarity.dtype == np.float32 and np.array_equal(t.similarity, t.similarity.T)
    assert (np.diag(t.similarity) == 1.0).all()
    assert t.attrs["scans"] == ["a", "b"] and t.attrs["target"] == "t"
    with h5py.File(out) as f:
        assert f["similarity"].chunks is not None
        assert set(f) >= {"similarity", "image_id", "image_index"}
        assert f["image_id"].dtype == np.int64
    assert list(tmp_path.iterdir()) == [out]


def test_shuffle_is_consistent_permutation(tmp_path):
    rng = np.random.default_rng(1)
    vecs = [_unit(rng, 30, 5)]
    attrs = {"target": "shuffle", "scans": ["a"], "method": "m", "weighting": "w"}
    sim.write_similarity(tmp_path / "s.h5", vecs, np.arange(30), np.arange(30), attrs, block_size=8)
    p = sim.shuffle_similarity(tmp_path / "sh.h5", vecs, np.arange(30), np.arange(30), attrs, seed=3, block_size=8,
                               scratch_dir=tmp_path)
    s, sh = sim.read_similarity(tmp_path / "s.h5").similarity, sim.read_similarity(tmp_path / "sh.h5").similarity
    np.testing.assert_allclose(sh, s[np.ix_(p, p)], atol=1e-6)
    assert not np.array_equal(p, np.arange(30))
    np.testing.assert_array_equal(p, sim.shuffle_permutation(30, 3))
    with h5py.File(tmp_path / "sh.h5") as f:
        np.testing.assert_array_equal(f["permutation"][()], p)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["s.h5", "sh.h5"]


def test_reader_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["similarity"] = np.array([[1, 0.5], [0.4, 1]], dtype=np.float32)
        f["image_id"] = np.arange(2)
        f["image_index"] = np.arange(2)
        f.attrs.update(target="t", scans=["a"], method="m", weighting="w")
    with pytest.raises(InputError, match="bad.h5: similarity: not symmetric"):
        sim.read_similarity(bad)
    with h5py.File(bad, "a") as f:
        del f["image_index"]
    with pytest.raises(InputError, match="image_index: missing"):
        sim.read_similarity(bad)


# ------------------------------------------------------------------ targets from stage files

def _write_inputs(tmp_path, n_scans=2, n_neurons=6):
    """Scans (virtual-like, with ground truth), reliability and predictions files, stimuli.h5."""
    inputs = {}
    for h in range(n_scans):
        scan = make_scan(n_once=20, n_oracle=4, repeats=3, n_neurons=n_neurons, seed=h)
        scan.image_id = np.arange(24) * 10 + 5
        rng = np.random.default_rng(100 + h)
        scan.ground_truth = {"image_response": rng.gamma(2.0, 1.0, (24, n_neurons)).astype(np.float32)}
        p = {k: tmp_path / f"{k}_{h}.h5" for k in ("scan", "reliability", "predictions")}
        write_scan(scan, p["scan"])
        s_or = np.eye(4) * 0.5 + 0.1
        with h5py.File(p["reliability"], "w") as f:
            f["neuron_id"] = scan.neuron_id[::-1]  # other order: must be aligned by id
            f["snr_weight"] = np.linspace(0.5, 2.0, n_neurons)
            f["oracle_image_id"] = scan.image_id[20:]
            f["oracle_similarity"] = s_or
        with h5py.File(p["predictions"], "w") as f:
            f["responses"] = rng.gamma(2.0, 1.0, (24, n_neurons)).astype(np.float32)
            f["image_id"] = scan.image_id
            f["neuron_id"] = scan.neuron_id
            f["test_correlation"] = np.linspace(-0.1, 0.6, n_neurons)
        inputs[f"scan{h}"] = p
    stim = tmp_path / "stimuli.h5"
    with h5py.File(stim, "w") as f:
        f["image_id"] = np.arange(24) * 10 + 5
        f["is_oracle"] = np.arange(24) >= 20
        f["images"] = np.random.default_rng(0).integers(0, 255, (24, 16, 16), dtype=np.uint8)
    return inputs, stim


def test_neural_model_target_by_hand(tmp_path):
    inputs, stim = _write_inputs(tmp_path)
    out = tmp_path / "out" / "neural_model.h5"
    st.build_target("neural_model", out, inputs, stim, block_size=7, scratch_dir=tmp_path)
    t = sim.read_similarity(out)
    np.testing.assert_array_equal(t.image_index, np.arange(20))
    np.testing.assert_array_equal(t.image_id, np.arange(20) * 10 + 5)
    es = []
    for p in inputs.values():
        with h5py.File(p["predictions"]) as f:
            r = f["responses"][:20].astype(np.float64)
            v = np.clip(f["test_correlation"][()], 0, None)
        with h5py.File(p["reliability"]) as f:
            w = f["snr_weight"][()][::-1]  # stored in reverse neuron order
        r = r * w * v
        r -= r.mean(axis=0)
        es.append(r / np.linalg.norm(r, axis=1, keepdims=True))
    dense = (es[0] @ es[0].T + es[1] @ es[1].T) / 2
    np.fill_diagonal(dense, 1.0)
    np.testing.assert_allclose(t.similarity, dense, atol=1e-5)
    assert t.attrs["scans"] == ["scan0", "scan1"]


@pytest.mark.parametrize("target", ["neural_data", "ground_truth", "shuffle"])
def test_other_targets_valid(tmp_path, target):
    inputs, stim = _write_inputs(tmp_path)
    out = tmp_path / f"{target}.h5"
    st.build_target(target, out, inputs, stim, block_size=8, seed=2, scratch_dir=tmp_path)
    t = sim.read_similarity(out)
    assert t.similarity.shape == (20, 20) and t.attrs["target"] == target


def test_oracle_comparison(tmp_path):
    inputs, _ = _write_inputs(tmp_path)
    p = inputs["scan0"]
    comp = st.oracle_comparison(p["scan"], p["reliability"], p["predictions"])
    assert comp["model"].shape == (4, 4) and comp["data_trials"].shape == (12, 12) and "true" in comp
    r = st.correlations(comp)
    assert set(r) >= {"r_data_oracle", "r_model_oracle", "r_data_true", "r_model_true"}
    x, y = st.trial_pairs(comp["data_trials"], comp["trial_oracle"], comp["oracle"])
    assert len(x) == 6 * 9  # 6 image pairs x 3 x 3 trial pairs


def test_wrong_inputs_raise_and_leave_nothing(tmp_path):
    inputs, stim = _write_inputs(tmp_path)
    out = tmp_path / "out" / "t.h5"
    # NaN in the predictions
    with h5py.File(inputs["scan1"]["predictions"], "a") as f:
        r = f["responses"][()]
        r[3, 2] = np.nan
        f["responses"][...] = r
    with pytest.raises(InputError, match=r"predictions_1.h5: responses: 1 non-finite"):
        st.build_target("neural_model", out, inputs, stim, scratch_dir=tmp_path)
    # a missing key
    with h5py.File(inputs["scan1"]["predictions"], "a") as f:
        del f["test_correlation"]
    with pytest.raises(InputError, match=r"predictions_1.h5: test_correlation: missing"):
        st.build_target("neural_model", out, inputs, stim, scratch_dir=tmp_path)
    # different once-shown images in another scan
    with h5py.File(inputs["scan1"]["scan"], "a") as f:
        ids = f["image_id"][()]
        ids[0] = 999
        f["image_id"][...] = ids
    with pytest.raises(InputError, match=r"scan_1.h5: image_id: the once-shown images differ"):
        st.build_target("neural_data", out, inputs, stim, scratch_dir=tmp_path)
    assert not out.parent.exists() or not any(out.parent.iterdir())
    assert not list(tmp_path.glob(".*"))  # no scratch files left


def test_vgg_with_random_weights(tmp_path):
    _, stim = _write_inputs(tmp_path, n_scans=1)
    torch.manual_seed(0)
    model = vgg.vgg19_conv3_1()
    state = {f"features.{k}": v for k, v in model.state_dict().items()}
    weights = tmp_path / "vgg19.pth"
    torch.save(state, weights)
    out = tmp_path / "vgg.h5"
    vgg.build_vgg_target(out, weights, stim, block_size=6, batch_size=8, scratch_dir=tmp_path)
    t = sim.read_similarity(out)
    assert t.similarity.shape == (20, 20) and t.attrs["target"] == "vgg"
    # dense reference
    with h5py.File(stim) as f:
        feats = vgg.conv3_1_features(vgg.load_vgg19_conv3_1(weights), f["images"][:20]).astype(np.float64)
    assert feats.shape == (20, 256 * 4 * 4)
    e = feats - feats.mean(axis=0)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    dense = e @ e.T
    np.fill_diagonal(dense, 1)
    np.testing.assert_allclose(t.similarity, dense, atol=1e-4)


def test_vgg_without_weights_names_the_config_key(tmp_path):
    _, stim = _write_inputs(tmp_path, n_scans=1)
    with pytest.raises(InputError, match="data.vgg19_weights"):
        vgg.build_vgg_target(tmp_path / "vgg.h5", None, stim)
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(InputError, match="partial.pth: features.0.bias: missing"):
        vgg.load_vgg19_conv3_1(tmp_path / "partial.pth")
    assert not (tmp_path / "vgg.h5").exists()


def test_pixel_target_hand_computed(tmp_path):
    """pixel: Eq. 9 of the stimuli in [0, 1]. Three once-shown 1 x 2 images by hand: pixels (0, 0), (1, 0), (0, 1)
    (x 255); centred: (-1/3, -1/3), (2/3, -1/3), (-1/3, 2/3); S_12 = (-2/9 + 1/9) / (sqrt(2)/3 * sqrt(5)/3) =
    -1/sqrt(10), S_23 = -4/5, S_13 = -1/sqrt(10); and the network's input normalisation would change nothing."""
    from neuroreg.similarity import content

    stim = tmp_path / "stimuli.h5"
    with h5py.File(stim, "w") as f:
        f["image_id"] = np.array([7, 8, 9, 10])
        f["is_oracle"] = np.array([False, False, False, True])
        f["images"] = np.array([[[0, 0]], [[255, 0]], [[0, 255]], [[9, 9]]], dtype=np.uint8)
    out = tmp_path / "pixel.h5"
    content.build_content_target("pixel", out, stim, block_size=2)
    t = sim.read_similarity(out)
    a = -1 / np.sqrt(10)
    np.testing.assert_allclose(t.similarity, [[1, a, a], [a, 1, -0.8], [a, -0.8, 1]], atol=1e-6)
    assert list(t.image_index) == [0, 1, 2] and list(t.image_id) == [7, 8, 9] and t.attrs["target"] == "pixel"
    scaled = content.pixel_features(np.array([[[0, 0]], [[255, 0]], [[0, 255]]], dtype=np.uint8)) * 3.0 - 0.5
    e = scaled - scaled.mean(0)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    np.testing.assert_allclose(e @ e.T, t.similarity, atol=1e-6)


def test_random_network_target_is_its_features_similarity(tmp_path):
    """random_network: the untrained network at the seed, eval mode, conv layer k's feature: S equals the centred
    cosine of those features computed here without the module (the network's own forward, cut at the layer), is
    the same for the same seed and differs for another seed or layer; a layer without a feature is an error."""
    from neuroreg import resnet
    from neuroreg.similarity import content

    _, stim = _write_inputs(tmp_path, n_scans=1)
    out = tmp_path / "rn.h5"
    attrs = content.build_content_target("random_network", out, stim, width=8, layer=5, seed=3, block_size=7)
    t = sim.read_similarity(out)
    assert t.similarity.shape == (20, 20) and t.attrs["layer"] == 5 and "blocks.1" in attrs["method"]
    torch.manual_seed(3)
    net = resnet.build(width=8).eval()
    with h5py.File(stim) as f:
        x = torch.from_numpy(f["images"][:20].astype(np.float32) / 255)[:, None]
    with torch.no_grad():
        h = net.relu1(net.bn1(net.conv1(net.normalize(net.blur(x)))))
        h = net.blocks[1](net.blocks[0](h))
    e = h.flatten(1).double().numpy()
    e = e - e.mean(0)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    dense = e @ e.T
    np.fill_diagonal(dense, 1)
    np.testing.assert_allclose(t.similarity, dense, atol=1e-5)
    again = tmp_path / "again.h5"
    content.build_content_target("random_network", again, stim, width=8, layer=5, seed=3, block_size=7)
    np.testing.assert_array_equal(sim.read_similarity(again).similarity, t.similarity)
    for kw in ({"seed": 4, "layer": 5}, {"seed": 3, "layer": 9}):
        other = tmp_path / f"other{kw['seed']}{kw['layer']}.h5"
        content.build_content_target("random_network", other, stim, width=8, **kw)
        assert np.abs(sim.read_similarity(other).similarity - t.similarity).max() > 1e-3
    with pytest.raises(ValueError, match="conv 4 has no feature"):
        content.build_content_target("random_network", tmp_path / "bad.h5", stim, width=8, layer=4)
    assert not (tmp_path / "bad.h5").exists()
