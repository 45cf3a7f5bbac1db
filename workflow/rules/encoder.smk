# Stage 3: the encoder of section 2.2, one per scan (core + Gaussian readout + shifter + modulator).
# Jobs: neuroreg.encoder.jobs. Scans with training trials: neuroreg.grid.encoder_scans (an
# antolik2016 recording has oracle trials only; asking for its encoder stops with an InputError).


rule encoder:
    """One scan -> a trained encoder, its metrics and its predicted responses to every image."""
    input:
        scan="<results>/scans/{scan}.h5",
    output:
        model="<results>/encoders/{scan}/model.pt",
        metrics="<results>/encoders/{scan}/metrics.json",
        predictions="<results>/encoders/{scan}/predictions.h5",
    log:
        "<logs>/encoders/{scan}.log",
    benchmark:
        "<benchmarks>/encoders/{scan}.tsv"
    # first: the neural targets, and so half of the co-training runs, wait for the encoders
    priority: grid.PRIORITY["encoder"]
    conda:
        "../../envs/neuroreg.yaml"
    threads: config["encoder"]["threads"]
    resources:
        # a GPU job unless the config pins the CPU (on a CPU-only machine the job runs on the CPU)
        gpu=0 if config["encoder"]["device"] == "cpu" else 1,
        mem_mb=8000,
        runtime=120,
    params:
        encoder=grid.encoder_params(config["encoder"]),
        seed=lambda wc: seeds.encoder_seed(config["seed"], wc.scan),
    script:
        "../scripts/encoder.py"


final_outputs("encoder", expand("<results>/encoders/{scan}/metrics.json", scan=grid.encoder_scans(config)))
