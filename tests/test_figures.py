"""Stage 7 plotting functions on small synthetic tables: PNG + PDF written, SEM right, paper-vs-run table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroreg.figures import paper_vs_run as pvr
from neuroreg.files import InputError
from neuroreg.figures import robustness as fr
from neuroreg.figures import runs

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
    s = runs.mean_sem(df, ["condition", "level"], "accuracy").set_index("condition")
    # a: mean 0.4, sample sd 0.2, SEM 0.2 / sqrt(3)
    assert s.loc["a", "mean"] == pytest.approx(0.4)
    assert s.loc["a", "sem"] == pytest.approx(0.2 / np.sqrt(3))
    assert s.loc["a", "n"] == 3
    assert np.isnan(s.loc["b", "sem"]) and s.loc["b", "n"] == 1  # one seed: no error bar


def test_read_runs_attributes_each_file_by_the_run_it_records_not_its_path(tmp_path):
    from neuroreg.conditions import Run

    for t, a, s in (("none", "0", 0), ("neural_model", "20", 1)):
        d = tmp_path / "results" / "robustness" / t / f"alpha{a}" / f"seed{s}"
        d.mkdir(parents=True)
        df = pd.DataFrame({"level": [0.0, 0.1], "accuracy": [0.9, 0.5]})
        Run.of(t, a, s).record(df).to_csv(d / "noise.csv", index=False)
    # a file copied elsewhere keeps its run: the path says nothing
    elsewhere = tmp_path / "copy.csv"
    elsewhere.write_text((tmp_path / "results/robustness/neural_model/alpha20/seed1/noise.csv").read_text())
    df = runs.read_runs(sorted((tmp_path / "results").rglob("noise.csv")) + [elsewhere])
    assert list(df.columns[:3]) == ["condition", "alpha", "seed"]
    assert set(df["condition"]) == {"none", "neural_model"}
    nm = df[df["condition"] == "neural_model"]
    assert len(nm) == 4 and (nm["alpha"] == 20.0).all() and (nm["seed"] == 1).all()
    # a table that records no run, or two, is named with the missing key
    old = tmp_path / "results" / "old" / "alpha0" / "seed0" / "noise.csv"
    old.parent.mkdir(parents=True)
    pd.DataFrame({"level": [0.0], "accuracy": [0.9]}).to_csv(old, index=False)
    with pytest.raises(InputError, match=r"noise.csv: condition: missing.*rerun its job"):
        runs.read_runs([old])
    two = pd.concat([Run.of("none", 0, 0).record(pd.DataFrame({"level": [0.0]})),
                     Run.of("none", 0, 1).record(pd.DataFrame({"level": [0.0]}))])
    two.to_csv(tmp_path / "two.csv", index=False)
    with pytest.raises(InputError, match="two.csv: condition: records 2 runs"):
        runs.read_runs([tmp_path / "two.csv"])


def test_a_run_is_what_its_metrics_json_records(tmp_path):
    import json

    from neuroreg.conditions import Run

    m = tmp_path / "metrics.json"
    m.write_text(json.dumps({"condition": "shuffle", "alpha": 2.0, "seed": 3, "gamma": {}}))
    assert Run.recorded(m) == Run("shuffle", "2", "3")
    assert Run.recorded(m, expected=("shuffle", "2", "3")) == Run("shuffle", "2", "3")
    with pytest.raises(InputError, match=r"metrics.json: condition: records the run shuffle, alpha 2, seed 3, but the "
                                         r"job is for neural_model, alpha 2, seed 3"):
        Run.recorded(m, expected=("neural_model", "2", "3"))
    m.write_text(json.dumps({"alpha": 2.0, "seed": 3}))
    with pytest.raises(InputError, match="metrics.json: condition: missing"):
        Run.recorded(m)
    m.write_text("{not json")
    with pytest.raises(InputError, match="metrics.json: cannot be read as JSON"):
        Run.recorded(m)


def test_noisy_examples_match_the_robustness_noise():
    from neuroreg.noise import add_noise, draw_noise

    imgs = np.random.default_rng(1).integers(0, 255, (5, 8, 8), dtype=np.uint8)
    a = fr.noisy_examples(imgs, LEVELS, noise_seed=3, index=2)
    assert a.shape == (len(LEVELS), 8, 8) and np.array_equal(a, fr.noisy_examples(imgs, LEVELS, 3, index=2))
    assert a.min() >= 0 and a.max() <= 1
    np.testing.assert_allclose(a[0], imgs[2] / 255, rtol=1e-6)
    x = __import__("torch").from_numpy(imgs[:, None]).float() / 255
    ref = add_noise(x, draw_noise(x.shape, LEVELS[2], 3))[2, 0].numpy()  # what the evaluation saw
    np.testing.assert_array_equal(a[2], ref)


def test_fig4_noise_robustness(tmp_path):
    summary = runs.mean_sem(noise_table(), ["condition", "level"], "accuracy")
    ex = fr.noisy_examples(np.random.default_rng(0).integers(0, 255, (3, 32, 32), dtype=np.uint8), LEVELS, 0)
    fr.plot_noise_robustness(summary, tmp_path / "fig4a.png", examples=ex)
    assert_written(tmp_path / "fig4a.png")
    fr.plot_noise_robustness(summary, tmp_path / "fig4b.png", title="CIFAR-100", chance=0.01)
    assert_written(tmp_path / "fig4b.png")


def test_fig5_adversarial_steps(tmp_path):
    rows = [{"condition": c, "seed": s, "norm": n, "steps": k, "median": 0.1 * m / np.log(k + 1)}
            for c, m in zip(CONDS, (1, 1.3, 1.1)) for s in (0, 1) for n in ("L2", "Linf") for k in (10, 100, 1000)]
    fr.plot_adversarial_steps(pd.DataFrame(rows), tmp_path / "fig5.png")
    # the adversarial_steps.csv layout: per attack and budget, "best" the minimum over the attacks
    steps = pd.DataFrame([{"condition": c, "seed": s, "norm": n, "attack": a, "steps": 100 * b, "budget": b,
                           "median": 0.1 * m / b ** 0.1 * (1.1 if a != "best" else 1), "floor_fraction": 0.0}
                          for c, m in zip(CONDS, (1, 1.3, 1.1)) for s in (0, 1) for n in ("L2", "Linf")
                          for a in ("fmn", "best") for b in (1, 2)])
    fr.plot_adversarial_steps(steps, tmp_path / "fig5b.png")
    assert_written(tmp_path / "fig5b.png")
    assert_written(tmp_path / "fig5.png")


def test_fig6_alpha_sweep(tmp_path):
    df = noise_table().assign(alpha=lambda d: d["condition"].map({"none": 0.0, "neural_model": 4.0, "shuffle": 16.0}))
    fr.plot_alpha_sweep(runs.mean_sem(df, ["alpha", "level"], "accuracy"), tmp_path / "fig6.png")
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


def verdict_noise(gain, sd=0.01, seeds=(0, 1, 2, 3, 4), bn=("cifar", "trained")):
    """Accuracy per seed and BatchNorm variant: none 0.60 clean and 0.35 / 0.30 / 0.25 at sd 0.06 / 0.08 / 0.10;
    neural_model 0.02 less clean and ``gain`` above none under noise; shuffle halfway. Seeds spread by
    ``sd`` x (-2, -1, 0, 1, 2) / sqrt(2.5) (sample sd ``sd``); the 'trained' variant 0.05 higher under noise."""
    base = {0.0: 0.60, 0.06: 0.35, 0.08: 0.30, 0.10: 0.25}
    rows = []
    for variant, lift in zip(bn, (0.0, 0.05)):
        for cond, cost, g in (("none", 0, 0), ("neural_model", 0.02, gain), ("shuffle", 0.01, gain / 2)):
            for s in seeds:
                jitter = sd * (s - 2) / np.sqrt(2.5)
                for lv, acc in base.items():
                    acc = acc - cost if lv == 0 else acc + g + lift
                    rows.append({"condition": cond, "seed": s, "bn": variant, "level": lv, "accuracy": acc + jitter,
                                 "n_images": 2000})
    return pd.DataFrame(rows)


def verdict_images(ratio, seeds=(0, 1, 2, 3, 4), n=60, seed=0):
    """Per-image L2 and Linf distances: the same images for every model, neural_model ``ratio`` x none's and shuffle's
    distances, 20 % of each model's images misclassified (distance 0, clean_correct False)."""
    rng = np.random.default_rng(seed)
    base = rng.lognormal(-3, 0.5, n)
    rows = []
    for cond, factor in (("none", 1.0), ("neural_model", ratio), ("shuffle", 1.0)):
        for s in seeds:
            wrong = rng.random(n) < 0.2
            d = base * factor * np.exp(rng.normal(0, 0.05, n))
            for norm in ("L2", "Linf"):
                rows += [{"condition": cond, "seed": s, "bn": "cifar", "norm": norm, "image_index": i,
                          "distance": 0.0 if w else v, "clean_correct": not w} for i, (v, w) in enumerate(zip(d, wrong))]
    return pd.DataFrame(rows)


