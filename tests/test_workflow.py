"""Integration: the Snakefile on a tiny configuration, end to end, on the CPU.

Same code paths as the default experiment (virtual scans on photos, CIFAR in the python
layout), tiny sizes: two virtual scans of 40 neurons, 48 + 8 stimuli, 100 CIFAR images,
encoders for 2 epochs, co-training for 1 epoch of every condition at width 8.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from conftest import snakemake

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.integration


def test_dry_run_of_default_config_lists_every_stage():
    if not (REPO.parent / "shared" / "data").exists():
        pytest.skip("../shared/data is absent")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", "--cores", "2", "--quiet", "rules"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rule in ("stimulus_bank", "simulate_scan", "reliability", "encoder", "similarity_target", "cotrain"):
        assert rule in proc.stdout, f"{rule} missing from the default DAG"


def test_the_content_controls_are_conditions_like_the_others(tmp_path):
    """pixel and random_network (similarity.content) as cotrain.conditions: each gets its target from the stimuli
    alone (rule similarity_content, no scan behind it), its trainings and evaluations."""
    from conftest import TINY, snakemake
    from tiny import tiny_config

    tiny_config(tmp_path, run="controls", **{**TINY, "cotrain.conditions": ["none", "pixel", "random_network"]})
    proc = snakemake(tmp_path, "-n", "--forceall", "--quiet", "rules")
    counts = {p[0]: int(p[1]) for p in (line.split() for line in proc.stdout.splitlines())
              if len(p) == 2 and p[1].isdigit()}
    assert counts["similarity_content"] == 2 and counts["cotrain"] >= 3, proc.stdout
    snakemake(tmp_path, "--cores", "2", "results/controls/similarity/pixel.h5",
              "results/controls/similarity/random_network.h5")
    from neuroreg.similarity.matrix import read_similarity

    for name in ("pixel", "random_network"):
        t = read_similarity(tmp_path / f"results/controls/similarity/{name}.h5")
        assert t.attrs["target"] == name and t.similarity.shape[0] == len(t.image_index) >= 2
    assert read_similarity(tmp_path / "results/controls/similarity/random_network.h5").attrs["layer"] == 9


def test_dry_run_of_the_laptop_config_has_every_stage_and_model():
    """config/laptop.yaml (README's first command): 2 scans, 5 conditions x 3 seeds (+ the alpha sweep's own
    runs), noise for every model, attacks on none/shuffle/neural_model, the report's figures, under results/laptop/."""
    if not (REPO.parent / "shared" / "data").exists():
        pytest.skip("../shared/data is absent")
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--forceall", "--cores", "2", "--quiet", "rules",
                           "--configfile", "config/laptop.yaml"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            counts[parts[0]] = int(parts[1])
    cfg = yaml.safe_load((REPO / "config" / "laptop.yaml").read_text())
    seeds, sweep = cfg["cotrain"]["seeds"], cfg["cotrain"]["alpha_sweep"]
    per = {c: cfg["cotrain"].get("condition_seeds", {}).get(c, seeds)
           for c in ("none", "neural_model", "neural_data", "shuffle", "ground_truth")}
    extra = [a for a in sweep["alphas"] if a not in (0, cfg["cotrain"]["alpha"])]
    assert counts["simulate_scan"] == counts["encoder"] == 2
    assert counts["cotrain"] == sum(map(len, per.values())) + len(extra) * len(sweep["seeds"])
    assert counts["noise_robustness"] == counts["cotrain"]
    attacked = ("none", "shuffle", "neural_model")
    assert counts["adversarial_robustness"] == sum(len(per[c]) for c in attacked)
    assert counts["corruption_robustness"] == counts["brain_likeness"] == counts["cotrain"]
    assert counts["corrupt_cifar"] == 1 and counts["verdict"] == 1
    assert min(len(per[c]) for c in attacked) >= 5 and cfg["run"] == "laptop"  # the verdict's conditions


