"""What the rules of stage 7 (``workflow/rules/figures.smk``) run, one function per rule.

Each takes the rule's ``snakemake`` object; run one by hand by asking Snakemake for its output,
e.g. ``snakemake --cores 1 results/default/figures/fig6_alpha_sweep.png --forcerun fig6_alpha_sweep``.
"""

from __future__ import annotations

import json

import logging
from pathlib import Path

import pandas as pd

from ..ingest.cifar import load_cifar_h5
from ..files import atomic_output
from ..logs import job
from .paper_vs_run import paper_vs_run as paper_table
from .paper_vs_run import primary_checks, read_checks
from .robustness import (noisy_examples, plot_adversarial_norms, plot_adversarial_steps, plot_alpha_sweep,
                         plot_gamma_table, plot_noise_robustness)
from .runs import mean_sem, read_runs

log = logging.getLogger(__name__)


@job
def fig4_noise_robustness(smk) -> None:
    """Fig. 4A (and 4B): accuracy vs Gaussian noise level per condition, mean +- SEM over seeds, noisy examples below."""
    noise = read_runs(smk.input.noise)
    summary = mean_sem(noise, ["condition", "level"], "accuracy")
    log.info("accuracy (mean, sem over seeds):\n%s", summary.to_string(index=False))
    levels = sorted(noise["level"].unique())
    noise_seed = int(noise["noise_seed"].iloc[0])
    n_images = int(noise["n_images"].iloc[0])  # the first n_images test images were evaluated
    k = min(int(smk.params.example_image), n_images - 1)
    images = load_cifar_h5(smk.input.cifar, splits=("test",), n_test=n_images)["test_images"]
    examples = noisy_examples(images, levels, noise_seed, index=k)
    plot_noise_robustness(summary, smk.output.png, examples=examples, title=smk.params.title, chance=smk.params.chance)


@job
def fig5_adversarial_steps(smk) -> None:
    """Fig. 5: median minimal L2 and Linf perturbation vs attack steps per condition (mean +- SEM over seeds)."""
    steps = read_runs(smk.input.steps)
    log.info("median perturbation vs steps (convergence images):\n%s",
             mean_sem(steps, ["norm", "attack", "condition", "steps"] if "attack" in steps else
                      ["norm", "condition", "steps"], "median").to_string(index=False))
    plot_adversarial_steps(steps[steps["attack"] == "best"] if "attack" in steps else steps, smk.output.png,
                           checks=primary_checks(read_checks(smk.input.checks)),
                           max_floor_fraction=smk.config["robustness"]["masking_max_fraction"])


@job
def fig6_alpha_sweep(smk) -> None:
    """Fig. 6 (supplement): accuracy vs noise for each alpha of the sweep, mean +- SEM over the sweep's seeds."""
    summary = mean_sem(read_runs(smk.input.noise), ["alpha", "level"], "accuracy")
    log.info("accuracy per alpha (mean, sem over seeds):\n%s", summary.to_string(index=False))
    plot_alpha_sweep(summary, smk.output.png)


@job
def fig7_adversarial_norms(smk) -> None:
    """Fig. 7 (supplement): median minimal L0, L1, L2, Linf perturbation per condition over the correctly classified
    images (the paper's median, misclassified = 0, marked); bars = mean, dots = seeds."""
    adv = read_runs(smk.input.adversarial)
    value = "median_correct" if "median_correct" in adv else "median"
    log.info("%s per norm:\n%s", value, mean_sem(adv, ["norm", "condition"], value).to_string(index=False))
    plot_adversarial_norms(adv, smk.output.png, checks=primary_checks(read_checks(smk.input.checks)))


@job
def table1_gamma(smk) -> None:
    """Table 1 (supplement) as a figure: final gamma_k per layer, mean over seeds, per alpha (results/tables/gamma.csv)."""
    gamma = pd.read_csv(smk.input.gamma)
    log.info("gamma:\n%s", gamma.to_string(index=False))
    plot_gamma_table(gamma, smk.output.png)


