# Stage 4: similarity targets (Eq. 2, 6) over the once-shown images, averaged over scans,
# written block by block; the oracle-image comparison (Fig. 1B, 1D, correlation table) and Fig. 2.

SIM = config["similarity"]
SIM_TARGETS_SCANS = [t for t in ("neural_model", "neural_data", "shuffle", "ground_truth") if t in SIM["targets"]]
if not VIRTUAL_SCANS and "ground_truth" in SIM_TARGETS_SCANS:
    SIM_TARGETS_SCANS.remove("ground_truth")  # ground truth exists only for the virtual experiment
_unknown = sorted(set(SIM["targets"]) - {"neural_model", "neural_data", "shuffle", "ground_truth", "vgg"})
if _unknown:
    raise ValueError(f"config.yaml: similarity.targets: unknown targets {_unknown}")
if "vgg" in SIM["targets"] and not config["data"].get("vgg19_weights"):
    raise ValueError(
        "config.yaml: similarity.targets contains 'vgg' but data.vgg19_weights is not set: give a torchvision "
        "VGG19 state dict (.pth) or remove 'vgg' from similarity.targets"
    )
SIM_TARGETS = SIM_TARGETS_SCANS + (["vgg"] if "vgg" in SIM["targets"] else [])


# Scans averaged into each target (ground_truth: the virtual ones) and the inputs they need.
SIM_SCANS = {t: VIRTUAL_SCANS if t == "ground_truth" else SCANS for t in SIM_TARGETS_SCANS}
SIM_INPUTS = {
    t: {
        "stimuli": "results/data/stimuli.h5",
        "scans": expand("results/scans/{scan}.h5", scan=SIM_SCANS[t]),
        "reliability": expand("results/reliability/{scan}.h5", scan=SIM_SCANS[t]),
    }
    | (
        {"predictions": expand("results/encoders/{scan}/predictions.h5", scan=SIM_SCANS[t])}
        if t in ("neural_model", "shuffle")
        else {}
    )
    for t in SIM_TARGETS_SCANS
}


rule similarity_target:
    """Eq. 2 / Eq. 6 similarity over the once-shown images, mean over scans, streamed to HDF5."""
    input:
        unpack(lambda wc: SIM_INPUTS[wc.target]),
    output:
        "results/similarity/{target}.h5",
    params:
        target=lambda wc: wc.target,
        scans=lambda wc: SIM_SCANS[wc.target],
        block_size=SIM["block_size"],
        seed=SIM.get("shuffle_seed", config["seed"]),
    log:
        "logs/similarity/{target}.log",
    benchmark:
        "benchmarks/similarity/{target}.tsv"
    wildcard_constraints:
        target="|".join(SIM_TARGETS_SCANS) or "NO_TARGETS",
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    conda:
        "../../envs/neuroreg.yaml"
    script:
        "../scripts/similarity_target.py"


rule similarity_single_scan:
    """neural_model from one scan only (the alpha sweep, supplement Fig. 6)."""
    input:
        stimuli="results/data/stimuli.h5",
        # lists, like similarity_target's inputs (one entry per scan)
        scans=["results/scans/{scan}.h5"],
        reliability=["results/reliability/{scan}.h5"],
        predictions=["results/encoders/{scan}/predictions.h5"],
    output:
        "results/similarity/neural_model_{scan}.h5",
    params:
        target="neural_model",
        scans=lambda wc: [wc.scan],
        block_size=SIM["block_size"],
        seed=config["seed"],
    log:
        "logs/similarity/neural_model_{scan}.log",
    benchmark:
        "benchmarks/similarity/neural_model_{scan}.tsv"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/neuroreg.yaml"
    script:
        "../scripts/similarity_target.py"


rule similarity_vgg:
    """VGG19 conv3_1 feature similarity of the once-shown stimuli (needs data.vgg19_weights)."""
    input:
        stimuli="results/data/stimuli.h5",
        weights=lambda wc: data_path("vgg19_weights"),
    output:
        "results/similarity/vgg.h5",
    params:
        weights=lambda wc: data_path("vgg19_weights"),
        block_size=SIM["block_size"],
        upsample=SIM.get("vgg_upsample", 1),
    log:
        "logs/similarity/vgg.log",
    benchmark:
        "benchmarks/similarity/vgg.tsv"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
    conda:
        "../../envs/neuroreg.yaml"
    script:
        "../scripts/similarity_vgg.py"


rule similarity_oracle:
    """One scan's oracle images: S^model (Eq. 6), single-trial S^data (Eq. 2), S^true beside S^oracle (Eq. 3)."""
    input:
        scan="results/scans/{scan}.h5",
        reliability="results/reliability/{scan}.h5",
        predictions="results/encoders/{scan}/predictions.h5",
    output:
        "results/similarity/oracle/{scan}.h5",
    log:
        "logs/similarity/oracle_{scan}.log",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    conda:
        "../../envs/neuroreg.yaml"
    script:
        "../scripts/similarity_oracle.py"


rule similarity_figures:
    """Fig. 1B, Fig. 1D and the table of r(S^data | S^model, S^oracle | S^true) per scan."""
    input:
        oracle=expand("results/similarity/oracle/{scan}.h5", scan=SCANS),
        order="results/reliability/oracle_order.csv",
    output:
        fig1b=report("results/figures/fig1b_model_similarity.png", caption="../report/fig1b_model_similarity.rst", category="1. Neural similarity (Fig. 1, 2)", subcategory="Fig. 1"),
        fig1b_pdf="results/figures/fig1b_model_similarity.pdf",
        fig1d=report("results/figures/fig1d_similarity_scatter.png", caption="../report/fig1d_similarity_scatter.rst", category="1. Neural similarity (Fig. 1, 2)", subcategory="Fig. 1"),
        fig1d_pdf="results/figures/fig1d_similarity_scatter.pdf",
        table="results/tables/similarity_correlations.csv",
    params:
        scans=SCANS,
    log:
        "logs/figures/similarity_figures.log",
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    conda:
        "../../envs/neuroreg.yaml"
    script:
        "../scripts/similarity_figures.py"


rule fig2_similar_pairs:
    """Fig. 2: the least and most similar once-shown image pairs of S^model."""
    input:
        similarity="results/similarity/neural_model.h5",
        stimuli="results/data/stimuli.h5",
    output:
        png=report("results/figures/fig2_similar_pairs.png", caption="../report/fig2_similar_pairs.rst", category="1. Neural similarity (Fig. 1, 2)", subcategory="Fig. 2"),
        pdf="results/figures/fig2_similar_pairs.pdf",
    params:
        n_pairs=3,
    log:
        "logs/figures/fig2_similar_pairs.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/neuroreg.yaml"
    script:
        "../scripts/fig2_similar_pairs.py"


final_outputs(
    "similarity",
    expand("results/similarity/{target}.h5", target=SIM_TARGETS)
    + [
        f"results/similarity/neural_model_{SIM['alpha_sweep_scan']}.h5",
        "results/figures/fig1b_model_similarity.png",
        "results/figures/fig1d_similarity_scatter.png",
        "results/tables/similarity_correlations.csv",
    ]
    + (["results/figures/fig2_similar_pairs.png"] if "neural_model" in SIM_TARGETS else [])
)
