"""The documentation's measured numbers are rendered from a run's tables (neuroreg.figures.docs)."""

from __future__ import annotations

import pandas as pd
import pytest

from neuroreg.conditions import Run
from neuroreg.figures import docs
from neuroreg.files import InputError


def verdict_rows():
    base = {"n_seeds": 5, "n_seeds_other": 5, "n_images": 100, "checks": "", "unit": "", "note": "", "null": 0.0}
    rows = [
        {"claim": "median_L2", "comparison": "neural_model vs none", "bn": "cifar", "primary": True, "effect": 1.2637,
         "ci_low": 1.1155, "ci_high": 1.4317, "scale": "ratio", "paper": 1.4444, "verdict": "holds", "detectable": 1.1887},
        {"claim": "median_L2", "comparison": "neural_model vs none", "bn": "trained", "primary": False, "effect": 1.05,
         "ci_low": 0.95, "ci_high": 1.2, "scale": "ratio", "paper": 1.4444, "verdict": "inconclusive", "detectable": 1.2},
        {"claim": "median_Linf", "comparison": "neural_model vs none", "bn": "cifar", "primary": True, "effect": 1.1,
         "ci_low": 0.98, "ci_high": 1.25, "scale": "ratio", "paper": 1.36, "verdict": "inconclusive", "detectable": 1.2},
        {"claim": "accuracy_sd0.1", "comparison": "neural_model vs none", "bn": "cifar", "primary": True,
         "effect": 0.0402, "ci_low": 0.0026, "ci_high": 0.0779, "scale": "difference", "paper": 0.3, "verdict": "holds",
         "detectable": 0.052},
        {"claim": "accuracy_sd0.1", "comparison": "neural_model vs shuffle", "bn": "cifar", "primary": True,
         "effect": -0.01, "ci_low": -0.05, "ci_high": 0.03, "scale": "difference", "paper": float("nan"),
         "verdict": "inconclusive", "detectable": 0.1},
    ]
    return pd.DataFrame([{**base, **r} for r in rows])


def test_verdict_table_by_hand():
    table = docs.verdict_table(verdict_rows()).splitlines()
    assert table[2] == ("| accuracy at sd 0.10 | `none` | **+4.0 [+0.3, +7.8]** | **holds** |  |  | +30 | 5.2 |")
    assert table[3] == "|  | `shuffle` | -1.0 [-5.0, +3.0] | inconclusive |  |  | > 0 | 10.0 |"
    assert table[4] == ("| median minimal L2 (ratio) | `none` | **x1.26 [1.12, 1.43]** | **holds** | x1.05 [0.95, 1.20] | "
                        "inconclusive | x1.44 | x1.19 |")
    assert table[5].startswith("| median minimal Linf (ratio) | `none` | x1.10 [0.98, 1.25] | inconclusive |")
    with pytest.raises(InputError, match="verdict.csv: ci_low: missing column"):
        docs.verdict_table(verdict_rows().drop(columns="ci_low"))


def test_noise_table_from_the_runs_files(tmp_path):
    for cond, alpha, seed, accs in [("none", "0", 0, (0.5, 0.3)), ("none", "0", 1, (0.6, 0.4)),
                                    ("neural_model", "2", 0, (0.55, 0.45))]:
        d = tmp_path / "robustness" / cond / f"alpha{alpha}" / f"seed{seed}"
        d.mkdir(parents=True)
        df = pd.DataFrame({"bn": ["cifar", "cifar", "trained", "trained"], "level": [0.0, 0.1, 0.0, 0.1],
                           "accuracy": list(accs) + [a - 0.1 for a in accs]})
        Run.of(cond, alpha, seed).record(df).to_csv(d / "noise.csv", index=False)
    lines = docs.noise_table(tmp_path).splitlines()
    assert lines[0] == "| condition (seeds) | clean | sd 0.10 |"
    assert lines[2] == "| `none` (2) | 55.0 ± 5.0 / 45.0 ± 5.0 | 35.0 ± 5.0 / 25.0 ± 5.0 |"
    assert lines[3] == "| `neural_model` (1) | 55.0 / 45.0 | 45.0 / 35.0 |"


