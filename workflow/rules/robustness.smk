# Stage 6: robustness of the co-trained models (section 4.2 and the supplement).
# Per run <results>/robustness/{condition}/alpha{alpha}/seed{seed}/: noise.csv (accuracy under
# Gaussian noise, every co-training run incl. the alpha sweep) and, for the runs of
# robustness.adversarial_conditions, adversarial.csv, adversarial_images.csv,
# adversarial_steps.csv and checks.json (minimal perturbations, Foolbox 3).
# Jobs: neuroreg.robustness.jobs; the runs: neuroreg.grid (cotrain_runs, adversarial_runs).

ROBUST = config["robustness"]
ROBUST_GPU = 0 if ROBUST["device"] == "cpu" else 1
CORRUPT = ROBUST["corruptions"]


rule noise_robustness:
    """Accuracy on the whole CIFAR test set under additive Gaussian noise (Fig. 4, Fig. 6)."""
    input:
        unpack(robustness_model_inputs),
    output:
        noise="<results>/robustness/{condition}/alpha{alpha}/seed{seed}/noise.csv",
    log:
        "<logs>/robustness/noise/{condition}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/robustness/noise/{condition}/alpha{alpha}/seed{seed}.tsv"
    wildcard_constraints:
        condition=WILDCARDS["condition"],
        alpha=WILDCARDS["alpha"],
        seed=WILDCARDS["seed"],
    conda:
        "../../envs/neuroreg.yaml"
    threads: ROBUST["threads"]
    resources:
        gpu=ROBUST_GPU,
        mem_mb=ROBUST["mem_mb"] // 2,
        runtime=30,
    params:
        robustness=grid.noise_params(ROBUST, config["cotrain"]),
    script:
        "../scripts/noise_robustness.py"


use rule noise_robustness as noise_robustness_cifar100 with:
    # Fig. 4B: the CIFAR-100 runs on the whole CIFAR-100 test set
    input:
        unpack(cifar100_model_inputs),
    output:
        noise="<results>/cifar100/robustness/{condition}/alpha{alpha}/seed{seed}/noise.csv",
    log:
        "<logs>/cifar100/robustness/noise/{condition}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/cifar100/robustness/noise/{condition}/alpha{alpha}/seed{seed}.tsv"
    params:
        robustness=grid.noise_params(ROBUST, grid.cifar100_cotrain(config)),


rule adversarial_robustness:
    """Minimal L0/L1/L2/Linf perturbations on the first robustness.n_adversarial test images, per BatchNorm
    variant: the minimum over attacks and hyper-parameters per image, a convergence rerun, sanity checks."""
    input:
        unpack(robustness_model_inputs),
    output:
        summary="<results>/robustness/{condition}/alpha{alpha}/seed{seed}/adversarial.csv",
        images="<results>/robustness/{condition}/alpha{alpha}/seed{seed}/adversarial_images.csv",
        steps="<results>/robustness/{condition}/alpha{alpha}/seed{seed}/adversarial_steps.csv",
        checks="<results>/robustness/{condition}/alpha{alpha}/seed{seed}/checks.json",
    log:
        "<logs>/robustness/adversarial/{condition}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/robustness/adversarial/{condition}/alpha{alpha}/seed{seed}.tsv"
    wildcard_constraints:
        condition=WILDCARDS["condition"],
        alpha=WILDCARDS["alpha"],
        seed=WILDCARDS["seed"],
    priority: grid.PRIORITY["adversarial"]
    conda:
        "../../envs/neuroreg.yaml"
    threads: ROBUST["processes"] or workflow.cores
    resources:
        gpu=ROBUST_GPU,
        mem_mb=ROBUST["mem_mb"],
        runtime=ROBUST["runtime_min"],
    params:
        robustness=grid.attack_params(ROBUST, config["cotrain"]),
        seed=seeds.attack_seed(config["seed"]),
    script:
        "../scripts/adversarial_robustness.py"