def test_verdict_on_known_effects():
    """Known effects give known words: a 10-point noise gain with sd 0.01 holds; no gain with a tight interval does
    not hold (it excludes +0.30); distances 1.5 x none's hold over none and shuffle, 1.0 x do not (they exclude the
    paper's 1.44 / 1.18); the clean cost of 2 points holds (above -5 points); gamma 0.8-1.0 is inconclusive."""
    from neuroreg.figures import verdict as V

    gamma = pd.DataFrame({"seed": [0, 1, 2, 3, 4], "gamma_1": [0.0, 0.1, 0.2, 0.0, 0.05],
                          "gamma_5": [1.0, 0.9, 0.8, 1.0, 0.95]})
    t = V.verdict_table(verdict_noise(0.10), verdict_images(1.5), gamma, n_boot=400)
    assert list(t.columns) == V.COLUMNS
    k = t.set_index(["claim", "comparison", "bn"])
    cost = k.loc[("clean_cost", "neural_model vs none", "cifar")]
    assert cost["effect"] == pytest.approx(-0.02) and cost["verdict"] == "holds" and cost["primary"]
    gain = k.loc[("accuracy_sd0.08", "neural_model vs none", "cifar")]
    assert gain["effect"] == pytest.approx(0.10) and gain["ci_low"] < 0.10 < gain["ci_high"]
    assert gain["verdict"] == "holds" and gain["n_seeds"] == 5 and gain["detectable"] < 0.05
    assert k.loc[("accuracy_sd0.08", "neural_model vs none", "trained"), "primary"] == False  # noqa: E712
    assert k.loc[("accuracy_sd0.06", "neural_model vs shuffle", "cifar"), "effect"] == pytest.approx(0.05)
    l2 = k.loc[("median_L2", "neural_model vs none", "cifar")]
    assert l2["scale"] == "ratio" and l2["effect"] == pytest.approx(1.5, rel=0.05) and l2["verdict"] == "holds"
    assert l2["paper"] == pytest.approx(0.13 / 0.09) and l2["n_images"] > 0
    assert k.loc[("median_Linf", "neural_model vs shuffle", "cifar"), "verdict"] == "holds"
    top = k.loc[("gamma_collapse", "neural_model", "")]
    assert top["effect"] == pytest.approx(0.93) and top["verdict"] == "inconclusive" and "seed 2: 5" in top["note"]

    null = V.verdict_table(verdict_noise(0.0, sd=0.005), verdict_images(1.0), None, n_boot=400)
    k = null.set_index(["claim", "comparison", "bn"])
    assert k.loc[("accuracy_sd0.08", "neural_model vs none", "cifar"), "verdict"] == "does not hold"
    assert k.loc[("median_L2", "neural_model vs none", "cifar"), "verdict"] == "does not hold"
    assert k.loc[("median_L2", "neural_model vs shuffle", "cifar"), "verdict"] == "does not hold"
    assert "gamma_collapse" not in set(null["claim"])
    # a wide spread of seeds: the 10-point gain is no longer resolved against the paper's +0.30 either
    wide = V.verdict_table(verdict_noise(0.05, sd=0.2, seeds=(0, 1)), None, None).set_index(["claim", "comparison", "bn"])
    assert wide.loc[("accuracy_sd0.08", "neural_model vs none", "cifar"), "verdict"] == "inconclusive"