def test_render_rewrites_only_the_blocks_and_check_reports_stale(tmp_path):
    run = tmp_path / "run"
    (run / "tables").mkdir(parents=True)
    verdict_rows().to_csv(run / "tables" / "verdict.csv", index=False)
    doc = tmp_path / "doc.md"
    doc.write_text("Prose by hand.\n<!-- rendered: headline -->\nold numbers\n<!-- /rendered -->\nMore prose.\n")
    assert docs.main([str(doc), "--run", str(run), "--check"]) == 1
    assert "old numbers" in doc.read_text()  # --check writes nothing
    assert docs.main([str(doc), "--run", str(run)]) == 0
    text = doc.read_text()
    assert text.startswith("Prose by hand.\n<!-- rendered: headline -->\n**The verdict**") and text.endswith(
        "<!-- /rendered -->\nMore prose.\n")
    assert "median L2 x1.26 [1.12, 1.43]: holds, Linf x1.10 [0.98, 1.25]: inconclusive" in text
    assert "sd 0.10, points over `none`: +4.0 [+0.3, +7.8]: holds" in text
    assert docs.main([str(doc), "--run", str(run), "--check"]) == 0
    doc.write_text("<!-- rendered: nonsense -->\n<!-- /rendered -->\n")
    with pytest.raises(InputError, match="doc.md: nonsense: unknown rendered block"):
        docs.main([str(doc), "--run", str(run)])


def _checks(drop, unreached, unreached_trained, passed=True):
    def variant(d, u):
        return {"passed": passed, "convergence": {"per_norm": {"L2": {"applicable": True, "drop": d}}},
                "unbounded_success": {"per_norm": {"L2": {"n_unreached": u}}}}
    return {"bn": {"cifar": variant(drop, unreached), "trained": variant(0.0, unreached_trained)}, "passed": passed}


def test_attack_summary_by_hand(tmp_path):
    import json

    # two seeds of none (correct 100 / 110 of 300), one of neural_model; the run is what each file records
    for i, (cond, seed, correct, med, wins) in enumerate([("none", 0, 100, 0.10, (0.8, 0.2)),
                                                           ("none", 1, 110, 0.12, (0.6, 0.4)),
                                                           ("neural_model", 0, 90, 0.15, (1.0, 0.0))]):
        d = tmp_path / "robustness" / f"r{i}"  # the path says nothing
        d = d / "alpha0" / "seed0"
        d.mkdir(parents=True)
        df = pd.DataFrame({"bn": ["cifar", "trained"], "norm": ["L2", "L2"], "median": [med / 3, 9.0],
                           "median_correct": [med, 9.0], "n_images": [300, 300], "n_correct": [correct, 999],
                           "floor_fraction": [0.01 * (i + 1), 0.9], "wins_fmn": [wins[0], 0.0],
                           "wins_ddn": [wins[1], 0.0], "ties": [0.0, 0.0]})
        Run.of(cond, 2 if cond != "none" else 0, seed).record(df).to_csv(d / "adversarial.csv", index=False)
        (d / "checks.json").write_text(json.dumps(_checks(0.01 * i, i, 2 * i)))
    lines = docs.attack_summary(tmp_path).splitlines()
    assert lines[0] == ("| condition (seeds) | correct of 300 | median L2, correct images | L2, the paper's median |")
    assert lines[2] == "| `none` (2) | 105.0 ± 5.0 | 0.110 ± 0.010 | 0.037 ± 0.003 |"
    assert lines[3] == "| `neural_model` (1) | 90.0 | 0.150 | 0.050 |"
    assert lines[5].startswith("All checks passed on 3 of 3 attacked models (every BatchNorm variant).")
    # largest drop 2 %, largest floor share 3 %, most unreached 2 (as trained 4); wins: FMN (0.8+0.6+1)/3 = 80 %
    assert lines[-1] == "| L2 | 2.0 % | 3.0 % | 2 (4) | FMN 80 %, DDN 20 % |"
    # a model that failed a check is named with the check and the norm
    bad = _checks(0.3, 0, 0)
    bad["bn"]["cifar"].update(passed=False, convergence={"passed": False, "per_norm": {
        "L2": {"applicable": True, "drop": 0.3, "passed": False}}})
    bad["run"] = {"condition": "neural_model", "alpha": 2.0, "seed": 0}
    (tmp_path / "robustness" / "r2" / "alpha0" / "seed0" / "checks.json").write_text(json.dumps(bad))
    lines = docs.attack_summary(tmp_path).splitlines()
    assert lines[5].startswith("All checks passed on 2 of 3 attacked models (every BatchNorm variant); FAILED: "
                               "`neural_model` seed 0 (convergence L2). Per norm")