def test_every_stage_made_its_files(pipeline):
    root, cfg = pipeline
    r = root / "results" / cfg["run"]
    for scan in cfg["virtual_v1"]["scans"]:
        assert (r / "scans" / f"{scan}.h5").exists()
        assert (r / "reliability" / f"{scan}.csv").exists()
        for name in ("model.pt", "metrics.json", "predictions.h5"):
            assert (r / "encoders" / scan / name).exists()
    for target in ("neural_model", "neural_data", "shuffle", "ground_truth"):
        with h5py.File(r / "similarity" / f"{target}.h5") as f:
            s = f["similarity"][()]
            assert s.shape == (48, 48) and np.allclose(s, s.T) and np.all(np.diag(s) == 1)
    for cond in ("none", "neural_model", "neural_data", "shuffle", "ground_truth"):
        alpha = 0 if cond == "none" else cfg["cotrain"]["alpha"]
        run = r / "cotrain" / cond / f"alpha{alpha}" / "seed0"
        rows = list(csv.DictReader(open(run / "history.csv")))
        assert len(rows) == 1 and "test_accuracy" in rows[0]
        assert json.loads((run / "metrics.json").read_text())
    for fig in ("fig1a_oracle_similarity", "fig1c_fluctuations", "snr_estimated_vs_true",
                "fig1b_model_similarity", "fig1d_similarity_scatter", "fig2_similar_pairs"):
        assert (r / "figures" / f"{fig}.png").stat().st_size > 1000
        assert (r / "figures" / f"{fig}.pdf").exists()
    assert (r / "tables" / "gamma.csv").exists()
    # CIFAR-10-C: every corruption x severity once, each model evaluated on all of them and on the clean images
    cc = cfg["robustness"]["corruptions"]
    with h5py.File(r / "data" / "cifar10c.h5") as f:
        assert sorted(f) == sorted(cc["names"] + ["labels"]) and f["fog/5"].shape == (len(f["labels"]), 32, 32)
    for cond in ("none", "neural_model"):
        alpha = 0 if cond == "none" else cfg["cotrain"]["alpha"]
        rows = list(csv.DictReader(open(r / "robustness" / cond / f"alpha{alpha}" / "seed0" / "corruptions.csv")))
        assert len(rows) == 1 + len(cc["names"]) * len(cc["severities"]) and rows[0]["corruption"] == "clean"
        brain = list(csv.DictReader(open(r / "robustness" / cond / f"alpha{alpha}" / "seed0" / "brain_likeness.csv")))
        assert {b["reference"] for b in brain} == {"neural_model", "neural_data", "ground_truth"}
        assert all(-1 <= float(b["r"]) <= 1 for b in brain)
    summary = list(csv.DictReader(open(r / "tables" / "corruption_summary.csv")))
    assert {"mean_corruption_accuracy", "relative_robustness", "accuracy_noise"} <= {row["measure"] for row in summary}



def test_the_verdict_its_attacks_and_batchnorm_variants(pipeline):
    """Every attacked model: two attacks per norm, their per-image distances and the winner, the convergence rerun,
    both BatchNorm variants (primary first) with their checks; the verdict table, Fig. 12 and paper_vs_run's holds."""
    import pandas as pd

    root, cfg = pipeline
    r = root / "results" / cfg["run"]
    run = r / "robustness" / "none" / "alpha0" / "seed0"
    images = pd.read_csv(run / "adversarial_images.csv")
    assert list(images["bn"].unique()) == cfg["robustness"]["bn"] == ["cifar", "trained"]
    assert {"distance_ddn", "distance_fmn", "distance_pgd", "at_floor"} <= set(images.columns)
    ok = images["clean_correct"]
    assert (images.loc[~ok, "distance"] == 0).all() and images.loc[ok, "distance"].gt(0).all()
    assert set(images.loc[ok, "best_attack"]) <= {"ddn", "fmn", "pgd", "start"}
    summary = pd.read_csv(run / "adversarial.csv")
    assert {"median", "median_correct", "wins_ddn", "wins_fmn", "ties"} <= set(summary.columns)
    steps = pd.read_csv(run / "adversarial_steps.csv")
    assert set(steps["budget"]) == {1, 2} and "best" in set(steps["attack"])
    checks = json.loads((run / "checks.json").read_text())
    assert set(checks["bn"]) == {"cifar", "trained"}
    for report in checks["bn"].values():
        assert {"unbounded_success", "clean_accuracy", "gradient_masking", "floor", "convergence"} <= set(report)
    assert not checks["bn"]["trained"]["convergence"]["per_norm"]["L2"]["applicable"]  # rerun on the primary only
    noise = pd.read_csv(run / "noise.csv")
    assert list(noise["bn"].unique()) == ["cifar", "trained"]
    verdict = pd.read_csv(r / "tables" / "verdict.csv", keep_default_na=False, na_values=[""])
    assert {"clean_cost", "median_L2", "median_Linf", "gamma_collapse"} <= set(verdict["claim"])
    assert set(verdict["verdict"]) <= {"holds", "does not hold", "inconclusive"}
    assert set(verdict[verdict["primary"]]["bn"].fillna("")) <= {"cifar", ""}
    assert (r / "figures" / "fig12_verdict.png").stat().st_size > 1000
    pv = pd.read_csv(r / "tables" / "paper_vs_run.csv", keep_default_na=False)
    assert set(pv["holds"]) - {""} <= {"holds", "does not hold", "inconclusive"}


