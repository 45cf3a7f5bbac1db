# Stage 5: co-training. A CIFAR ResNet trained with cross-entropy + alpha * similarity
# loss (Eq. 7-10) towards each similarity target, for every condition x seed, plus the
# alpha sweep of the supplement on a single-scan target; Table 1 (final gamma per layer).
# Jobs: neuroreg.cotrain.jobs; the runs: neuroreg.grid (cotrain_runs, sweep_runs, cifar100_runs).
# params hold the recipe only (not the seeds or conditions): a new seed or condition trains only the new models.
# blur_selection: the low-pass control's sigma, a training hyper-parameter, chosen on held-out training images.

BLUR_RUNS = grid.main_runs(config, grid.blur_sweep(config))
if any(conditions.parse(c).blur == "best" for c in grid.conditions(config)):
    final_outputs("cotrain", "<results>/tables/blur_selection.csv")


rule cotrain:
    """Joint training (Eq. 7-10, recipe of section 4.1) of one model; resumes from its checkpoint."""
    input:
        unpack(cotrain_inputs),
    output:
        model="<results>/cotrain/{condition}/alpha{alpha}/seed{seed}/model.pt",
        history="<results>/cotrain/{condition}/alpha{alpha}/seed{seed}/history.csv",
        metrics="<results>/cotrain/{condition}/alpha{alpha}/seed{seed}/metrics.json",
    log:
        "<logs>/cotrain/{condition}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/cotrain/{condition}/alpha{alpha}/seed{seed}.tsv"
    wildcard_constraints:
        condition=WILDCARDS["condition"],
        alpha=WILDCARDS["alpha"],
        seed=WILDCARDS["seed"],
    priority: lambda wc: grid.cotrain_priority(config, wc.condition, wc.alpha, wc.seed)
    conda:
        "../../envs/neuroreg.yaml"
    threads: config["cotrain"]["threads"]
    resources:
        gpu=0 if config["cotrain"]["device"] == "cpu" else 1,
        mem_mb=config["cotrain"]["mem_mb"],
        runtime=240,
    params:
        cotrain=lambda wc: grid.cotrain_params(config["cotrain"], wc.condition),
        master_seed=config["seed"],
        # beside model.pt (not a declared output, so Snakemake keeps it when the job fails)
        checkpoint=lambda wc, output: str(Path(output.model).with_name("checkpoint.pt")),
    script:
        "../scripts/cotrain.py"


use rule cotrain as cotrain_cifar100 with:
    # Fig. 4B: the same training on grayscale CIFAR-100 with config cifar100 (default ResNet34)
    input:
        unpack(cifar100_cotrain_inputs),
    output:
        model="<results>/cifar100/cotrain/{condition}/alpha{alpha}/seed{seed}/model.pt",
        history="<results>/cifar100/cotrain/{condition}/alpha{alpha}/seed{seed}/history.csv",
        metrics="<results>/cifar100/cotrain/{condition}/alpha{alpha}/seed{seed}/metrics.json",
    log:
        "<logs>/cifar100/cotrain/{condition}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/cifar100/cotrain/{condition}/alpha{alpha}/seed{seed}.tsv"
    params:
        cotrain=lambda wc: grid.cotrain_params(grid.cifar100_cotrain(config), wc.condition),
        master_seed=config["seed"],
        checkpoint=lambda wc, output: str(Path(output.model).with_name("checkpoint.pt")),


rule gamma_table:
    """Table 1 of the supplement: final gamma per layer, averaged over seeds, per alpha of the sweep."""
    input:
        [grid.cotrain_path(*run, "metrics.json") for run in grid.sweep_runs(config)],
    output:
        "<results>/tables/gamma.csv",
    log:
        "<logs>/cotrain/gamma_table.log",
    conda:
        "../../envs/neuroreg.yaml"
    script:
        "../scripts/gamma_table.py"


final_outputs("cotrain", [grid.cotrain_path(*run, "metrics.json") for run in grid.cotrain_runs(config)])
final_outputs("cotrain", "<results>/tables/gamma.csv")
final_outputs("cotrain", [grid.cifar100_path("cotrain", *run, "metrics.json") for run in grid.cifar100_runs(config)])


rule blur_selection:
    """The low-pass control: the blur{sigma} run with the best mean accuracy over the noise levels on
    held-out training images (never the test set); blurbest_ conditions train on top of it."""
    input:
        cifar="<results>/data/cifar10.h5",
        models=[grid.cotrain_path(*run, "model.pt") for run in BLUR_RUNS],
        metrics=[grid.cotrain_path(*run, "metrics.json") for run in BLUR_RUNS],
    output:
        report(
            "<results>/tables/blur_selection.csv",
            caption="../report/blur_selection.rst",
            category="5. Other ways to learn from brains",
        ),
    log:
        "<logs>/cotrain/blur_selection.log",
    benchmark:
        "<benchmarks>/cotrain/blur_selection.tsv"
    priority: grid.PRIORITY["corruptions"]
    conda:
        "../../envs/neuroreg.yaml"
    threads: config["robustness"]["threads"]
    resources:
        mem_mb=config["robustness"]["mem_mb"] // 2,
        runtime=30,
    params:
        runs=[(c, conditions.parse(c).blur, s) for c, _, s in BLUR_RUNS],
        n_validation=config["data"]["n_validation"],
        n_train=config["cotrain"]["n_train"],
        noise_levels=config["robustness"]["noise_levels"],
        noise_seed=config["robustness"]["noise_seed"],
        batch_size=config["robustness"]["batch_size"],
    script:
        "../scripts/blur_selection.py"
