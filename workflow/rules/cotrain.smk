# Stage 5: co-training. A CIFAR ResNet trained with cross-entropy + alpha * similarity
# loss (Eq. 7-10) towards each similarity target, for every condition x seed, plus the
# alpha sweep of the supplement on a single-scan target; Table 1 (final gamma per layer).

# The grid (cotrain_runs() etc.) is defined in common.smk.

rule cotrain:
    """Joint training (Eq. 7-10, recipe of section 4.1) of one model; resumes from its checkpoint."""
    input:
        unpack(cotrain_inputs),
    output:
        model="results/cotrain/{target}/alpha{alpha}/seed{seed}/model.pt",
        history="results/cotrain/{target}/alpha{alpha}/seed{seed}/history.csv",
        metrics="results/cotrain/{target}/alpha{alpha}/seed{seed}/metrics.json",
    params:
        cotrain=COTRAIN,
        master_seed=config["seed"],
        checkpoint=lambda wc: cotrain_path(wc.target, wc.alpha, wc.seed, "checkpoint.pt"),
    log:
        "logs/cotrain/{target}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "benchmarks/cotrain/{target}/alpha{alpha}/seed{seed}.tsv"
    wildcard_constraints:
        target=r"none|neural_model|neural_data|shuffle|vgg|ground_truth|neural_model_[A-Za-z0-9_\-]+",
        alpha=r"[0-9]+(\.[0-9]+)?",
        seed=r"[0-9]+",
    threads: 4
    resources:
        gpu=0 if COTRAIN["device"] == "cpu" else 1,
        mem_mb=16000,
        runtime=240,
    conda:
        "../../envs/neuroreg.yaml"
    script:
        "../scripts/cotrain.py"



use rule cotrain as cotrain_cifar100 with:
    # Fig. 4B: the same training on grayscale CIFAR-100 with config cifar100 (default ResNet34)
    input:
        unpack(cifar100_cotrain_inputs),
    output:
        model="results/cifar100/cotrain/{target}/alpha{alpha}/seed{seed}/model.pt",
        history="results/cifar100/cotrain/{target}/alpha{alpha}/seed{seed}/history.csv",
        metrics="results/cifar100/cotrain/{target}/alpha{alpha}/seed{seed}/metrics.json",
    params:
        cotrain=COTRAIN100,
        master_seed=config["seed"],
        checkpoint=lambda wc: cifar100_path("cotrain", wc.target, wc.alpha, wc.seed, "checkpoint.pt"),
    log:
        "logs/cifar100/cotrain/{target}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "benchmarks/cifar100/cotrain/{target}/alpha{alpha}/seed{seed}.tsv"

rule gamma_table:
    """Table 1 of the supplement: final gamma per layer, averaged over seeds, per alpha of the sweep."""
    input:
        [cotrain_path(t, a, s, "metrics.json") for t, a, s in cotrain_sweep_runs()],
    output:
        "results/tables/gamma.csv",
    log:
        "logs/cotrain/gamma_table.log",
    conda:
        "../../envs/neuroreg.yaml"
    script:
        "../scripts/gamma_table.py"


final_outputs("cotrain", [cotrain_path(t, a, s, "metrics.json") for t, a, s in cotrain_runs()])
final_outputs("cotrain", "results/tables/gamma.csv")
final_outputs("cotrain", [cifar100_path("cotrain", t, a, s, "metrics.json") for t, a, s in cifar100_runs()])
