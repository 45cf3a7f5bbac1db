# Stage 7: figures of the co-training results (Fig. 4-7, Table 1), the paper-vs-run table and the
# report's captions (workflow/report/*.rst). Reads <results>/robustness/{condition}/alpha{alpha}/seed{seed}/
# noise.csv, adversarial.csv, adversarial_steps.csv, checks.json and <results>/tables/{gamma,similarity_correlations}.csv.
# Jobs: neuroreg.figures.jobs. Fig. 4B (CIFAR-100, default ResNet34) is built when data.cifar100 is set.

FIG_RUNS = grid.figure_runs(config)  # main-text runs (Fig. 4A, paper vs run)
FIG_ADV_RUNS = grid.adversarial_runs(config)  # attacked runs (Fig. 5, 7)
FIG_NOISE = [grid.robustness_path(*run, "noise.csv") for run in FIG_RUNS]
FIG_SWEEP_NOISE = [grid.robustness_path(*run, "noise.csv") for run in grid.sweep_runs(config)]
FIG_ADV = [grid.robustness_path(*run, "adversarial.csv") for run in FIG_ADV_RUNS]
FIG_ADV_STEPS = [grid.robustness_path(*run, "adversarial_steps.csv") for run in FIG_ADV_RUNS]
FIG_ADV_IMAGES = [grid.robustness_path(*run, "adversarial_images.csv") for run in FIG_ADV_RUNS]
FIG_NM_METRICS = [  # final gamma of the main-text neural_model runs (the collapse, paper vs run)
    grid.cotrain_path(*run, "metrics.json") for run in FIG_RUNS if run[0] == "neural_model"
]
FIG_CORRUPTIONS = [grid.robustness_path(*run, "corruptions.csv") for run in FIG_RUNS]
FIG_BRAIN = [grid.robustness_path(*run, "brain_likeness.csv") for run in FIG_RUNS]
FIG_FREQUENCY = [grid.robustness_path(*run, "frequency.csv") for run in FIG_RUNS]
FIG_CHECKS = [
    grid.robustness_path(*run, "checks.json") for run in FIG_ADV_RUNS
]  # sanity checks, shown beside the numbers
CONTROL_TESTS = grid.control_tests(config)  # "is the gain neural?": tested condition -> its controls in this config
BLUR_SELECTION = (  # the blur control's sigma, where a control uses it
    ["<results>/tables/blur_selection.csv"] if any("blur" in c for c in CONTROL_TESTS.values()) else []
)


rule fig4a_noise_robustness:
    """Fig. 4A: CIFAR-10 test accuracy vs Gaussian noise level per condition (mean +- SEM over seeds)."""
    input:
        noise=FIG_NOISE,
        cifar="<results>/data/cifar10.h5",
    output:
        png=report(
            "<results>/figures/fig4a_noise_robustness.png",
            caption="../report/fig4a_noise_robustness.rst",
            category="2. Robustness (Fig. 4, 5)",
            subcategory="Gaussian noise",
        ),
        pdf="<results>/figures/fig4a_noise_robustness.pdf",
    log:
        "<logs>/figures/fig4a_noise_robustness.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=5,
    params:
        example_image=config["figures"]["example_image"],
        title=f"Grayscale CIFAR-10, {network_name(config['cotrain']['arch'])}: accuracy under Gaussian noise",
        chance=0.1,
    script:
        "../scripts/fig4_noise_robustness.py"


use rule fig4a_noise_robustness as fig4b_noise_robustness_cifar100 with:
    # Fig. 4B: the same plot for the CIFAR-100 runs (config cifar100)
    input:
        noise=[grid.cifar100_path("robustness", *run, "noise.csv") for run in grid.cifar100_runs(config)],
        cifar="<results>/data/cifar100.h5",
    output:
        png=report(
            "<results>/figures/fig4b_noise_robustness_cifar100.png",
            caption="../report/fig4b_noise_robustness_cifar100.rst",
            category="2. Robustness (Fig. 4, 5)",
            subcategory="Gaussian noise",
        ),
        pdf="<results>/figures/fig4b_noise_robustness_cifar100.pdf",
    log:
        "<logs>/figures/fig4b_noise_robustness_cifar100.log",
    params:
        example_image=config["figures"]["example_image"],
        title=f"Grayscale CIFAR-100, {network_name(grid.cifar100_cotrain(config)['arch'])}: accuracy under Gaussian noise",
        chance=0.01,


rule fig5_adversarial_steps:
    """Fig. 5: median minimal L2 / Linf perturbation vs attack steps per condition."""
    input:
        steps=FIG_ADV_STEPS,
        checks=FIG_CHECKS,
    output:
        png=report(
            "<results>/figures/fig5_adversarial_steps.png",
            caption="../report/fig5_adversarial_steps.rst",
            category="2. Robustness (Fig. 4, 5)",
            subcategory="Adversarial",
        ),
        pdf="<results>/figures/fig5_adversarial_steps.pdf",
    log:
        "<logs>/figures/fig5_adversarial_steps.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/fig5_adversarial_steps.py"