def test_verdict_names_failed_checks_and_feeds_paper_vs_run(tmp_path):
    from neuroreg.figures import verdict as V

    checks = pd.DataFrame({"condition": ["none", "neural_model"], "alpha": [0.0, 2.0], "seed": [0, 0],
                           "bn": ["cifar", "cifar"], "passed": [False, True], "failed": ["convergence (Linf)", ""]})
    t = V.verdict_table(verdict_noise(0.10), verdict_images(1.5), None, checks, n_boot=200)
    row = t[(t["claim"] == "median_Linf") & (t["comparison"] == "neural_model vs none")].iloc[0]
    assert row["checks"].startswith("FAILED in 1 of 2 models") and "convergence (Linf)" in row["checks"]
    corr = pd.DataFrame({"scan": ["pooled"], "r_data_oracle": [0.35], "r_model_oracle": [0.72]})
    pv = pvr.paper_vs_run(verdict_noise(0.10)[lambda d: d["bn"] == "cifar"], adv_table(), corr, verdict=t)
    claims = pv[pv["holds"] != ""]
    assert len(claims) == int(t["primary"].sum()) and set(claims["holds"]) <= {"holds", "does not hold", "inconclusive"}
    assert claims[claims["quantity"] == "median_Linf"]["checks"].iloc[0].startswith("FAILED")
    V.plot_verdict(t, tmp_path / "fig12.png")
    assert_written(tmp_path / "fig12.png")