@job
def run_summary(smk) -> None:
    """The report's first page (results/<run>/report/summary.rst): every sanity check, the paper beside the run."""
    from ..reliability.checks import signal_check
    from .summary import checks_table, summary_rst

    signal = [signal_check(scan, pd.read_csv(path)["oracle_correlation"].to_numpy())
              for scan, path in zip(smk.params.scans, smk.input.get("reliability", []))]
    attacks = read_checks(smk.input.checks) if smk.input.get("checks") else None
    paper_table_csv = pd.read_csv(smk.input.paper_vs_run) if smk.input.get("paper_vs_run") else None
    verdict = pd.read_csv(smk.input.verdict, keep_default_na=False, na_values=[""]) if smk.input.get("verdict") else None
    table = checks_table(signal, attacks)
    text = summary_rst(smk.params.run, table, paper_table_csv, Path(smk.input.description).read_text(), verdict=verdict)
    with atomic_output(smk.output[0]) as tmp:
        tmp.write_text(text)
    for row in table.itertuples():
        (log.warning if row.result != "passed" else log.info)("%s, %s: %s %s %s", row.check, row.scope, row.result,
                                                              row.value, row.detail)


@job
def paper_vs_run(smk) -> None:
    """results/tables/paper_vs_run.csv: the paper's numbers (section 4.1, 4.2, Fig. 1D) beside this run's,
    and the sanity checks of the attacked models beside their adversarial numbers."""
    noise = read_runs(smk.input.noise) if smk.input.noise else None
    adv = read_runs(smk.input.adversarial) if smk.input.adversarial else None
    checks = read_checks(smk.input.checks) if smk.input.checks else None
    verdict = pd.read_csv(smk.input.verdict, keep_default_na=False, na_values=[""])
    table = paper_table(noise, adv, pd.read_csv(smk.input.correlations), checks=checks, verdict=verdict)
    with atomic_output(smk.output[0]) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5g")
    log.info("\n%s", table.to_string(index=False))


def final_gamma(metrics_paths) -> pd.DataFrame | None:
    """The final gamma of co-trained runs with alpha > 0 (their metrics.json): columns seed, gamma_{k}."""
    metrics = [json.loads(Path(p).read_text()) for p in metrics_paths]
    rows = [{"seed": m["seed"], **m["gamma"]} for m in metrics if m["alpha"] > 0]
    return pd.DataFrame(rows) if rows else None


def _control_names(controls, blur_selection) -> tuple:
    """The controls with "blur" replaced by the condition of the blur rule blur_selection chose."""
    from ..cotrain.blur import selected_sigma
    from .controls import blur_condition

    sigma = selected_sigma(blur_selection[0]) if blur_selection else None
    return tuple(blur_condition(sigma) if c == "blur" else c for c in controls if c != "blur" or sigma is not None)