rule fig6_alpha_sweep:
    """Fig. 6 (supplement): accuracy vs noise for each alpha of the sweep on the single-scan target."""
    input:
        noise=FIG_SWEEP_NOISE,
    output:
        png=report(
            "<results>/figures/fig6_alpha_sweep.png",
            caption="../report/fig6_alpha_sweep.rst",
            category="3. Supplement (Fig. 6, 7, Table 1)",
            subcategory="Alpha sweep",
        ),
        pdf="<results>/figures/fig6_alpha_sweep.pdf",
    log:
        "<logs>/figures/fig6_alpha_sweep.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/fig6_alpha_sweep.py"


rule fig7_adversarial_norms:
    """Fig. 7 (supplement): median minimal L0, L1, L2, Linf perturbation per condition, per-seed points."""
    input:
        adversarial=FIG_ADV,
        checks=FIG_CHECKS,
    output:
        png=report(
            "<results>/figures/fig7_adversarial_norms.png",
            caption="../report/fig7_adversarial_norms.rst",
            category="3. Supplement (Fig. 6, 7, Table 1)",
            subcategory="Adversarial norms",
        ),
        pdf="<results>/figures/fig7_adversarial_norms.pdf",
    log:
        "<logs>/figures/fig7_adversarial_norms.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/fig7_adversarial_norms.py"


rule table1_gamma:
    """Table 1 (supplement) drawn: final gamma per layer, mean over the sweep's seeds, per alpha."""
    input:
        gamma="<results>/tables/gamma.csv",
    output:
        png=report(
            "<results>/figures/table1_gamma.png",
            caption="../report/table1_gamma.rst",
            category="3. Supplement (Fig. 6, 7, Table 1)",
            subcategory="Alpha sweep",
        ),
        pdf="<results>/figures/table1_gamma.pdf",
    log:
        "<logs>/figures/table1_gamma.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/table1_gamma.py"


rule corruption_figures:
    """CIFAR-10-C: accuracy per family and severity, relative robustness against None, and their tables."""
    input:
        corruptions=FIG_CORRUPTIONS,
    output:
        table="<results>/tables/corruptions.csv",
        summary=report(
            "<results>/tables/corruption_summary.csv",
            caption="../report/corruption_summary.rst",
            category="2. Robustness (Fig. 4, 5)",
            subcategory="Corruptions (CIFAR-10-C)",
        ),
        fig_families=report(
            "<results>/figures/fig8_corruptions.png",
            caption="../report/fig8_corruptions.rst",
            category="2. Robustness (Fig. 4, 5)",
            subcategory="Corruptions (CIFAR-10-C)",
        ),
        fig_relative=report(
            "<results>/figures/fig9_relative_robustness.png",
            caption="../report/fig9_relative_robustness.rst",
            category="2. Robustness (Fig. 4, 5)",
            subcategory="Corruptions (CIFAR-10-C)",
        ),
    log:
        "<logs>/figures/corruption_figures.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/corruption_figures.py"


rule fig10_brain_likeness:
    """Brain-likeness of each model's representation against its noise, corruption and adversarial robustness."""
    input:
        brain=FIG_BRAIN,
        noise=FIG_NOISE,
        corruptions=FIG_CORRUPTIONS,
        adversarial=FIG_ADV,
    output:
        table="<results>/tables/brain_likeness.csv",
        png=report(
            "<results>/figures/fig10_brain_likeness.png",
            caption="../report/fig10_brain_likeness.rst",
            category="2. Robustness (Fig. 4, 5)",
            subcategory="Brain-likeness",
        ),
    log:
        "<logs>/figures/fig10_brain_likeness.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/fig10_brain_likeness.py"


rule fig13_frequency:
    """The low-frequency probe: accuracy on low- and high-pass images, each model's low-frequency reliance, and the
    partial correlation of robustness with brain-likeness given clean accuracy and that reliance."""
    input:
        frequency=FIG_FREQUENCY,
        brain=FIG_BRAIN,
        noise=FIG_NOISE,
        corruptions=FIG_CORRUPTIONS,
        adversarial=FIG_ADV,
    output:
        table="<results>/tables/frequency.csv",
        partial="<results>/tables/partial_correlations.csv",
        png=report(
            "<results>/figures/fig13_frequency.png",
            caption="../report/fig13_frequency.rst",
            category="2. Robustness (Fig. 4, 5)",
            subcategory="Brain-likeness",
        ),
    log:
        "<logs>/figures/fig13_frequency.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        bootstrap=config["figures"]["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/fig13_frequency.py"


