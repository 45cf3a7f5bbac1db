# Stage 6: robustness of the co-trained models (section 4.2 and the supplement).
# Per run <results>/robustness/{target}/alpha{alpha}/seed{seed}/: noise.csv (accuracy under
# Gaussian noise, every co-training run incl. the alpha sweep) and, for the runs of
# robustness.adversarial_conditions, adversarial.csv, adversarial_images.csv,
# adversarial_steps.csv and checks.json (minimal perturbations, Foolbox 3).
# Jobs: neuroreg.robustness.jobs; the runs: neuroreg.grid (cotrain_runs, adversarial_runs).

ROBUST = config["robustness"]
ROBUST_GPU = 0 if ROBUST["device"] == "cpu" else 1


rule noise_robustness:
    """Accuracy on the whole CIFAR test set under additive Gaussian noise (Fig. 4, Fig. 6)."""
    input:
        unpack(robustness_model_inputs),
    output:
        noise="<results>/robustness/{target}/alpha{alpha}/seed{seed}/noise.csv",
    log:
        "<logs>/robustness/noise/{target}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/robustness/noise/{target}/alpha{alpha}/seed{seed}.tsv"
    wildcard_constraints:
        target=WILDCARDS["target"],
        alpha=WILDCARDS["alpha"],
        seed=WILDCARDS["seed"],
    conda:
        "../../envs/neuroreg.yaml"
    threads: 2
    resources:
        gpu=ROBUST_GPU,
        mem_mb=ROBUST["mem_mb"] // 2,
        runtime=30,
    params:
        robustness=grid.noise_params(ROBUST),
    script:
        "../scripts/noise_robustness.py"


use rule noise_robustness as noise_robustness_cifar100 with:
    # Fig. 4B: the CIFAR-100 runs on the whole CIFAR-100 test set
    input:
        unpack(cifar100_model_inputs),
    output:
        noise="<results>/cifar100/robustness/{target}/alpha{alpha}/seed{seed}/noise.csv",
    log:
        "<logs>/cifar100/robustness/noise/{target}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/cifar100/robustness/noise/{target}/alpha{alpha}/seed{seed}.tsv"


rule adversarial_robustness:
    """Minimal L0/L1/L2/Linf perturbations on the first robustness.n_adversarial test images,
    best over attacks, hyper-parameters, repetitions and step budgets, with sanity checks."""
    input:
        unpack(robustness_model_inputs),
    output:
        summary="<results>/robustness/{target}/alpha{alpha}/seed{seed}/adversarial.csv",
        images="<results>/robustness/{target}/alpha{alpha}/seed{seed}/adversarial_images.csv",
        steps="<results>/robustness/{target}/alpha{alpha}/seed{seed}/adversarial_steps.csv",
        checks="<results>/robustness/{target}/alpha{alpha}/seed{seed}/checks.json",
    log:
        "<logs>/robustness/adversarial/{target}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/robustness/adversarial/{target}/alpha{alpha}/seed{seed}.tsv"
    wildcard_constraints:
        target=WILDCARDS["target"],
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
        robustness=grid.attack_params(ROBUST),
        seed=seeds.attack_seed(config["seed"]),
    script:
        "../scripts/adversarial_robustness.py"


final_outputs("robustness", [grid.robustness_path(*run, "noise.csv") for run in grid.cotrain_runs(config)])
final_outputs(
    "robustness",
    [
        grid.robustness_path(*run, name)
        for run in grid.adversarial_runs(config)
        for name in ("adversarial.csv", "adversarial_images.csv", "adversarial_steps.csv", "checks.json")
    ],
)
final_outputs("robustness", [grid.cifar100_path("robustness", *run, "noise.csv") for run in grid.cifar100_runs(config)])
