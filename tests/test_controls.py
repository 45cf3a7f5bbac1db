"""Is the gain neural? The gain of a brain-data condition over the strongest of its controls (neuroreg.figures.controls),
checked on hand-made tables where the answer is known."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neuroreg import effects, grid
from neuroreg.figures import controls as C
from neuroreg.figures import verdict as V


def noise_rows(values: dict, level: float = 0.1) -> pd.DataFrame:
    """{condition: [accuracy per seed]} at one noise level (and level 0 at 0.5), BatchNorm variants cifar / trained
    (trained: every accuracy 0.1 lower)."""
    rows = []
    for cond, accs in values.items():
        for seed, a in enumerate(accs):
            for bn, shift in (("cifar", 0.0), ("trained", -0.1)):
                rows += [{"condition": cond, "alpha": 2.0, "seed": seed, "bn": bn, "level": lv, "accuracy": acc + shift,
                          "n_images": 100} for lv, acc in ((0.0, 0.5), (level, a))]
    return pd.DataFrame(rows)


def image_rows(scale: dict, n_images: int = 40, seeds: int = 3) -> pd.DataFrame:
    """Per-image L2 distances: a common per-image base times each condition's factor; image 0 misclassified by all."""
    base = np.linspace(0.05, 0.2, n_images)
    rows = []
    for cond, factor in scale.items():
        for seed in range(seeds):
            jitter = 1 + 0.01 * (seed - 1)
            for i in range(n_images):
                rows.append({"condition": cond, "alpha": 2.0, "seed": seed, "bn": "cifar", "norm": "L2",
                             "image_index": i, "distance": base[i] * factor * jitter, "clean_correct": i != 0})
    return pd.DataFrame(rows)


def test_the_strongest_control_is_the_one_with_the_smallest_gain_and_its_interval_is_welchs():
    values = {"neural_model": [0.40, 0.42, 0.44], "shuffle": [0.35, 0.36, 0.37], "pixel": [0.41, 0.39, 0.40],
              "blur0.5": [0.30, 0.31, 0.29], "none": [0.2, 0.2, 0.21]}
    t = C.control_gains(noise_rows(values), tests={"neural_model": ("shuffle", "pixel", "random_network", "blur")},
                        blur_sigma=0.5)
    row = t[(t["tested"] == "neural_model") & (t["measure"] == "accuracy_sd0.1")].iloc[0]
    assert row["strongest"] == "pixel"  # 0.42 - 0.40 = +2 points: smaller than shuffle's +6 and blur's +12
    e = effects.accuracy_difference([0.40, 0.42, 0.44], [0.41, 0.39, 0.40])
    assert row["effect"] == pytest.approx(0.02) and (row["ci_low"], row["ci_high"]) == pytest.approx((e.lo, e.hi))
    assert row["verdict"] == effects.verdict(e.lo, e.hi, math.nan)
    # every control is listed, strongest first; random_network was not run and is left out
    assert row["controls"].startswith("pixel +2.0 [") and "shuffle +6.0" in row["controls"]
    assert "blur0.5 +12.0" in row["controls"] and "random_network" not in row["controls"]
    # the primary variant is read (cifar); the as-trained rows are 0.1 lower for every condition: the same effect
    t2 = C.control_gains(noise_rows(values), tests={"neural_model": ("pixel",)}, bn="trained")
    assert t2.iloc[0]["effect"] == pytest.approx(0.02)


def test_a_gain_that_survives_every_control_holds_and_one_a_control_beats_does_not():
    t = C.control_gains(noise_rows({"neural_model": [0.50, 0.51, 0.52], "shuffle": [0.30, 0.31, 0.32],
                                    "mtl_model": [0.30, 0.31, 0.32], "mtl_shuffle": [0.50, 0.51, 0.52]}),
                        tests={"neural_model": ("shuffle",), "mtl_model": ("mtl_shuffle",)})
    by = t.set_index("tested")
    assert by.loc["neural_model", "verdict"] == "holds" and by.loc["neural_model", "effect"] == pytest.approx(0.2)
    assert by.loc["mtl_model", "verdict"] == "does not hold" and by.loc["mtl_model", "effect"] == pytest.approx(-0.2)


def test_the_adversarial_gain_is_the_verdicts_paired_median_ratio():
    images = image_rows({"neural_model": 1.5, "shuffle": 1.2, "pixel": 1.0})
    t = C.control_gains(None, None, images, tests={"neural_model": ("shuffle", "pixel")}, n_boot=200)
    row = t[t["measure"] == "median_L2"].iloc[0]
    assert row["strongest"] == "shuffle" and row["scale"] == "ratio"
    assert row["effect"] == pytest.approx(1.25, rel=0.02)  # 1.5 / 1.2 on every image, up to the seeds' jitter
    assert row["n_images"] == 39 and row["verdict"] == "holds"  # image 0 misclassified: not compared
    assert "pixel x1.5" in row["controls"]


