# Stage 6: robustness of the co-trained models (section 4.2 and the supplement).
# Per run results/robustness/{target}/alpha{alpha}/seed{seed}/: noise.csv (accuracy under
# Gaussian noise, every co-training run incl. the alpha sweep) and, for the runs of
# robustness.adversarial_conditions, adversarial.csv, adversarial_images.csv,
# adversarial_steps.csv and checks.json (minimal perturbations, Foolbox 3).
# The runs (robust_adversarial_runs() etc.) are defined in common.smk.

rule noise_robustness:
    """Accuracy on the whole CIFAR test set under additive Gaussian noise (Fig. 4, Fig. 6)."""
    input:
        unpack(robust_model_inputs),
    output:
        noise="results/robustness/{target}/alpha{alpha}/seed{seed}/noise.csv",
    params:
        robustness=ROBUST,
    log:
        "logs/robustness/noise/{target}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "benchmarks/robustness/noise/{target}/alpha{alpha}/seed{seed}.tsv"
    wildcard_constraints:
        target=r"none|neural_model|neural_data|shuffle|vgg|ground_truth|neural_model_[A-Za-z0-9_\-]+",
        alpha=r"[0-9]+(\.[0-9]+)?",
        seed=r"[0-9]+",
    threads: 2
    resources:
        gpu=ROBUST_GPU,
        mem_mb=8000,
        runtime=30,
    conda:
        "../../envs/neuroreg.yaml"
    script:
        "../scripts/noise_robustness.py"



use rule noise_robustness as noise_robustness_cifar100 with:
    # Fig. 4B: the CIFAR-100 runs on the whole CIFAR-100 test set
    input:
        unpack(cifar100_model_inputs),
    output:
        noise="results/cifar100/robustness/{target}/alpha{alpha}/seed{seed}/noise.csv",
    log:
        "logs/cifar100/robustness/noise/{target}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "benchmarks/cifar100/robustness/noise/{target}/alpha{alpha}/seed{seed}.tsv"

rule adversarial_robustness:
    """Minimal L0/L1/L2/Linf perturbations on the first robustness.n_adversarial test images,
    best over attacks, hyper-parameters, repetitions and step budgets, with sanity checks."""
    input:
        unpack(robust_model_inputs),
    output:
        summary="results/robustness/{target}/alpha{alpha}/seed{seed}/adversarial.csv",
        images="results/robustness/{target}/alpha{alpha}/seed{seed}/adversarial_images.csv",
        steps="results/robustness/{target}/alpha{alpha}/seed{seed}/adversarial_steps.csv",
        checks="results/robustness/{target}/alpha{alpha}/seed{seed}/checks.json",
    params:
        robustness=ROBUST,
        master_seed=config["seed"],
    log:
        "logs/robustness/adversarial/{target}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "benchmarks/robustness/adversarial/{target}/alpha{alpha}/seed{seed}.tsv"
    wildcard_constraints:
        target=r"none|neural_model|neural_data|shuffle|vgg|ground_truth|neural_model_[A-Za-z0-9_\-]+",
        alpha=r"[0-9]+(\.[0-9]+)?",
        seed=r"[0-9]+",
    threads: ROBUST.get("processes") or workflow.cores
    resources:
        gpu=ROBUST_GPU,
        mem_mb=16000,
        runtime=ROBUST.get("runtime_min", 240),
    conda:
        "../../envs/neuroreg.yaml"
    script:
        "../scripts/adversarial_robustness.py"


final_outputs("robustness", [robust_path(t, a, s, "noise.csv") for t, a, s in cotrain_runs()])
final_outputs(
    "robustness",
    [
        robust_path(t, a, s, name)
        for t, a, s in robust_adversarial_runs()
        for name in ("adversarial.csv", "adversarial_images.csv", "adversarial_steps.csv", "checks.json")
    ],
)
final_outputs("robustness", [cifar100_path("robustness", t, a, s, "noise.csv") for t, a, s in cifar100_runs()])
