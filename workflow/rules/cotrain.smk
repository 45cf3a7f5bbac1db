# Stage 5: co-training. A CIFAR ResNet trained with cross-entropy + alpha * similarity
# loss (Eq. 7-10) towards each similarity target, for every condition x seed, plus the
# alpha sweep of the supplement on a single-scan target; Table 1 (final gamma per layer).
# Jobs: neuroreg.cotrain.jobs; the runs: neuroreg.grid (cotrain_runs, sweep_runs, cifar100_runs).
# params hold the recipe only (not the seeds or conditions): a new seed or condition trains only the new models.


rule cotrain:
    """Joint training (Eq. 7-10, recipe of section 4.1) of one model; resumes from its checkpoint."""
    input:
        unpack(cotrain_inputs),
    output:
        model="<results>/cotrain/{target}/alpha{alpha}/seed{seed}/model.pt",
        history="<results>/cotrain/{target}/alpha{alpha}/seed{seed}/history.csv",
        metrics="<results>/cotrain/{target}/alpha{alpha}/seed{seed}/metrics.json",
    log:
        "<logs>/cotrain/{target}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/cotrain/{target}/alpha{alpha}/seed{seed}.tsv"
    wildcard_constraints:
        target=WILDCARDS["target"],
        alpha=WILDCARDS["alpha"],
        seed=WILDCARDS["seed"],
    priority: lambda wc: grid.cotrain_priority(config, wc.target, wc.alpha, wc.seed)
    conda:
        "../../envs/neuroreg.yaml"
    threads: config["cotrain"]["threads"]
    resources:
        gpu=0 if config["cotrain"]["device"] == "cpu" else 1,
        mem_mb=config["cotrain"]["mem_mb"],
        runtime=240,
    params:
        cotrain=lambda wc: grid.cotrain_params(config["cotrain"], wc.target),
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
        model="<results>/cifar100/cotrain/{target}/alpha{alpha}/seed{seed}/model.pt",
        history="<results>/cifar100/cotrain/{target}/alpha{alpha}/seed{seed}/history.csv",
        metrics="<results>/cifar100/cotrain/{target}/alpha{alpha}/seed{seed}/metrics.json",
    log:
        "<logs>/cifar100/cotrain/{target}/alpha{alpha}/seed{seed}.log",
    benchmark:
        "<benchmarks>/cifar100/cotrain/{target}/alpha{alpha}/seed{seed}.tsv"
    params:
        cotrain=lambda wc: grid.cotrain_params(grid.cifar100_cotrain(config), wc.target),
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