rule corrupt_cifar:
    """CIFAR-10-C on the evaluation images: each corruption x severity once, grayscale like the training data."""
    input:
        cifar="<results>/data/cifar10.h5",
        source=CORRUPT["cifar10c"] or data_path("cifar10"),
    output:
        "<results>/data/cifar10c.h5",
    log:
        "<logs>/data/corrupt_cifar.log",
    benchmark:
        "<benchmarks>/data/corrupt_cifar.tsv"
    # early: one core for about a minute, and every corruption evaluation waits for it
    priority: grid.PRIORITY["corruptions"]
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    params:
        corruptions=grid.corruption_params(ROBUST),
        n_validation=grid.n_validation(config),
    script:
        "../scripts/corrupt_cifar.py"


rule corruption_robustness:
    """Accuracy of one co-trained model on every corruption x severity set (and clean, the same images)."""
    input:
        unpack(robustness_model_inputs),
        corrupted="<results>/data/cifar10c.h5",
    output:
        corruptions="<results>/robustness/{condition}/alpha{alpha}/seed{seed}/corruptions.csv",
    log:
        "<logs>/robustness/corruptions/{condition}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/robustness/corruptions/{condition}/alpha{alpha}/seed{seed}.tsv"
    wildcard_constraints:
        condition=WILDCARDS["condition"],
        alpha=WILDCARDS["alpha"],
        seed=WILDCARDS["seed"],
    conda:
        "../../envs/neuroreg.yaml"
    threads: ROBUST["threads"]
    resources:
        gpu=ROBUST_GPU,
        mem_mb=ROBUST["mem_mb"] // 2,
        runtime=60,
    params:
        robustness=grid.evaluation_params(ROBUST),
    script:
        "../scripts/corruption_robustness.py"


rule frequency_probe:
    """Accuracy of one co-trained model on low- and high-pass filtered test images (robustness.frequency)."""
    input:
        unpack(robustness_model_inputs),
    output:
        frequency="<results>/robustness/{condition}/alpha{alpha}/seed{seed}/frequency.csv",
    log:
        "<logs>/robustness/frequency/{condition}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/robustness/frequency/{condition}/alpha{alpha}/seed{seed}.tsv"
    wildcard_constraints:
        condition=WILDCARDS["condition"],
        alpha=WILDCARDS["alpha"],
        seed=WILDCARDS["seed"],
    conda:
        "../../envs/neuroreg.yaml"
    threads: ROBUST["threads"]
    resources:
        gpu=ROBUST_GPU,
        mem_mb=ROBUST["mem_mb"] // 2,
        runtime=30,
    params:
        robustness=grid.evaluation_params(ROBUST),
        frequency=ROBUST["frequency"],
    script:
        "../scripts/frequency_probe.py"


rule brain_likeness:
    """How brain-like one model's representation is on the oracle images (never trained on): per layer and
    gamma-mixed (Eq. 9-10), against the encoders' prediction, the trial average and (virtual) the ground truth."""
    input:
        unpack(robustness_model_inputs),
        stimuli="<results>/data/stimuli.h5",
        oracle=expand("<results>/similarity/oracle/{scan}.h5", scan=SCANS),
    output:
        "<results>/robustness/{condition}/alpha{alpha}/seed{seed}/brain_likeness.csv",
    log:
        "<logs>/robustness/brain_likeness/{condition}/alpha{alpha}/seed{seed}.log",
    wildcard_constraints:
        condition=WILDCARDS["condition"],
        alpha=WILDCARDS["alpha"],
        seed=WILDCARDS["seed"],
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    script:
        "../scripts/brain_likeness.py"


final_outputs("robustness", [grid.robustness_path(*run, "noise.csv") for run in grid.cotrain_runs(config)])
final_outputs(
    "robustness",
    [
        grid.robustness_path(*run, name)
        for run in grid.cotrain_runs(config)
        for name in ("corruptions.csv", "brain_likeness.csv")
    ],
)
final_outputs(
    "robustness",
    [
        grid.robustness_path(*run, name)
        for run in grid.adversarial_runs(config)
        for name in ("adversarial.csv", "adversarial_images.csv", "adversarial_steps.csv", "checks.json")
    ],
)
final_outputs("robustness", [grid.cifar100_path("robustness", *run, "noise.csv") for run in grid.cifar100_runs(config)])
if ROBUST["frequency"]:
    final_outputs("robustness", [grid.robustness_path(*run, "frequency.csv") for run in grid.cotrain_runs(config)])
