# Stage 1: inputs. CIFAR-10/100 to a compact grayscale HDF5, the stimulus bank of
# photos, and one canonical scan file per scan (simulated or ingested). Jobs: neuroreg.ingest.jobs.


rule prepare_cifar:
    """CIFAR-10 / CIFAR-100 (python layout or tar.gz) -> grayscale HDF5 (schema: README)."""
    input:
        lambda wc: data_path(wc.dataset),
    output:
        "<results>/data/{dataset}.h5",
    log:
        "<logs>/data/prepare_{dataset}.log",
    wildcard_constraints:
        dataset="cifar10|cifar100",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        # data.evaluation_split: validation -> models are evaluated on held-out training images
        n_validation=grid.n_validation(config),
    script:
        "../scripts/prepare_cifar.py"


rule stimulus_bank:
    """Photos (folder or zip) -> grayscale 36 x 64 stimuli; a seed picks the shown and oracle images."""
    input:
        data_path("photos"),
    output:
        "<results>/data/stimuli.h5",
    log:
        "<logs>/data/stimulus_bank.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        stimuli={k: config["stimuli"][k] for k in ("n_images", "n_oracle", "height", "width")},
        seed=seeds.stimulus_seed(config["seed"]),
    script:
        "../scripts/stimulus_bank.py"


rule simulate_scan:
    """The virtual V1 experiment: one simulated scan on the stimulus bank, with its ground truth."""
    input:
        stimuli="<results>/data/stimuli.h5",
    output:
        "<results>/scans/{scan}.h5",
    log:
        "<logs>/scans/{scan}.log",
    benchmark:
        "<benchmarks>/scans/{scan}.tsv"
    wildcard_constraints:
        scan="|".join(VIRTUAL_SCANS) if VIRTUAL_SCANS else "NO_VIRTUAL_SCANS",
    priority: grid.PRIORITY["encoder"]  # the encoders wait for it
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=1500,
        runtime=10,
    params:
        scan=lambda wc: config["virtual_v1"]["scans"][wc.scan],
        virtual_v1=grid.virtual_v1_params(config["virtual_v1"]),
        repeats=config["stimuli"]["repeats"],
        seed=seeds.scan_seed(config["seed"]),
    script:
        "../scripts/simulate_scan.py"


rule ingest_recording:
    """A recorded scan (static_h5, sensorium, antolik2016, nwb, suite2p) -> the canonical scan file."""
    input:
        lambda wc: input_paths(recording(wc.scan)),
    output:
        "<results>/scans/{scan}.h5",
    log:
        "<logs>/scans/{scan}.log",
    wildcard_constraints:
        scan="|".join(RECORDED_SCANS) if RECORDED_SCANS else "NO_RECORDED_SCANS",
    conda:
        "../../envs/neuroreg.yaml"
    params:
        recording=lambda wc: recording(wc.scan),
        min_repeats=config["reliability"]["min_repeats"],
    script:
        "../scripts/ingest_recording.py"
