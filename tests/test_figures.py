"""Stage 7 plotting functions on small synthetic tables: PNG + PDF written, SEM right, paper-vs-run table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroreg.figures import paper_vs_run as pvr
from neuroreg.figures import robustness as fr

LEVELS = [0.0, 0.05, 0.1, 0.2]
CONDS = ["none", "neural_model", "shuffle"]


def noise_table(seeds=(0, 1, 2)) -> pd.DataFrame:
    rows = []
    for c, drop in zip(CONDS, (3.0, 1.5, 2.0)):
        for s in seeds:
            for lvl in LEVELS:
                rows.append({"condition": c, "alpha": 0.0 if c == "none" else 20.0, "seed": s, "level": lvl,
                             "accuracy": max(0.1, 0.9 - drop * lvl + 0.01 * s), "n_images": 100, "noise_seed": 0})
    return pd.DataFrame(rows)


def adv_table() -> pd.DataFrame:
    rows = []
    for c, scale in zip(CONDS, (1.0, 1.4, 1.2)):
        for s in (0, 1):
            for norm, base in zip(fr.NORMS, (0.01, 1.0, 0.1, 0.003)):
                rows.append({"condition": c, "seed": s, "norm": norm, "median": base * scale * (1 + 0.05 * s)})
    return pd.DataFrame(rows)


def assert_written(path):
    assert path.stat().st_size > 2000
    assert path.with_suffix(".pdf").stat().st_size > 1000


def test_sem_on_a_hand_case():
    df = pd.DataFrame({"condition": ["a"] * 3 + ["b"], "level": [0.1] * 4, "accuracy": [0.2, 0.4, 0.6, 0.5]})
    s = fr.mean_sem(df, ["condition", "level"], "accuracy").set_index("condition")
    # a: mean 0.4, sample sd 0.2, SEM 0.2 / sqrt(3)
    assert s.loc["a", "mean"] == pytest.approx(0.4)
    assert s.loc["a", "sem"] == pytest.approx(0.2 / np.sqrt(3))
    assert s.loc["a", "n"] == 3
    assert np.isnan(s.loc["b", "sem"]) and s.loc["b", "n"] == 1  # one seed: no error bar


def test_read_runs_takes_condition_alpha_seed_from_the_path(tmp_path):
    for t, a, s in (("none", "0", 0), ("neural_model", "20", 1)):
        d = tmp_path / "results" / "robustness" / t / f"alpha{a}" / f"seed{s}"
        d.mkdir(parents=True)
        pd.DataFrame({"level": [0.0, 0.1], "accuracy": [0.9, 0.5]}).to_csv(d / "noise.csv", index=False)
    df = fr.read_runs(sorted((tmp_path / "results").rglob("noise.csv")))
    assert set(df["condition"]) == {"none", "neural_model"}
    assert df[df["condition"] == "neural_model"]["alpha"].iloc[0] == 20.0
    assert df[df["condition"] == "neural_model"]["seed"].iloc[0] == 1
    with pytest.raises(ValueError, match="alpha"):
        fr.read_runs([tmp_path / "noise.csv"])


def test_noisy_examples_match_the_robustness_noise():
    from neuroreg.robustness.noise import add_noise, draw_noise

    imgs = np.random.default_rng(1).integers(0, 255, (5, 8, 8), dtype=np.uint8)
    a = fr.noisy_examples(imgs, LEVELS, noise_seed=3, index=2)
    assert a.shape == (len(LEVELS), 8, 8) and np.array_equal(a, fr.noisy_examples(imgs, LEVELS, 3, index=2))
    assert a.min() >= 0 and a.max() <= 1
    np.testing.assert_allclose(a[0], imgs[2] / 255, rtol=1e-6)
    x = __import__("torch").from_numpy(imgs[:, None]).float() / 255
    ref = add_noise(x, draw_noise(x.shape, LEVELS[2], 3))[2, 0].numpy()  # what the evaluation saw
    np.testing.assert_array_equal(a[2], ref)


def test_fig4_noise_robustness(tmp_path):
    summary = fr.mean_sem(noise_table(), ["condition", "level"], "accuracy")
    ex = fr.noisy_examples(np.random.default_rng(0).integers(0, 255, (3, 32, 32), dtype=np.uint8), LEVELS, 0)
    fr.plot_noise_robustness(summary, tmp_path / "fig4a.png", examples=ex)
    assert_written(tmp_path / "fig4a.png")
    fr.plot_noise_robustness(summary, tmp_path / "fig4b.png", title="CIFAR-100", chance=0.01)
    assert_written(tmp_path / "fig4b.png")


def test_fig5_adversarial_steps(tmp_path):
    rows = [{"condition": c, "seed": s, "norm": n, "steps": k, "median": 0.1 * m / np.log(k + 1)}
            for c, m in zip(CONDS, (1, 1.3, 1.1)) for s in (0, 1) for n in ("L2", "Linf") for k in (10, 100, 1000)]
    fr.plot_adversarial_steps(pd.DataFrame(rows), tmp_path / "fig5.png")
    assert_written(tmp_path / "fig5.png")


def test_fig6_alpha_sweep(tmp_path):
    df = noise_table().assign(alpha=lambda d: d["condition"].map({"none": 0.0, "neural_model": 4.0, "shuffle": 16.0}))
    fr.plot_alpha_sweep(fr.mean_sem(df, ["alpha", "level"], "accuracy"), tmp_path / "fig6.png")
    assert_written(tmp_path / "fig6.png")


def test_fig7_adversarial_norms(tmp_path):
    fr.plot_adversarial_norms(adv_table(), tmp_path / "fig7.png")
    assert_written(tmp_path / "fig7.png")


def test_table1_gamma(tmp_path):
    gamma = pd.DataFrame({"alpha": [0.0, 4.0], "n_seeds": [2, 2], "gamma_1": [0.2, 0.0], "gamma_5": [0.2, 1.0],
                          "gamma_9": [0.2, 0.0], "gamma_13": [0.2, 0.0], "gamma_17": [0.2, 0.0]})
    fr.plot_gamma_table(gamma, tmp_path / "t1.png")
    assert_written(tmp_path / "t1.png")


def test_paper_vs_run_table():
    corr = pd.DataFrame({"scan": ["a", "mean", "pooled"], "r_data_oracle": [0.3, 0.3, 0.35],
                         "r_model_oracle": [0.7, 0.7, 0.72]})
    noise = noise_table()
    t = pvr.paper_vs_run(noise, adv_table(), corr)
    assert list(t.columns) == pvr.PAPER_VS_RUN_COLUMNS
    assert t[["quantity", "condition"]].head(len(pvr.PAPER)).apply(tuple, axis=1).tolist() == [q[:2] for q in pvr.PAPER]
    row = t[(t["quantity"] == "accuracy_at_highest_noise") & (t["condition"] == "none")].iloc[0]
    top = noise[(noise["condition"] == "none") & (noise["level"] == 0.2)]["accuracy"]
    assert row["paper"] == 0.20 and row["run"] == pytest.approx(top.mean()) and row["n_seeds"] == 3
    assert row["run_sem"] == pytest.approx(top.std(ddof=1) / np.sqrt(3))
    assert t[t["quantity"] == "r_model_oracle"]["run"].iloc[0] == pytest.approx(0.72)
    vgg = t[(t["quantity"] == "median_L2") & (t["condition"] == "vgg")].iloc[0]
    assert np.isnan(vgg["run"]) and "not in this run" in vgg["note"]  # no VGG runs
    empty = pvr.paper_vs_run(None, None, None)
    assert empty["run"].isna().all() and empty["paper"].notna().all()


def claims_noise(gain, sem_scale=1.0):
    """Accuracy per seed: none 0.60 clean, 0.35 at sd 0.06 and 0.30 at 0.08; neural_model 0.58 clean and
    `gain` above none under noise; shuffle halfway; ground_truth like neural_model. The seeds add
    -0.01, 0, +0.01 (times sem_scale): sd 0.01 * sem_scale, SEM that / sqrt(3)."""
    base = {0.0: 0.60, 0.06: 0.35, 0.08: 0.30}
    rows = []
    for cond, clean_cost, g in (("none", 0, 0), ("neural_model", 0.02, gain), ("shuffle", 0.01, gain / 2),
                                ("ground_truth", 0.0, gain)):
        for s, jitter in zip((0, 1, 2), (-0.01, 0.0, 0.01)):
            for lv, acc in base.items():
                acc = acc - clean_cost if lv == 0 else acc + g
                rows.append({"condition": cond, "seed": s, "level": lv, "accuracy": acc + jitter * sem_scale})
    return pd.DataFrame(rows)


def test_claims_on_hand_cases():
    """The paper's qualitative results as rows: each difference, its SEM and whether it holds, by hand."""
    gamma = pd.DataFrame({"seed": [0, 1, 2], "gamma_1": [0.0, 0.0, 0.5], "gamma_5": [1.0, 0.0, 0.5],
                          "gamma_9": [0.0, 1.0, 0.0]})
    adv = pd.DataFrame({"condition": ["none"] * 3 + ["neural_model"] * 3, "seed": [0, 1, 2] * 2, "norm": ["L2"] * 6,
                        "median": [0.1, 0.1, 0.1, 0.12, 0.13, 0.14]})
    t = pd.DataFrame(pvr.claims(claims_noise(0.10), adv, gamma=gamma)).set_index(["quantity", "condition"])
    cost = t.loc[("clean_cost", "none - neural_model")]
    assert cost["run"] == pytest.approx(0.02) and cost["run_sem"] == pytest.approx(np.hypot(0.01, 0.01) / np.sqrt(3))
    assert cost["holds"] == "yes" and cost["n_seeds"] == 3
    gain = t.loc[("gain_at_sd0.06", "neural_model - none")]
    assert gain["run"] == pytest.approx(0.10) and gain["holds"] == "yes" and "apart" in gain["note"]
    assert t.loc[("difference_at_sd0.08", "shuffle - neural_model"), "holds"] == "yes"  # 0.05 below
    assert t.loc[("difference_at_sd0.08", "ground_truth - neural_model"), "holds"] == "yes"  # equal
    assert t.loc[("accuracy_at_sd0.08", "none"), "run"] == pytest.approx(0.30)
    assert t.loc[("median_L2_gain", "neural_model - none"), "run"] == pytest.approx(0.03)
    assert t.loc[("median_L2_gain", "neural_model - none"), "holds"] == "yes"  # 0.03 against 2 SEM = 0.012
    spread = adv.assign(median=[0.1, 0.1, 0.1, 0.05, 0.12, 0.16])  # +0.01 on average, SEM 0.032
    t2 = pd.DataFrame(pvr.claims(None, spread)).set_index(["quantity", "condition"])
    assert t2.loc[("median_L2_gain", "neural_model - none"), "holds"] == "NO"
    bad = pd.DataFrame({"condition": ["none"] * 3 + ["neural_model"] * 3, "alpha": 0.0, "seed": [0, 1, 2] * 2,
                        "passed": [True, False, True] + [True] * 3, "failed": ["", "radius_floor (L2)", ""] + [""] * 3})
    t3 = pd.DataFrame(pvr.claims(None, adv, checks=bad)).set_index(["quantity", "condition"])
    row = t3.loc[("median_L2_gain", "neural_model - none")]
    assert row["holds"] == "NO" and row["checks"].startswith("none: FAILED") and "radius_floor" in row["checks"]
    top = t.loc[("max_gamma", "neural_model")]
    assert top["run"] == pytest.approx(2.5 / 3) and top["holds"] == "NO" and "seed 2: 1" in top["note"]
    # a 3-point gain fails the 5-point criterion; a 6-point gain with seeds spread +-0.1 is not 2 SEM apart
    small = pd.DataFrame(pvr.claims(claims_noise(0.03), None)).set_index(["quantity", "condition"])
    assert small.loc[("gain_at_sd0.06", "neural_model - none"), "holds"] == "NO"
    noisy = pd.DataFrame(pvr.claims(claims_noise(0.06, sem_scale=10), None)).set_index(["quantity", "condition"])
    assert noisy.loc[("gain_at_sd0.06", "neural_model - none"), "holds"] == "NO"
    assert "overlapping" in noisy.loc[("gain_at_sd0.06", "neural_model - none"), "note"]
    assert pvr.claims(None, None) == []