def test_corruption_brain_gamma_and_similarity_blocks_by_hand(tmp_path):
    t = tmp_path / "tables"
    t.mkdir()
    pd.DataFrame({"condition": ["none", "none", "none", "shuffle", "shuffle", "shuffle"],
                  "measure": ["clean_accuracy", "mean_corruption_accuracy", "relative_robustness"] * 2,
                  "mean": [0.6, 0.5, 1.0, 0.62, 0.55, 1.1], "sem": [0.01, 0.02, 0.03, None, None, None],
                  "n": [3, 3, 3, 1, 1, 1]}).to_csv(t / "corruption_summary.csv", index=False)
    lines = docs.corruption_summary(tmp_path).splitlines()
    assert lines[0] == "| condition (seeds) | clean (same images) | mean corruption | relative robustness R |"
    assert lines[2] == "| `none` (3) | 60.0 ± 1.0 | 50.0 ± 2.0 | 1.00 ± 0.03 |"
    assert lines[3] == "| `shuffle` (1) | 62.0 | 55.0 | 1.10 |"
    # brain-likeness: rho of 4 models, monotone with L2 (+1), reversed with noise (-1)
    pd.DataFrame({"condition": ["none", "none", "neural_model", "neural_model"], "alpha": [0, 0, 2, 2],
                  "seed": [0, 1, 0, 1], "brain_neural_model": [0.1, 0.2, 0.6, 0.7], "noise": [0.4, 0.3, 0.2, 0.1],
                  "adversarial_L2": [0.1, 0.11, 0.15, 0.16]}).to_csv(t / "brain_likeness.csv", index=False)
    text = docs.brain_likeness(tmp_path)
    assert "`none` 0.15 ± 0.05, `neural_model` 0.65 ± 0.05." in text
    assert "the noise score -1.00 (p = 0, n = 4)" in text and "over correct images +1.00 (p = 0, n = 4)" in text
    pd.DataFrame({"alpha": [0.0, 2.0], "n_seeds": [1, 3], "gamma_1": [0.5, 0.1], "gamma_13": [0.5, 0.9]}).to_csv(
        t / "gamma.csv", index=False)
    assert docs.gamma_table(tmp_path).splitlines()[2:] == ["| 0 (1) | 0.50 | 0.50 |", "| 2 (3) | 0.10 | **0.90** |"]
    pd.DataFrame({"scan": ["a", "pooled"], "r_data_oracle": [0.31, 0.3], "r_model_oracle": [0.7, 0.66]}).to_csv(
        t / "similarity_correlations.csv", index=False)
    assert docs.similarity_correlations(tmp_path).splitlines()[3] == "| pooled | 0.30 | 0.66 |"
    with pytest.raises(InputError, match="gamma.csv: n_seeds: missing column"):
        pd.DataFrame({"alpha": [0.0]}).to_csv(t / "gamma.csv", index=False)
        docs.gamma_table(tmp_path)


def test_run_cost_from_the_benchmarks_and_metrics(tmp_path):
    import json

    for rel, s in [("cotrain/a/alpha0/seed0.tsv", 60), ("cotrain/b/alpha2/seed0.tsv", 180),
                   ("robustness/noise/a/alpha0/seed0.tsv", 30), ("robustness/noise/b/alpha2/seed0.tsv", 30)]:
        f = tmp_path / "benchmarks" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(f"s\th:m:s\tmax_rss\n{s}\t0:00:00\t1\n")
    for cond, alpha, sec in [("none", 0.0, 54), ("neural_model", 2.0, 170)]:
        d = tmp_path / "cotrain" / cond / "x" / "y"
        d.mkdir(parents=True)
        (d / "metrics.json").write_text(json.dumps({"condition": cond, "alpha": alpha, "seed": 0, "seconds": sec}))
    lines = docs.run_cost(tmp_path).splitlines()
    assert lines[2:5] == ["| cotrain | 2 | 4.0 | 2.0 |", "| robustness/noise | 2 | 1.0 | 0.5 |", "| all | 4 | 5 | |"]
    assert lines[-1] == "Training loops (each run's metrics.json): alpha 0: 1 training, 0.9 min each; alpha > 0: 1 training, 2.8 min each."


def test_controls_table_from_tables_controls_csv(tmp_path):
    t = tmp_path / "tables"
    t.mkdir()
    pd.DataFrame([
        {"tested": "neural_model", "measure": "accuracy_sd0.1", "strongest": "pixel", "effect": 0.02, "ci_low": -0.01,
         "ci_high": 0.05, "scale": "difference", "verdict": "inconclusive", "n_seeds": 5, "n_seeds_control": 5,
         "n_images": 0, "controls": "pixel +2.0 [-1.0, +5.0]; shuffle +6.0 [+1.0, +11.0]"},
        {"tested": "neural_model", "measure": "median_L2", "strongest": "shuffle", "effect": 1.3, "ci_low": 1.1,
         "ci_high": 1.5, "scale": "ratio", "verdict": "holds", "n_seeds": 5, "n_seeds_control": 5, "n_images": 200,
         "controls": "shuffle x1.300 [x1.100, x1.500]"}]).to_csv(t / "controls.csv", index=False)
    lines = docs.controls_table(tmp_path).splitlines()
    assert lines[2] == ("| `neural_model` | accuracy at sd 0.10 (points) | `pixel` | +2.0 [-1.0, +5.0] | inconclusive | "
                        "5 / 5 | pixel +2.0 [-1.0, +5.0]; shuffle +6.0 [+1.0, +11.0] |")
    assert lines[3].startswith("|  | median minimal L2 (ratio) | `shuffle` | x1.30 [1.10, 1.50] | **holds** | 5 / 5 |")


