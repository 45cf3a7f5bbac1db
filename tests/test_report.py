"""Integration: `snakemake --report` on the tiny completed pipeline gives one self-contained HTML holding every figure.

Reuses the session-scoped `pipeline` fixture of conftest.py (the tiny config run end to end once).
"""

from __future__ import annotations

import re

import pytest

from conftest import snakemake

pytestmark = pytest.mark.integration

# Every figure the report must show: report() outputs of figures.smk and of the earlier stages.
REPORT_FIGURES = [
    "fig1a_oracle_similarity.png", "fig1b_model_similarity.png", "fig1c_fluctuations.png",
    "fig1d_similarity_scatter.png", "fig2_similar_pairs.png", "snr_estimated_vs_true.png",
    "fig4a_noise_robustness.png", "fig4b_noise_robustness_cifar100.png", "fig5_adversarial_steps.png", "fig6_alpha_sweep.png",
    "fig7_adversarial_norms.png", "table1_gamma.png", "paper_vs_run.csv", "fig8_corruptions.png",
    "fig9_relative_robustness.png", "fig10_brain_likeness.png", "corruption_summary.csv",
]


@pytest.fixture(scope="module")
def report(pipeline):
    root, cfg = pipeline
    out = root / "results" / cfg["run"] / "report.html"
    snakemake(root, "--report", str(out))
    return out.read_text(errors="replace")


def test_report_is_one_self_contained_html(report):
    assert report.lstrip().lower().startswith("<!doctype html") or "<html" in report[:2000].lower()
    # no resource fetched from the network: scripts and styles are inline
    assert not re.search(r"<(script|link)[^>]+(src|href)=\"https?://", report)


@pytest.mark.parametrize("name", REPORT_FIGURES)
def test_report_holds_every_figure(report, name, pipeline):  # noqa: F811
    root, cfg = pipeline
    kind = "tables" if name.endswith(".csv") else "figures"
    assert (root / "results" / cfg["run"] / kind / name).exists(), f"{name} was not made"
    assert name in report, f"{name} is not in the report (is it a report() output with a caption?)"


def test_every_made_figure_is_in_the_report(report, pipeline):  # noqa: F811
    root, cfg = pipeline
    made = sorted(p.name for p in (root / "results" / cfg["run"] / "figures").glob("*.png"))
    assert made and not [m for m in made if m not in report]


def test_report_opens_on_the_runs_summary(report, pipeline):  # noqa: F811
    """The first page (the workflow description panel) is the run's summary: the checks' outcome, the verdict, the
    table of checks, then the paper vs the run."""
    import re

    _, cfg = pipeline
    first = report[report.index('id="workflow-desc"'):][:200000]
    assert f"Run {cfg['run']}: summary" in first and re.search(r"sanity checks (passed|FAILED)", first)
    assert (first.index("sanity checks") < first.index("The verdict") < first.index("Sanity checks")
            < first.index("Paper vs this run") < first.index("Description"))


def test_captions_name_the_runs_folder():
    """A caption that cites a file names it under results/<run>/, where the run wrote it (not results/...)."""
    import jinja2
    import yaml

    from conftest import REPO

    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["run"] = "tiny"
    cited = 0
    for rst in sorted((REPO / "workflow/report").glob("*.rst")):
        text = jinja2.Template(rst.read_text()).render(snakemake={"config": config})
        for m in re.finditer(r"(?<![\w/<.])results/\S+", text):
            assert m.group(0).startswith("results/tiny/"), f"{rst.name}: {m.group(0)}"
            cited += 1
    assert cited >= 10


def test_report_captions_cite_the_runs_folder(report, pipeline):  # noqa: F811
    root, cfg = pipeline
    assert f"results/{cfg['run']}/robustness/" in report and "results/robustness/" not in report