def test_corruption_gain_per_model_mean_over_the_sets():
    corr = []
    for cond, accs in {"neural_model": [0.5, 0.52], "pixel": [0.55, 0.57]}.items():
        for seed, a in enumerate(accs):
            for name, sev, acc in (("clean", 0, 0.6), ("gaussian_noise", 1, a - 0.05), ("gaussian_noise", 2, a + 0.05)):
                corr.append({"condition": cond, "alpha": 2.0, "seed": seed, "corruption": name, "family":
                             "noise" if sev else "clean", "severity": sev, "accuracy": acc, "n_images": 10})
    t = C.control_gains(None, pd.DataFrame(corr), None, tests={"neural_model": ("pixel",)})
    assert t.iloc[0]["measure"] == "corruption" and t.iloc[0]["effect"] == pytest.approx(-0.05)


def test_the_verdict_gets_a_strongest_control_row_per_noise_and_adversarial_claim():
    noise = noise_rows({"neural_model": [0.40, 0.42, 0.44], "none": [0.3, 0.31, 0.32], "shuffle": [0.35, 0.36, 0.37],
                        "pixel": [0.41, 0.39, 0.40]})
    images = image_rows({"neural_model": 1.5, "none": 1.0, "shuffle": 1.2, "pixel": 1.4})
    t = V.verdict_table(noise, images, controls=("shuffle", "pixel"), n_boot=200)
    strong = t[t["comparison"].str.contains("strongest control")]
    assert set(strong["claim"]) == {"accuracy_sd0.1", "median_L2"}
    p = strong[strong["primary"]].set_index("claim")
    assert p.loc["accuracy_sd0.1", "comparison"] == "neural_model vs strongest control (pixel)"
    assert p.loc["accuracy_sd0.1", "effect"] == pytest.approx(0.02)
    assert p.loc["median_L2", "comparison"] == "neural_model vs strongest control (pixel)"
    assert p.loc["median_L2", "effect"] == pytest.approx(1.5 / 1.4, rel=0.02)
    assert len(strong[~strong["primary"]]) == 1  # the as-trained noise row (images: one variant only)
    assert len(V.verdict_table(noise, images, n_boot=200).query("comparison.str.contains('strongest')")) == 0


def test_control_tests_of_a_config():
    import copy

    from neuroreg import config

    base = config.load()
    cfg = copy.deepcopy(base)
    cfg["cotrain"]["conditions"] = ["none", "neural_model", "shuffle", "pixel", "mtl_model", "blur0.5",
                                    "blurbest_neural_model"]
    # ground_truth not in the list; mtl_model has no mtl_shuffle beside it
    assert grid.control_tests(cfg) == {"neural_model": ("shuffle", "pixel", "blur")}
    cfg["cotrain"]["conditions"] = ["none", "neural_model", "blur0.5"]
    assert grid.control_tests(cfg) == {"neural_model": ("blur",)}  # the sweep's sigma that blur_selection chooses
    cfg["cotrain"]["conditions"] = ["none", "neural_model", "blur0.5", "blur1.5", "blurbest_none"]
    assert grid.control_tests(cfg) == {"neural_model": ("blurbest_none",)}  # that sigma, its own seeds and attacks
    cfg["cotrain"]["conditions"] = ["none", "neural_model", "blurbest_neural_model"]
    assert grid.control_tests(cfg) == {}  # no sweep: no plain blur to control with
    cfg["cotrain"]["conditions"] = ["none", "neural_model", "shuffle", "ground_truth"]
    assert grid.control_tests(cfg) == {}  # shuffle alone: the verdict's own comparison, no controls table
    repo = Path(__file__).resolve().parents[1]
    methods = config.load([repo / "config" / "laptop.yaml", repo / "config" / "laptop-methods.yaml"])
    assert grid.control_tests(methods) == {"neural_model": ("shuffle", "pixel", "random_network", "blurbest_none"),
                                           "ground_truth": ("shuffle", "pixel", "random_network", "blurbest_none"),
                                           "mtl_model": ("mtl_shuffle",),
                                           "blurbest_neural_model": ("blurbest_none",)}


def test_methods_csv_carries_the_gain_over_the_strongest_control():
    from neuroreg.figures.methods import with_control_gains

    table = pd.DataFrame({"condition": ["none", "neural_model", "mtl_model"], "clean_mean": [0.5, 0.5, 0.5]})
    gains = C.control_gains(noise_rows({"neural_model": [0.40, 0.42, 0.44], "pixel": [0.41, 0.39, 0.40]}),
                            tests={"neural_model": ("pixel",)})
    out = with_control_gains(table, gains).set_index("condition")
    assert out.loc["neural_model", "gain_noise_max"] == pytest.approx(0.02)
    assert out.loc["neural_model", "gain_noise_max_control"] == "pixel"
    assert out.loc["neural_model", "gain_noise_max_low"] < 0.02 < out.loc["neural_model", "gain_noise_max_high"]
    assert out[["gain_noise_max"]].drop(index="neural_model").isna().all().all()
