"""Issue 12: runs that do not overwrite each other, logs that hold the error, a run that says what it will cost.

Each point of the issue, one or two tests: a results folder per run (two configs one after the other),
the failing job's log, config errors that name their file, a target after --configfile, the plan,
progress lines, the no-signal check, a quiet terminal and Ctrl-C. The integration tests reuse the tiny
pipeline of conftest.py or run a few-second DAG of their own.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import yaml

from conftest import REPO, TINY, make_scan
from neuroreg import config as C
from neuroreg import plan as P
from neuroreg.files import InputError
from neuroreg.progress import Progress, duration
from neuroreg.reliability.checks import MIN_MEDIAN_ORACLE_CORRELATION, signal_check
from tiny import tiny_config


def run_snakemake(cwd: Path, *args: str, timeout: int = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    """snakemake with the repository's Snakefile (and so its default profile) in ``cwd``; not checked."""
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    env = dict(os.environ, PYTHONHASHSEED="0", NEUROREG_NO_MEASURE="1", **(env or {}))
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


def digest(path: Path) -> tuple[int, str]:
    return path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


def minimal_overlay(tmp_path: Path, name: str, **sections) -> Path:
    """An overlay whose data paths exist (checked when the Snakefile is read), plus ``sections``."""
    (tmp_path / "photos.zip").touch()
    body = {"data": {"photos": str(tmp_path / "photos.zip"), "cifar10": str(tmp_path)}, **sections}
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body))
    return path


# ---------------------------------------------------------------- a results folder per run
def test_run_name_is_the_config_key_else_the_overlay_file(tmp_path):
    (tmp_path / "my").mkdir()
    (tmp_path / "my" / "other.yaml").write_text("encoder: {max_epochs: 3}\n")
    (tmp_path / "named.yaml").write_text("run: mine\n")
    assert C.load()["run"] == "default"
    assert C.load([REPO / "config/quick.yaml"])["run"] == "quick"
    assert C.load([REPO / "config/antolik2016.yaml"])["run"] == "antolik2016"
    assert C.load([tmp_path / "my" / "other.yaml"])["run"] == "other"  # a new config never writes into another's
    assert C.load([tmp_path / "named.yaml", tmp_path / "my" / "other.yaml"])["run"] == "mine"
    assert C.load(overrides={"run": "cli"})["run"] == "cli"
    (tmp_path / "bad.yaml").write_text("run: ../escape\n")
    with pytest.raises(InputError, match="bad.yaml: run: .*one folder name"):
        C.load([tmp_path / "bad.yaml"])


