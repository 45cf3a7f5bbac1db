# Stage 3: the encoder of section 2.2, one per scan (core + Gaussian readout + shifter + modulator).
import zlib


# Scans with training trials: every virtual scan and every recording except antolik2016 (oracle trials
# only, so no encoder can be trained on it; asking for one anyway stops with an InputError).
ENCODER_SCANS = VIRTUAL_SCANS + [s for s in RECORDED_SCANS if recording(s)["source"] != "antolik2016"]


rule encoder:
    """One scan -> a trained encoder, its metrics and its predicted responses to every image."""
    input:
        scan="results/scans/{scan}.h5",
    output:
        model="results/encoders/{scan}/model.pt",
        metrics="results/encoders/{scan}/metrics.json",
        predictions="results/encoders/{scan}/predictions.h5",
    params:
        encoder=config["encoder"],
        # per-scan seed from the master seed, stable across runs and Python versions
        seed=lambda wc: (config["seed"] * 7919 + zlib.crc32(wc.scan.encode())) % 2**31,
    log:
        "logs/encoders/{scan}.log",
    benchmark:
        "benchmarks/encoders/{scan}.tsv"
    threads: 2
    conda:
        "../../envs/neuroreg.yaml"
    resources:
        # a GPU job unless the config pins the CPU (on a CPU-only machine the job runs on the CPU)
        gpu=0 if config["encoder"].get("device", "auto") == "cpu" else 1,
        mem_mb=8000,
        runtime=120,
    script:
        "../scripts/encoder.py"


final_outputs("encoder", expand("results/encoders/{scan}/metrics.json", scan=ENCODER_SCANS))