def test_cifar100_runs_and_fig4b(pipeline):
    """data.cifar100 set: ResNet34 runs on 100 classes per cifar100.conditions x seeds, their noise curves, Fig. 4B."""
    root, cfg = pipeline
    r = root / "results" / cfg["run"]
    for cond in cfg["cifar100"]["conditions"]:
        alpha = 0 if cond == "none" else cfg["cotrain"]["alpha"]
        for seed in cfg["cifar100"]["seeds"]:
            run = r / "cifar100" / "cotrain" / cond / f"alpha{alpha}" / f"seed{seed}"
            m = json.loads((run / "metrics.json").read_text())
            assert m["model"]["arch"] == "resnet34" and m["model"]["num_classes"] == 100
            assert m["model"]["layers"] == [1, 7, 15, 27, 33]
            noise = list(csv.DictReader(open(r / "cifar100" / "robustness" / cond / f"alpha{alpha}" / f"seed{seed}" / "noise.csv")))
            assert [row["bn"] for row in noise] == [v for v in cfg["robustness"]["bn"] for _ in cfg["robustness"]["noise_levels"]]
            assert [float(row["level"]) for row in noise] == cfg["robustness"]["noise_levels"] * len(cfg["robustness"]["bn"])
            assert all(int(row["n_images"]) == 50 for row in noise)  # robustness.n_noise of the 100 test images
    assert not (r / "cifar100" / "cotrain" / "shuffle").exists()  # only cifar100.conditions
    assert (r / "figures" / "fig4b_noise_robustness_cifar100.png").stat().st_size > 1000
    assert (r / "figures" / "fig4b_noise_robustness_cifar100.pdf").exists()

def test_nothing_left_to_do_and_no_temp_files(pipeline):
    root, _ = pipeline
    proc = snakemake(root, "-n")
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert not [p for p in (root / "results").rglob(".*.tmp-*")]


def test_same_config_same_result(pipeline, tmp_path):
    """Determinism: a second run from scratch gives bit-identical scans and similarity targets."""
    root, _ = pipeline
    cfg = yaml.safe_load((root / "config.yaml").read_text())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(tmp_path, f"results/{cfg['run']}/similarity/neural_model.h5")
    for rel, key in (("scans/v1_a1_s1.h5", "responses"), ("similarity/neural_model.h5", "similarity")):
        with h5py.File(root / "results" / cfg["run"] / rel) as a, h5py.File(tmp_path / "results" / cfg["run"] / rel) as b:
            np.testing.assert_array_equal(a[key][()], b[key][()])


def test_bad_config_value_is_refused(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["stimuli"]["repeats"] = 1
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "-n", check=False, timeout=120)
    assert proc.returncode != 0
    assert "repeats" in proc.stdout + proc.stderr


def test_wrong_data_path_is_named(tmp_path):
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    cfg["data"]["photos"] = str(tmp_path / "no_such_photos.zip")
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    proc = snakemake(tmp_path, "-n", check=False, timeout=120)
    assert proc.returncode != 0
    assert "data.photos" in proc.stdout + proc.stderr and "no_such_photos.zip" in proc.stdout + proc.stderr


def _planned_jobs(root: Path, overlay: dict, tmp_path: Path) -> dict:
    """{rule: count} of what `snakemake -n` would run in the completed tiny pipeline with ``overlay`` merged over
    its config (the params-changed rerun trigger included, as by default)."""
    cfg = yaml.safe_load((root / "config.yaml").read_text())
    for section, values in overlay.items():
        for key, value in values.items():
            if isinstance(value, dict) and key != "scans":
                cfg[section][key].update(value)
            elif key == "scans":
                cfg[section][key] = {**cfg[section][key], **value}
            else:
                cfg[section][key] = value
    path = tmp_path / "changed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(root), "--cores", "2",
           "-n", "--quiet", "rules", "--configfile", str(path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=dict(os.environ, PYTHONHASHSEED="0"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    counts = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "job"):
            counts[parts[0]] = int(parts[1])
    return counts


def test_a_new_seed_condition_or_scan_reruns_only_the_new_jobs(pipeline, tmp_path):
    """Params hold only what changes a job's output: growing the grid adds jobs and reruns the summaries over
    them (figures, tables), never an existing training, scan or encoder."""
    root, cfg = pipeline
    conditions = cfg["cotrain"]["conditions"]
    attacked = [c for c in conditions if c in cfg["robustness"]["adversarial_conditions"]]
    new_seed = _planned_jobs(root, {"cotrain": {"seeds": [0, 1]}}, tmp_path)
    assert new_seed.get("cotrain") == len(conditions)  # one new model per condition, none retrained
    assert new_seed.get("noise_robustness") == len(conditions)
    assert new_seed.get("adversarial_robustness") == len(attacked)
    assert not {"encoder", "simulate_scan", "similarity_target", "gamma_table", "fig6_alpha_sweep"} & set(new_seed)

    new_attacked = _planned_jobs(root, {"robustness": {"adversarial_conditions": attacked + ["neural_data"]}}, tmp_path)
    assert new_attacked.get("adversarial_robustness") == 1 and "cotrain" not in new_attacked
    assert "noise_robustness" not in new_attacked

    new_alpha = _planned_jobs(root, {"cotrain": {"alpha_sweep": {"alphas": [0, 4, 8]}}}, tmp_path)
    assert new_alpha.get("cotrain") == 1 and new_alpha.get("noise_robustness") == 1

    new_scan = _planned_jobs(root, {"virtual_v1": {"scans": {"v1_a3_s1": {"animal": 3, "session": 1}}}}, tmp_path)
    for rule in ("simulate_scan", "reliability", "encoder", "similarity_oracle"):
        assert new_scan.get(rule) == 1, (rule, new_scan)  # the new scan's only; the others stay
    assert "stimulus_bank" not in new_scan and "prepare_cifar" not in new_scan