def test_frequency_summary_from_the_probe_tables(tmp_path):
    t = tmp_path / "tables"
    t.mkdir()
    pd.DataFrame({"condition": ["none", "none", "pixel"], "alpha": [0, 0, 2], "seed": [0, 1, 0],
                  "clean": [0.5, 0.6, 0.55], "lfr": [0.1, 0.3, 0.4],
                  "brain_neural_model": [0.2, 0.2, 0.3]}).to_csv(t / "frequency.csv", index=False)
    pd.DataFrame({"score": ["noise"], "x": ["brain_neural_model"], "given": ["clean+lfr"], "n_models": [3],
                  "partial_r": [0.25], "ci_low": [-0.5], "ci_high": [0.9]}).to_csv(t / "partial_correlations.csv",
                                                                                   index=False)
    lines = docs.frequency_summary(tmp_path).splitlines()
    assert lines[2] == "| `none` (2) | 55.0 ± 5.0 | 0.20 ± 0.10 | 0.20 ± 0.00 |"
    assert lines[3] == "| `pixel` (1) | 55.0 | 0.40 | 0.30 |"
    assert lines[-1] == "| noise score | +0.25 [-0.50, +0.90] | 3 |"
    assert "given clean accuracy and LFR" in lines[-3]


def test_methods_table_means_and_gains_over_none_by_hand(tmp_path):
    # noise.csv of five models; methods.csv as stage 7 writes it (its rows printed as they are)
    for cond, alpha, seed, (clean, sd) in [("none", 0, 0, (0.5, 0.3)), ("none", 0, 1, (0.6, 0.4)),
                                           ("neural_model", 2, 0, (0.55, 0.45)), ("neural_model", 2, 1, (0.55, 0.45)),
                                           ("blur1", 0, 0, (0.4, 0.4))]:
        d = tmp_path / "robustness" / f"{cond}{seed}" / "alpha0" / "seed0"  # the path says nothing
        d.mkdir(parents=True)
        df = pd.DataFrame({"bn": ["cifar"] * 2, "level": [0.0, 0.1], "accuracy": [clean, sd]})
        Run.of(cond, alpha, seed).record(df).to_csv(d / "noise.csv", index=False)
    (tmp_path / "tables").mkdir()
    nan = float("nan")
    pd.DataFrame({"condition": ["none", "neural_model", "blur1"], "family": ["baseline", "similarity", "low-pass"],
                  "alpha": [0, 2, 0], "n": [2, 2, 1], "clean_mean": [0.55, 0.55, 0.4], "clean_sem": [0.05, 0.0, nan],
                  "noise_mean": [0.35, 0.45, 0.4], "noise_sem": [0.05, 0.0, nan], "noise_max_mean": [0.35, 0.45, 0.4],
                  "noise_max_sem": [0.05, 0.0, nan], "L2_mean": [nan, 0.12, nan], "L2_sem": [nan, 0.01, nan]}
                 ).to_csv(tmp_path / "tables" / "methods.csv", index=False)
    lines = docs.methods_table(tmp_path).splitlines()
    assert lines[0] == ("| condition | family | alpha | seeds | clean | noise (mean over sd > 0) | sd 0.10 | "
                        "median L2 |")
    assert lines[2] == "| `none` | baseline | 0 | 2 | 55.0 ± 5.0 | 35.0 ± 5.0 | 35.0 ± 5.0 | — |"
    assert lines[3] == "| `neural_model` | similarity | 2 | 2 | 55.0 ± 0.0 | 45.0 ± 0.0 | 45.0 ± 0.0 | 0.120 ± 0.010 |"
    # gains over none, Welch: sd 0.10 +10 points, se = sqrt(0.005 / 2) = 0.05 on 1 df (t = 12.706): +-63.5 points
    assert lines[4] == "| `blur1` | low-pass | 0 | 1 | 40.0 | 40.0 | 40.0 | — |"
    assert lines[8] == "| `neural_model` | +0.0 [-63.5, +63.5] | +10.0 [-53.5, +73.5] | — | — | — |"
    assert lines[9] == "| `blur1` | -15.0 (1 seed) | +5.0 (1 seed) | — | — | — |"
    with pytest.raises(InputError, match="methods.csv: noise_max_sem: missing column"):
        pd.read_csv(tmp_path / "tables" / "methods.csv").drop(columns="noise_max_sem").to_csv(
            tmp_path / "tables" / "methods.csv", index=False)
        docs.methods_table(tmp_path)