def write_checks(root, runs):
    """checks.json of attacked runs: {(condition, alpha, seed): passed}."""
    import json

    paths = []
    for (cond, alpha, seed), ok in runs.items():
        p = root / cond / f"alpha{alpha}" / f"seed{seed}" / "checks.json"
        p.parent.mkdir(parents=True)
        masking = {"passed": ok, "per_norm": {"L2": {"passed": ok}, "Linf": {"passed": True}}}
        p.write_text(json.dumps({"unbounded_success": {"passed": True}, "clean_accuracy": {"passed": True},
                                 "gradient_masking": masking, "passed": ok,
                                 "failed": [] if ok else ["gradient_masking (L2)"]}))
        paths.append(p)
    return paths


def test_a_failed_sanity_check_is_beside_its_numbers(tmp_path):
    """checks.json -> the checks column of paper_vs_run.csv (adversarial rows only) and a mark in Fig. 5, 7."""
    paths = write_checks(tmp_path, {("none", "0", 0): True, ("none", "0", 1): False, ("none", "0", 2): True,
                                    ("neural_model", "20", 0): True, ("neural_model", "20", 1): True,
                                    ("neural_model", "20", 2): True})
    checks = pvr.read_checks(paths)
    assert checks["passed"].tolist().count(False) == 1
    corr = pd.DataFrame({"scan": ["pooled"], "r_data_oracle": [0.35], "r_model_oracle": [0.72]})
    t = pvr.paper_vs_run(noise_table(), adv_table(), corr, checks=checks).set_index(["quantity", "condition"])
    assert t.loc[("median_L2", "none"), "checks"] == "FAILED in 1 of 3 models: seed 1: gradient_masking (L2)"
    assert t.loc[("median_Linf", "none"), "checks"].startswith("FAILED")
    assert t.loc[("median_L2", "neural_model"), "checks"] == "passed (3 models)"
    assert t.loc[("accuracy_at_highest_noise", "none"), "checks"] == ""  # not an adversarial number
    assert (pvr.paper_vs_run(noise_table(), adv_table(), corr)["checks"] == "").all()  # no checks given
    fr.plot_adversarial_norms(adv_table(), tmp_path / "fig7.png", checks=checks)
    assert_written(tmp_path / "fig7.png")