@job
def controls(smk) -> None:
    """tables/controls.csv: each brain-data condition over the strongest of its controls (neuroreg.figures.controls)."""
    from .controls import control_gains

    tests = {t: _control_names(c, smk.input.blur_selection) for t, c in smk.params.tests.items()}
    noise = read_runs(smk.input.noise)
    corr = read_runs(smk.input.corruptions) if smk.input.corruptions else None
    images = read_runs(smk.input.images) if smk.input.images else None
    table = control_gains(noise, corr, images, tests=tests, n_boot=smk.params.n_boot, seed=smk.params.seed)
    with atomic_output(smk.output.table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5g")
    with pd.option_context("display.width", 250, "display.max_columns", 20, "display.max_colwidth", 200):
        log.info("gain over the strongest control:\n%s", table.to_string(index=False))


@job
def verdict(smk) -> None:
    """tables/verdict.csv and Fig. 12: each of the paper's claims, its effect over none and shuffle with a 95 %
    interval, per BatchNorm variant, and one word (neuroreg.figures.verdict)."""
    from .verdict import plot_verdict, verdict_table

    noise = read_runs(smk.input.noise, bn="all")
    images = read_runs(smk.input.images, bn="all") if smk.input.images else None
    checks = read_checks(smk.input.checks) if smk.input.checks else None
    table = verdict_table(noise, images, final_gamma(smk.input.metrics), checks, bn_variants=smk.params.bn,
                          controls=_control_names(smk.params.controls, smk.input.blur_selection),
                          n_boot=smk.params.n_boot, seed=smk.params.seed)
    with atomic_output(smk.output.table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5g")
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        log.info("verdict:\n%s", table.drop(columns=["note"]).to_string(index=False))
    plot_verdict(table, smk.output.png)


@job
def corruption_figures(smk) -> None:
    """CIFAR-10-C: tables/corruptions.csv (per set), tables/corruption_summary.csv (mean corruption accuracy,
    per family, relative robustness; mean +- SEM over seeds), the per-family figure and the relative-robustness bars."""
    from .corruptions import plot_corruptions, plot_relative_robustness, severity_table, summary_table

    corr = read_runs(smk.input.corruptions)
    for table, path in ((severity_table(corr), smk.output.table), (summary_table(corr), smk.output.summary)):
        with atomic_output(path) as tmp:
            table.to_csv(tmp, index=False, float_format="%.5g")
    log.info("corruption summary:\n%s", pd.read_csv(smk.output.summary).to_string(index=False))
    plot_corruptions(corr, smk.output.fig_families, n_images=int(corr["n_images"].iloc[0]))
    plot_relative_robustness(corr, smk.output.fig_relative)


@job
def fig10_brain_likeness(smk) -> None:
    """Brain-likeness (gamma-mixed layer vs the neural similarity of held-out oracle images) against
    robustness to noise, corruptions and minimal L2 perturbations: tables/brain_likeness.csv and the scatter."""
    from .corruptions import brain_vs_robustness, plot_brain_likeness, scores_table

    brain = read_runs(smk.input.brain)
    adv = read_runs(smk.input.adversarial) if smk.input.adversarial else None
    scores = scores_table(read_runs(smk.input.noise), read_runs(smk.input.corruptions), adv)
    table = brain_vs_robustness(brain, scores)
    with atomic_output(smk.output.table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5g")
    log.info("brain-likeness and robustness per model:\n%s", table.to_string(index=False))
    plot_brain_likeness(table, smk.output.png)


@job
def fig13_frequency(smk) -> None:
    """The low-frequency probe over the models: tables/frequency.csv (per model LFR, brain-likeness, scores),
    tables/partial_correlations.csv and Fig. 13 (:mod:`.frequency`)."""
    from .corruptions import BRAIN_REFERENCE, SCORES, brain_vs_robustness, scores_table
    from .frequency import lfr_table, partial_correlations, plot_frequency

    freq = read_runs(smk.input.frequency)
    lfr = lfr_table(freq)
    adv = read_runs(smk.input.adversarial) if smk.input.adversarial else None
    scores = scores_table(read_runs(smk.input.noise), read_runs(smk.input.corruptions), adv)
    table = lfr.merge(brain_vs_robustness(read_runs(smk.input.brain), scores), on=["condition", "alpha", "seed"],
                      how="left")
    with atomic_output(smk.output.table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5g")
    partial = partial_correlations(table, f"brain_{BRAIN_REFERENCE}", [s for s in SCORES if s in table],
                                   n_boot=int(smk.params.bootstrap), seed=int(smk.params.seed))
    with atomic_output(smk.output.partial) as tmp:
        partial.to_csv(tmp, index=False, float_format="%.5g")
    log.info("per model:\n%s\npartial correlations:\n%s", table.to_string(index=False), partial.to_string(index=False))
    plot_frequency(freq, lfr, smk.output.png)


@job
def methods_comparison(smk) -> None:
    """The methods side by side: tables/methods.csv and Fig. 11 (neuroreg.figures.methods)."""
    from .methods import methods_table, per_model_scores, plot_methods, with_control_gains

    corr = read_runs(smk.input.corruptions) if smk.input.corruptions else None
    adv = read_runs(smk.input.adversarial) if smk.input.adversarial else None
    table = methods_table(per_model_scores(read_runs(smk.input.noise), corr, adv))
    if smk.input.get("controls"):
        table = with_control_gains(table, pd.read_csv(smk.input.controls[0]))
    with atomic_output(smk.output.table) as tmp:
        table.to_csv(tmp, index=False, float_format="%.5g")
    log.info("methods side by side:\n%s", table.to_string(index=False))
    plot_methods(table, smk.output.png)
