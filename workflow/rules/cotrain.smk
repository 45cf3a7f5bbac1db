# Stage 5: co-training. A CIFAR ResNet trained with cross-entropy + alpha * similarity
# loss (Eq. 7-10) towards each similarity target, for every condition x seed, plus the
# alpha sweep of the supplement on a single-scan target; Table 1 (final gamma per layer).

COTRAIN = config["cotrain"]
COTRAIN_SWEEP_TARGET = f"neural_model_{config['similarity']['alpha_sweep_scan']}"


def cotrain_alpha(alpha):
    """Alpha as it appears in paths: 20 -> '20', 0.5 -> '0.5'."""
    return f"{float(alpha):g}"


def cotrain_conditions():
    """The conditions of config cotrain.conditions that can be built with this config."""
    out = []
    for c in COTRAIN["conditions"]:
        if c == "vgg" and not config["data"].get("vgg19_weights"):
            continue  # no VGG19 weights: no 'vgg' target
        if c == "ground_truth" and not VIRTUAL_SCANS:
            continue  # ground truth exists only for the virtual experiment
        out.append(c)
    return out


def cotrain_runs():
    """(target, alpha, seed) of every run: the conditions at cotrain.alpha (none at 0), and the sweep."""
    runs = [
        (c, cotrain_alpha(0 if c == "none" else COTRAIN["alpha"]), s)
        for c in cotrain_conditions()
        for s in COTRAIN["seeds"]
    ]
    runs += cotrain_sweep_runs()
    return list(dict.fromkeys(runs))


def cotrain_sweep_runs():
    sweep = COTRAIN["alpha_sweep"]
    return [
        ("none" if float(a) == 0 else COTRAIN_SWEEP_TARGET, cotrain_alpha(a), s)
        for a in sweep["alphas"]
        for s in sweep["seeds"]
    ]


def cotrain_path(target, alpha, seed, name):
    return f"results/cotrain/{target}/alpha{alpha}/seed{seed}/{name}"


def cotrain_inputs(wildcards):
    inputs = {"cifar": "results/data/cifar10.h5", "stimuli": "results/data/stimuli.h5"}
    if wildcards.target == "none":
        if float(wildcards.alpha) != 0:
            raise ValueError(f"cotrain: target 'none' needs alpha 0, got alpha {wildcards.alpha}")
    else:
        inputs["similarity"] = f"results/similarity/{wildcards.target}.h5"
    return inputs


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
    script:
        "../scripts/cotrain.py"


rule gamma_table:
    """Table 1 of the supplement: final gamma per layer, averaged over seeds, per alpha of the sweep."""
    input:
        [cotrain_path(t, a, s, "metrics.json") for t, a, s in cotrain_sweep_runs()],
    output:
        "results/tables/gamma.csv",
    log:
        "logs/cotrain/gamma_table.log",
    script:
        "../scripts/gamma_table.py"


final_outputs("cotrain", [cotrain_path(t, a, s, "metrics.json") for t, a, s in cotrain_runs()])
final_outputs("cotrain", "results/tables/gamma.csv")