@pytest.mark.integration
def test_two_configs_one_after_the_other_leave_both_runs_intact(pipeline, tmp_path):
    """The tiny run, then another config (other stimuli, stages 1-2) in the same folder: the first run's files
    are untouched, the second has its own, and switching back re-runs nothing (no provenance-triggered job)."""
    root, cfg = pipeline
    first = root / "results" / cfg["run"]
    watched = [first / "data/stimuli.h5", first / "reliability/fluctuations.h5", first / "reliability/oracle_order.csv",
               first / "figures/fig1a_oracle_similarity.png", first / "figures/fig1c_fluctuations.png",
               first / "scans/v1_a1_s1.h5", first / "tables/paper_vs_run.csv"]
    before = {p: digest(p) for p in watched}
    other = yaml.safe_load((root / "config.yaml").read_text())
    other.update(run="other", stages=["data", "reliability"])
    other["stimuli"] = {**other["stimuli"], "n_images": 40, "n_oracle": 6}
    (root / "other.yaml").write_text(yaml.safe_dump(other))
    proc = run_snakemake(root, "--cores", "2", "--configfile", "other.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    second = root / "results" / "other"
    assert (second / "reliability/fluctuations.h5").exists() and (second / "figures/fig1a_oracle_similarity.png").exists()
    assert (second / "logs/reliability/v1_a1_s1.log").exists() and (second / "report/summary.rst").exists()
    assert {p: digest(p) for p in watched} == before
    back = run_snakemake(root, "-n", "--cores", "2", "--configfile", "config.yaml")
    assert back.returncode == 0, back.stderr[-3000:]
    assert "Nothing to be done" in back.stdout + back.stderr
    assert "provenance" not in back.stdout + back.stderr


# ---------------------------------------------------------------- the log holds the error
@pytest.mark.integration
def test_a_failing_job_writes_its_error_to_its_log_message_first(tmp_path):
    (tmp_path / "corrupt.h5").write_text("not an HDF5 file\n")
    overlay = minimal_overlay(tmp_path, "bad.yaml", run="bad", stages=["data"], virtual_v1={"scans": {}},
                              recordings={"my_mouse": {"source": "static_h5", "path": "corrupt.h5"}})
    proc = run_snakemake(tmp_path, "--cores", "1", "results/bad/scans/my_mouse.h5", "--configfile", overlay.name)
    assert proc.returncode != 0
    log = (tmp_path / "results/bad/logs/scans/my_mouse.log").read_text()
    first = log.splitlines()[0]
    assert "neuroreg.files.InputError: corrupt.h5: not a readable HDF5 file" in first, log
    assert log.index("Traceback (most recent call last)") > log.index("not a readable HDF5 file")
    terminal = proc.stdout + proc.stderr
    assert "not a readable HDF5 file" in terminal and "(traceback in results/bad/logs/scans/my_mouse.log)" in terminal
    assert "Traceback (most recent call last)" not in terminal  # the traceback is in the log, once
    assert "message: None" not in terminal and "Shell command: None" not in terminal
    assert not (tmp_path / "results/bad/scans/my_mouse.h5").exists()


def test_the_job_wrapper_logs_message_then_traceback_and_reraises_outside_snakemake(tmp_path):
    from neuroreg.logs import job

    @job
    def failing(smk):
        raise ValueError("data/x.h5: responses: 3 NaN values")

    log = tmp_path / "x.log"
    with pytest.raises(ValueError, match="3 NaN"):
        failing(SimpleNamespace(log=[str(log)], rule="r", wildcards={}))
    lines = log.read_text().splitlines()
    assert lines[0].endswith("ERROR neuroreg: ValueError: data/x.h5: responses: 3 NaN values")
    assert "Traceback (most recent call last)" in lines[2] and "(traceback in" not in log.read_text()


# ---------------------------------------------------------------- config errors name their file
def test_config_errors_name_the_file_the_value_came_from(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    layers = C.Layers.from_files([minimal_overlay(tmp_path, "my/other.yaml", encoder={"max_epochs": 0})])
    with pytest.raises(InputError, match=r"^my/other.yaml: encoder.max_epochs: 0 is less than the minimum of 1"):
        layers.load()
    assert layers.origin("encoder.max_epochs") == "my/other.yaml"
    assert layers.origin("encoder.hidden_channels") == "config.yaml"
    assert layers.origin("encoder.tolerance") == "config.yaml"
    assert layers.origin("cotrain.n_train") == "config.yaml" and layers.origin("no.such") == C.SCHEMA_DEFAULT


@pytest.mark.integration
def test_snakemake_names_the_overlay_for_a_wrong_data_path(tmp_path):
    """The issue's case: the error used to say config.yaml whatever file the value came from."""
    overlay = minimal_overlay(tmp_path, "my/other.yaml")
    body = yaml.safe_load(overlay.read_text())
    body["data"]["photos"] = "no_such_photos.zip"
    overlay.write_text(yaml.safe_dump(body))
    proc = run_snakemake(tmp_path, "-n", "--configfile", "my/other.yaml", timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "my/other.yaml: data.photos: path does not exist: no_such_photos.zip" in out, out
    assert len(out.strip().splitlines()) < 12  # the message, where it was raised; no schema, no long traceback


def test_a_typo_names_its_file_and_the_key_it_meant_without_the_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    overlay = minimal_overlay(tmp_path, "my/other.yaml", encoder={"hidden_chanels": 8})
    with pytest.raises(InputError) as err:
        C.load([overlay.relative_to(tmp_path)])
    assert str(err.value).startswith("my/other.yaml: encoder.hidden_chanels: unknown key; did you mean 'hidden_channels'?")
    assert len(str(err.value)) < 200


# ---------------------------------------------------------------- a target after --configfile
@pytest.mark.integration
def test_a_target_after_configfile_gets_one_sentence(tmp_path):
    overlay = minimal_overlay(tmp_path, "quick.yaml")
    target = "results/quick/reliability/v1_a1_s1.h5"
    proc = run_snakemake(tmp_path, "-n", "--configfile", overlay.name, target, timeout=120)
    out = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode != 0
    said = [line for line in out if "came after --configfile" in line]
    assert len(said) == 1, out
    assert f"snakemake -s {REPO / 'Snakefile'} -n {target} --configfile quick.yaml" in said[0]
    assert not [line for line in out if "Traceback" in line or "Error" in line], out


def test_the_sentence_for_any_misplaced_word_and_none_for_a_right_command(tmp_path, monkeypatch):
    from snakemake_logger_plugin_neuroreg import misplaced_sentence

    monkeypatch.chdir(tmp_path)
    said = misplaced_sentence(["snakemake", "--cores", "2", "--configfile", "a.yaml", "README.md", "b.yml", "-n"])
    assert said.startswith("README.md came after --configfile") and said.endswith(
        "snakemake --cores 2 README.md --configfile a.yaml b.yml -n")
    assert misplaced_sentence(["snakemake", "results/x/a.h5", "--configfile", "a.yaml", "b.json"]) == ""
    assert misplaced_sentence(["snakemake", "--configfile=a.yaml", "results/x/a.h5"]) == ""


def test_a_results_path_given_as_configfile_is_named_as_a_target(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results/x").mkdir(parents=True)
    (tmp_path / "results/x/metrics.json").write_text("{}")  # a JSON output would load as a config
    with pytest.raises(InputError, match="results path: was it meant as a target"):
        C.Layers.from_files(["results/x/metrics.json"])
    assert C.misplaced_target("config/quick.yaml") is None and C.misplaced_target("results/quick/a.h5")


# ---------------------------------------------------------------- the plan
@pytest.mark.integration
def test_plan_of_the_tiny_config_measures_and_runs_nothing(tmp_path):
    tiny_config(tmp_path, run="planned", **TINY)
    env = dict(os.environ)
    env.pop("NEUROREG_NO_MEASURE", None)
    proc = subprocess.run([sys.executable, "-m", "neuroreg.plan", "--configfile", "config.yaml", "--cores", "2"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "neuroreg plan of run 'planned' (everything under results/planned/)" in out
    for stage in ("data", "reliability", "encoder", "similarity", "cotrain", "robustness", "figures"):
        assert f"\n  {stage} " in out, out
    assert out.count("cpu (no GPU visible)") == 3 or "cuda:" in out
    assert "estimated wall time of the GPU stages:" in out and "WARNING" not in out  # tiny: minutes, no warning
    assert not (tmp_path / "results/planned/data").exists()  # nothing ran


def test_plan_warns_once_without_a_gpu_at_gpu_scale_and_names_the_laptop_config():
    jobs = [P.Job("cotrain", "cotrain", {"target": "none", "alpha": "0", "seed": "0"}, 4, 1)]
    plan = P.Plan("default", "results/default", jobs, seconds={"cotrain": 40 * 3600.0}, gpu_visible=False)
    warning = plan.warning()
    assert "no GPU visible" in warning and "40 h" in warning and P.LAPTOP_CONFIG in warning
    assert "snakemake --cores 2 --configfile config/laptop.yaml" in warning
    assert P.Plan("default", "r", jobs, seconds={"cotrain": 40 * 3600.0}, gpu_visible=True).warning() == ""
    assert P.Plan("quick", "r", jobs, seconds={"cotrain": 600.0}, gpu_visible=False).warning() == ""


def test_job_time_is_steps_times_measured_step_cost(tmp_path, monkeypatch):
    """Co-training: epochs x (ceil(n_train / batch) steps + n_test forward passes); encoder: max_epochs x steps."""
    monkeypatch.chdir(tmp_path)  # no results/ here: sizes from the config
    cfg = C.load(overrides={"cotrain": {"epochs": 3, "batch_size": 32, "n_train": 100, "n_test": 50},
                            "stimuli": {"n_images": 200}, "encoder": {"max_epochs": 4, "batch_size": 30}})
    costs = {"cotrain": 0.5, "forward": 0.01, "encoder": 0.2}
    seconds = lambda spec: costs[spec["kind"]]  # noqa: E731
    job = P.Job("cotrain", "cotrain", {"target": "neural_model", "alpha": "20", "seed": "0"}, 2)
    assert P.job_seconds(job, cfg, seconds, 2) == pytest.approx(3 * (4 * 0.5 + 50 * 0.01))
    enc = P.Job("encoder", "encoder", {"scan": "v1_a1_s1"}, 2)
    assert P.job_seconds(enc, cfg, seconds, 2) == pytest.approx(4 * 6 * 0.2)  # 180 training trials / 30


def test_attack_time_prices_each_search_precision_and_each_variants_attacks():
    """An adversarial job: per BatchNorm variant its attacks (the second: secondary_attacks, no convergence rerun),
    each at its search precision's measured cost."""
    r = {"bn": ["cifar", "trained"], "norms": ["L2"], "attacks": {"L2": ["ddn", "fmn"]}, "steps": 10,
         "secondary_attacks": {"L2": ["fmn"]}, "precision": "bf16", "n_adversarial": 100, "start_directions": 5,
         "hyperparameters": {"fmn": {"L2": {"max_stepsize": [1.0], "precision": ["fp32"]}}},
         "convergence": {"n_images": 10, "factor": 2, "tolerance": 0.05}}
    cfg = C.load(overrides={"robustness": r})
    fb, forward = P.attack_passes(cfg)
    # primary: DDN (bf16) and FMN (fp32) 10 steps x (1 + 10 % of the images at 2 x); the second variant: FMN, 10
    assert fb == pytest.approx({"bf16": 12.0, "fp32": 22.0}) and forward == 20
    job = P.Job("adversarial_robustness", "robustness", {"condition": "none", "alpha": "0", "seed": "0"}, 1)
    costs = {"bf16": 0.001, "fp32": 0.002}
    seconds = lambda spec: costs.get(spec.get("precision"), 0.0001)  # noqa: E731
    assert P.job_seconds(job, cfg, seconds, 1) == pytest.approx(100 * (12 * 0.001 + 22 * 0.002 + 20 * 0.0001))


# ---------------------------------------------------------------- progress lines
def test_progress_lines_come_at_a_bounded_interval_with_rate_and_eta(caplog):
    now = [0.0]
    p = Progress("co-training", 1000, clock=lambda: now[0])
    logged = []
    with caplog.at_level("INFO", logger="neuroreg.progress"):
        for i in range(1000):
            now[0] += 1.0  # one step a second
            if p.update(note=f"step {i + 1}"):
                logged.append(now[0])
    gaps = np.diff([0.0] + logged)
    assert len(logged) >= 9 and gaps.max() <= p.max_s and gaps[:-1].min() >= p.every_s
    first = caplog.records[0].getMessage()
    assert "co-training step" in first and "(10 %)" in first and "1 steps/s" in first and "ETA 15 min" in first
    assert caplog.records[-1].getMessage().endswith("done")
    quick = Progress("short", 10, clock=lambda: now[0])
    assert not any(quick.update() for _ in range(10))  # under 30 s: silent
    assert duration(45) == "45 s" and duration(7260) == "2 h 1 min" and duration(3 * 86400) == "3.0 days"


# ---------------------------------------------------------------- a scan without signal
def pure_noise_scan(n_neurons=60, seed=3):
    """Responses that do not depend on the image at all (20 oracle images x 5 repeats)."""
    return make_scan(n_once=40, n_oracle=20, repeats=5, n_neurons=n_neurons, seed=seed)


def test_signal_check_flags_pure_noise_and_passes_a_scan_with_signal():
    from neuroreg.reliability.results import scan_reliability

    noise = scan_reliability(pure_noise_scan())
    bad = signal_check("my_mouse", noise["oracle_correlation"])
    assert not bad["passed"] and abs(bad["value"]) < MIN_MEDIAN_ORACLE_CORRELATION
    assert "scan my_mouse" in bad["message"] and "no stimulus signal" in bad["message"]
    scan = pure_noise_scan()
    rng = np.random.default_rng(0)
    tuning = rng.gamma(2.0, 1.0, (scan.images.shape[0], scan.responses.shape[1]))  # SNR ~ 1: real-ish V1
    scan.responses = (scan.responses + tuning[scan.trial_image]).astype(np.float32)
    good = signal_check("v1", scan_reliability(scan)["oracle_correlation"])
    assert good["passed"] and good["value"] > 0.2 and good["message"] == ""


def test_a_noise_scan_is_warned_about_in_its_log_and_on_the_reports_first_page(tmp_path):
    from neuroreg.figures.jobs import run_summary
    from neuroreg.ingest.scan import write_scan
    from neuroreg.reliability.jobs import reliability

    write_scan(pure_noise_scan(), tmp_path / "noise.h5")
    log = tmp_path / "reliability.log"
    reliability(SimpleNamespace(input=SimpleNamespace(scan=str(tmp_path / "noise.h5")),
                                output=SimpleNamespace(h5=str(tmp_path / "r.h5"), csv=str(tmp_path / "r.csv")),
                                params=SimpleNamespace(min_repeats=2), wildcards=SimpleNamespace(scan="my_mouse"),
                                log=[str(log)]))
    assert "WARNING" in log.read_text() and "scan my_mouse: its neurons carry no stimulus signal" in log.read_text()
    (tmp_path / "workflow.rst").write_text("The description.\n")
    class Named(dict):  # like Snakemake's named input lists: .get() and attributes
        __getattr__ = dict.__getitem__

    run_summary(SimpleNamespace(input=Named(reliability=[str(tmp_path / "r.csv")], description=str(tmp_path / "workflow.rst")),
                                output=[str(tmp_path / "summary.rst")], params=SimpleNamespace(run="mine", scans=["my_mouse"]),
                                log=[str(tmp_path / "summary.log")]))
    page = (tmp_path / "summary.rst").read_text()
    assert page.startswith("Run mine: summary") and "**1 of 1 sanity checks FAILED**" in page
    assert "scan my_mouse: scan my_mouse: its neurons carry no stimulus signal" in page
    from docutils.core import publish_parts

    html = publish_parts(page.replace("{% raw %}", "").replace("{% endraw %}", ""), writer="html")["html_body"]
    assert "FAILED" in html and "System Message" not in html  # valid reStructuredText


# ---------------------------------------------------------------- quiet by default
@pytest.mark.integration
def test_the_tiny_run_prints_its_plan_once_and_no_noise(pipeline):
    root, cfg = pipeline
    out = (root / "snakemake_output.txt").read_text()
    assert out.count("neuroreg plan of run 'tiny'") == 1
    for noise in ("Shell command: None", "message: None", "Traceback", "RuntimeWarning", "no GPU"):
        assert noise not in out, noise
    assert "The report: snakemake --report results/tiny/report.html --configfile" in out
    assert not re.search(r"INFO neuroreg", out)  # a job's INFO lines stay in its log ...
    progress = [line for line in out.splitlines() if "] INFO: " in line]
    assert all(re.search(r"\(\d+ %\)", line) for line in progress), progress[:5]  # ... but for progress lines


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_ctrl_c_ends_with_one_line_saying_what_was_kept(tmp_path):
    tiny_config(tmp_path, run="stopped", **{"cotrain.epochs": 500, "cotrain.width": 8})
    target = "results/stopped/cotrain/none/alpha0/seed0/metrics.json"
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "2", target,
           "--configfile", "config.yaml"]
    env = dict(os.environ, NEUROREG_NO_MEASURE="1")
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    log = tmp_path / "results/stopped/logs/cotrain/none/alpha0/seed0.log"
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline and "epoch=" not in (log.read_text() if log.exists() else ""):
        time.sleep(1)  # until the training job has finished an epoch
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal signals the whole process group
    out, _ = proc.communicate(timeout=90)
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines[-1].startswith("Stopped (Ctrl-C):") and "results/stopped/" in lines[-1], lines[-10:]
    assert "run the same command again to resume" in lines[-1]
    assert "Traceback" not in out and "KeyboardInterrupt" not in out
    assert "interrupted (Ctrl-C)" in log.read_text()
    assert (tmp_path / "results/stopped/data/cifar10.h5").exists()  # finished outputs kept
    assert not (tmp_path / target).exists()
    assert (tmp_path / "results/stopped/cotrain/none/alpha0/seed0/checkpoint.pt").exists()  # resumable


def test_report_first_page_is_the_summary_when_the_run_made_it(tmp_path):
    from neuroreg.figures.summary import DESCRIPTION, report_page

    assert report_page(str(tmp_path / "results/x")) == str(DESCRIPTION)
    (tmp_path / "results/x/report").mkdir(parents=True)
    (tmp_path / "results/x/report/summary.rst").write_text("Run x\n")
    assert report_page(str(tmp_path / "results/x")) == str(tmp_path / "results/x/report/summary.rst")