rule methods_comparison:
    """The methods side by side (similarity, CKA, multi-task, low-pass): clean, noise, corruption, adversarial, and
    a tested condition's gain over its strongest control."""
    input:
        noise=FIG_NOISE,
        corruptions=FIG_CORRUPTIONS,
        adversarial=FIG_ADV,
        controls=["<results>/tables/controls.csv"] if CONTROL_TESTS else [],
    output:
        table=report(
            "<results>/tables/methods.csv",
            caption="../report/methods.rst",
            category="5. Other ways to learn from brains",
        ),
        png=report(
            "<results>/figures/fig11_methods.png",
            caption="../report/fig11_methods.rst",
            category="5. Other ways to learn from brains",
        ),
    log:
        "<logs>/figures/methods_comparison.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/methods_comparison.py"


rule controls:
    """Is the gain neural? Each brain-data condition against the strongest of its controls without brain data, per
    robustness measure, with its 95 % interval (neuroreg.figures.controls)."""
    input:
        noise=FIG_NOISE,
        corruptions=FIG_CORRUPTIONS,
        images=FIG_ADV_IMAGES,
        blur_selection=BLUR_SELECTION,
    output:
        table=report(
            "<results>/tables/controls.csv",
            caption="../report/controls.rst",
            category="5. Other ways to learn from brains",
        ),
    log:
        "<logs>/figures/controls.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        tests=CONTROL_TESTS,
        n_boot=config["figures"]["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/controls.py"


rule verdict:
    """The verdict on each of the paper's claims: the effect of neural_model over none and shuffle (and, where the
    run has them, over the strongest control without brain data), its 95 % interval (seeds, then images), per
    BatchNorm variant, and holds / does not hold / inconclusive."""
    input:
        noise=FIG_NOISE,
        images=FIG_ADV_IMAGES,
        checks=FIG_CHECKS,
        metrics=FIG_NM_METRICS,
        blur_selection=BLUR_SELECTION,
    output:
        table=report(
            "<results>/tables/verdict.csv",
            caption="../report/verdict.rst",
            category="4. Paper vs this run",
        ),
        png=report(
            "<results>/figures/fig12_verdict.png",
            caption="../report/fig12_verdict.rst",
            category="4. Paper vs this run",
        ),
    log:
        "<logs>/figures/verdict.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        bn=config["robustness"]["bn"],
        controls=CONTROL_TESTS.get("neural_model", ()),
        n_boot=config["figures"]["bootstrap"],
        seed=config["seed"],
    script:
        "../scripts/verdict.py"


rule paper_vs_run:
    """The paper's numbers (section 4.1, 4.2, Fig. 1D) beside this run's, the attacked models' sanity checks beside theirs,
    and the verdict on each claim."""
    input:
        noise=FIG_NOISE,
        adversarial=FIG_ADV,
        checks=FIG_CHECKS,
        correlations="<results>/tables/similarity_correlations.csv",
        verdict="<results>/tables/verdict.csv",
    output:
        report(
            "<results>/tables/paper_vs_run.csv",
            caption="../report/paper_vs_run.rst",
            category="4. Paper vs this run",
        ),
    log:
        "<logs>/figures/paper_vs_run.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/paper_vs_run.py"


rule run_summary:
    """The report's first page: every sanity check that passed or failed, and the paper beside the run."""
    input:
        unpack(summary_inputs),
    output:
        "<results>/report/summary.rst",
    log:
        "<logs>/figures/run_summary.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        run=config["run"],
        scans=SCANS,
    script:
        "../scripts/run_summary.py"


if summary_inputs(None):  # a run of stages 1-2 only still gets its checks on the report's first page
    FINAL_OUTPUTS.append("<results>/report/summary.rst")


final_outputs(
    "figures",
    [
        "<results>/figures/fig4a_noise_robustness.png",
        "<results>/figures/fig6_alpha_sweep.png",
        "<results>/figures/table1_gamma.png",
        "<results>/tables/paper_vs_run.csv",
        "<results>/tables/verdict.csv",
        "<results>/figures/fig12_verdict.png",
        "<results>/figures/fig8_corruptions.png",
        "<results>/figures/fig10_brain_likeness.png",
        "<results>/figures/fig11_methods.png",
    ]
    + (
        ["<results>/figures/fig5_adversarial_steps.png", "<results>/figures/fig7_adversarial_norms.png"]
        if FIG_ADV_RUNS
        else []
    ),
)
if grid.cifar100_runs(config):
    final_outputs("figures", "<results>/figures/fig4b_noise_robustness_cifar100.png")
if config["robustness"]["frequency"]:
    final_outputs("figures", "<results>/figures/fig13_frequency.png")
if CONTROL_TESTS:
    final_outputs("figures", "<results>/tables/controls.csv")