def write_checks(root, runs):
    """checks.json of attacked runs: {(condition, alpha, seed): passed}."""
    import json

    paths = []
    for (cond, alpha, seed), ok in runs.items():
        p = root / cond / f"alpha{alpha}" / f"seed{seed}" / "checks.json"
        p.parent.mkdir(parents=True)
        masking = {"passed": ok, "per_norm": {"L2": {"passed": ok}, "Linf": {"passed": True}}}
        report = {"unbounded_success": {"passed": True}, "clean_accuracy": {"passed": True},
                  "gradient_masking": masking, "passed": ok, "failed": [] if ok else ["gradient_masking (L2)"]}
        trained = {**report, "passed": True, "failed": []}  # the other BatchNorm variant passes
        p.write_text(json.dumps({"run": {"condition": cond, "alpha": float(alpha), "seed": int(seed)},
                                 "bn": {"cifar": report, "trained": trained}, "passed": ok,
                                 "failed": [] if ok else ["cifar: gradient_masking (L2)"]}))
        paths.append(p)
    return paths


def test_a_failed_sanity_check_is_beside_its_numbers(tmp_path):
    """checks.json -> the checks column of paper_vs_run.csv (adversarial rows only) and a mark in Fig. 5, 7."""
    paths = write_checks(tmp_path, {("none", "0", 0): True, ("none", "0", 1): False, ("none", "0", 2): True,
                                    ("neural_model", "20", 0): True, ("neural_model", "20", 1): True,
                                    ("neural_model", "20", 2): True})
    checks = pvr.read_checks(paths)
    assert checks["passed"].tolist().count(False) == 1 and len(checks) == 12
    assert list(pvr.primary_checks(checks)["bn"].unique()) == ["cifar"]
    corr = pd.DataFrame({"scan": ["pooled"], "r_data_oracle": [0.35], "r_model_oracle": [0.72]})
    t = pvr.paper_vs_run(noise_table(), adv_table(), corr, checks=checks).set_index(["quantity", "condition"])
    assert t.loc[("median_L2", "none"), "checks"] == "FAILED in 1 of 3 models: seed 1: gradient_masking (L2)"
    assert t.loc[("median_Linf", "none"), "checks"].startswith("FAILED")
    assert t.loc[("median_L2", "neural_model"), "checks"] == "passed (3 models)"
    assert t.loc[("accuracy_at_highest_noise", "none"), "checks"] == ""  # not an adversarial number
    assert (pvr.paper_vs_run(noise_table(), adv_table(), corr)["checks"] == "").all()  # no checks given
    fr.plot_adversarial_norms(adv_table(), tmp_path / "fig7.png", checks=checks)
    assert_written(tmp_path / "fig7.png")


def test_partial_correlation_against_the_formula_and_the_probe_tables(tmp_path):
    """One covariate: r_xy.z = (r_xy - r_xz r_yz) / sqrt((1 - r_xz^2)(1 - r_yz^2)); the table's interval holds r."""
    from neuroreg.figures import frequency as ff

    rng = np.random.default_rng(0)
    z = rng.normal(size=40)
    x, y = z + rng.normal(size=40), 0.5 * z + rng.normal(size=40) + 0.3 * rng.normal(size=40)
    r = np.corrcoef([x, y, z])
    want = (r[0, 1] - r[0, 2] * r[1, 2]) / np.sqrt((1 - r[0, 2] ** 2) * (1 - r[1, 2] ** 2))
    assert ff.partial_correlation(x, y, z[:, None]) == pytest.approx(want, abs=1e-12)
    assert ff.partial_correlation(z + x, z + x + 0 * y, z[:, None]) == pytest.approx(1.0)
    freq = pd.DataFrame({"condition": "none", "alpha": 0.0, "seed": [0] * 3 + [1] * 3,
                         "filter": ["clean", "low", "high"] * 2, "cutoff": [0, 4, 4] * 2,
                         "accuracy": [0.5, 0.3, 0.1, 0.6, 0.3, 0.3]})
    lfr = ff.lfr_table(freq)
    assert lfr["lfr"].tolist() == pytest.approx([0.4, 0.0]) and lfr["clean"].tolist() == [0.5, 0.6]
    table = pd.DataFrame({"b": x, "s": y, "clean": z, "lfr": rng.normal(size=40)})
    out = ff.partial_correlations(table, "b", ["s"], n_boot=300)
    row = out.iloc[0]
    assert row["n_models"] == 40 and row["ci_low"] < row["partial_r"] < row["ci_high"]
    assert row["partial_r"] == pytest.approx(ff.partial_correlation(x, y, table[["clean", "lfr"]]))
    ff.plot_frequency(freq, lfr, tmp_path / "fig13.png")
    assert (tmp_path / "fig13.png").stat().st_size > 1000
