# Stage 4: similarity targets (Eq. 2, 6) over the once-shown images, averaged over scans,
# written block by block; the oracle-image comparison (Fig. 1B, 1D, correlation table) and Fig. 2.
# Jobs: neuroreg.similarity.jobs; the targets of this config: neuroreg.grid.similarity_targets.

SIM = config["similarity"]
SIM_TARGETS = grid.similarity_targets(config)
SIM_SCAN_TARGETS = [t for t in SIM_TARGETS if t in conditions.SCAN_TARGETS]


rule similarity_target:
    """Eq. 2 / Eq. 6 similarity over the once-shown images, mean over scans, streamed to HDF5."""
    input:
        unpack(similarity_inputs),
    output:
        "<results>/similarity/{target}.h5",
    log:
        "<logs>/similarity/{target}.log",
    benchmark:
        "<benchmarks>/similarity/{target}.tsv"
    wildcard_constraints:
        target="|".join(SIM_SCAN_TARGETS) or "NO_TARGETS",
    priority: grid.PRIORITY["similarity"]
    conda:
        "../../envs/neuroreg.yaml"
    threads: SIM["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        target=lambda wc: wc.target,
        scans=lambda wc: grid.target_scans(config, wc.target),
        block_size=SIM["block_size"],
        seed=lambda wc: (seeds.shuffle_seed(config["seed"], SIM["shuffle_seed"]) if wc.target == "shuffle" else None),
    script:
        "../scripts/similarity_target.py"


rule mtl_responses:
    """The responses a multi-task condition's readout predicts (model, shuffle, ground_truth, data), every scan's neurons."""
    input:
        unpack(response_inputs),
    output:
        "<results>/responses/{responses}.h5",
    log:
        "<logs>/responses/{responses}.log",
    benchmark:
        "<benchmarks>/responses/{responses}.tsv"
    wildcard_constraints:
        responses="model|shuffle|ground_truth|data",
    priority: grid.PRIORITY["similarity"]
    conda:
        "../../envs/neuroreg.yaml"
    threads: SIM["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        responses=lambda wc: wc.responses,
        scans=lambda wc: grid.response_scans(config, wc.responses),
        seed=lambda wc: (seeds.shuffle_seed(config["seed"], SIM["shuffle_seed"]) if wc.responses == "shuffle" else 0),
    script:
        "../scripts/mtl_responses.py"


rule similarity_single_scan:
    """neural_model from one scan only (the alpha sweep, supplement Fig. 6)."""
    input:
        stimuli="<results>/data/stimuli.h5",
        # lists, like similarity_target's inputs (one entry per scan)
        scans=["<results>/scans/{scan}.h5"],
        reliability=["<results>/reliability/{scan}.h5"],
        predictions=["<results>/encoders/{scan}/predictions.h5"],
    output:
        "<results>/similarity/neural_model_{scan}.h5",
    log:
        "<logs>/similarity/neural_model_{scan}.log",
    benchmark:
        "<benchmarks>/similarity/neural_model_{scan}.tsv"
    priority: grid.PRIORITY["similarity"]
    conda:
        "../../envs/neuroreg.yaml"
    threads: SIM["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        target="neural_model",
        scans=lambda wc: [wc.scan],
        block_size=SIM["block_size"],
        seed=None,
    script:
        "../scripts/similarity_target.py"


rule similarity_vgg:
    """VGG19 conv3_1 feature similarity of the once-shown stimuli (needs data.vgg19_weights)."""
    input:
        stimuli="<results>/data/stimuli.h5",
        weights=lambda wc: data_path("vgg19_weights"),
    output:
        "<results>/similarity/vgg.h5",
    log:
        "<logs>/similarity/vgg.log",
    benchmark:
        "<benchmarks>/similarity/vgg.tsv"
    conda:
        "../../envs/neuroreg.yaml"
    threads: 2
    resources:
        mem_mb=6000,
        runtime=120,
    params:
        weights=lambda wc: data_path("vgg19_weights"),
        block_size=SIM["block_size"],
        upsample=SIM["vgg_upsample"],
    script:
        "../scripts/similarity_vgg.py"


rule similarity_content:
    """A target from the stimuli alone (pixel, random_network): Eq. 9 of pixels or of an untrained network's features."""
    input:
        stimuli="<results>/data/stimuli.h5",
    output:
        "<results>/similarity/{target}.h5",
    log:
        "<logs>/similarity/{target}.log",
    benchmark:
        "<benchmarks>/similarity/{target}.tsv"
    wildcard_constraints:
        target="|".join(conditions.CONTENT_TARGETS),
    priority: grid.PRIORITY["similarity"]
    conda:
        "../../envs/neuroreg.yaml"
    threads: SIM["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        target=lambda wc: wc.target,
        arch=config["cotrain"]["arch"],
        width=config["cotrain"]["width"],
        layer=SIM["random_network"]["layer"],
        seed=SIM["random_network"]["seed"],
        block_size=SIM["block_size"],
    script:
        "../scripts/similarity_content.py"


rule similarity_oracle:
    """One scan's oracle images: S^model (Eq. 6), single-trial S^data (Eq. 2), S^true beside S^oracle (Eq. 3)."""
    input:
        scan="<results>/scans/{scan}.h5",
        reliability="<results>/reliability/{scan}.h5",
        predictions="<results>/encoders/{scan}/predictions.h5",
    output:
        "<results>/similarity/oracle/{scan}.h5",
    log:
        "<logs>/similarity/oracle_{scan}.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    script:
        "../scripts/similarity_oracle.py"


rule similarity_figures:
    """Fig. 1B, Fig. 1D and the table of r(S^data | S^model, S^oracle | S^true) per scan."""
    input:
        oracle=expand("<results>/similarity/oracle/{scan}.h5", scan=SCANS),
        order="<results>/reliability/oracle_order.csv",
    output:
        fig1b=report(
            "<results>/figures/fig1b_model_similarity.png",
            caption="../report/fig1b_model_similarity.rst",
            category="1. Neural similarity (Fig. 1, 2)",
            subcategory="Fig. 1",
        ),
        fig1b_pdf="<results>/figures/fig1b_model_similarity.pdf",
        fig1d=report(
            "<results>/figures/fig1d_similarity_scatter.png",
            caption="../report/fig1d_similarity_scatter.rst",
            category="1. Neural similarity (Fig. 1, 2)",
            subcategory="Fig. 1",
        ),
        fig1d_pdf="<results>/figures/fig1d_similarity_scatter.pdf",
        table="<results>/tables/similarity_correlations.csv",
    log:
        "<logs>/figures/similarity_figures.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=10,
    params:
        scans=SCANS,
    script:
        "../scripts/similarity_figures.py"


rule fig2_similar_pairs:
    """Fig. 2: the least and most similar once-shown image pairs of S^model."""
    input:
        similarity="<results>/similarity/neural_model.h5",
        stimuli="<results>/data/stimuli.h5",
    output:
        png=report(
            "<results>/figures/fig2_similar_pairs.png",
            caption="../report/fig2_similar_pairs.rst",
            category="1. Neural similarity (Fig. 1, 2)",
            subcategory="Fig. 2",
        ),
        pdf="<results>/figures/fig2_similar_pairs.pdf",
    log:
        "<logs>/figures/fig2_similar_pairs.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n_pairs=3,
    script:
        "../scripts/fig2_similar_pairs.py"


final_outputs(
    "similarity",
    expand("<results>/similarity/{target}.h5", target=SIM_TARGETS)
    + [
        f"<results>/similarity/{grid.sweep_target(config)}.h5",
        "<results>/figures/fig1b_model_similarity.png",
        "<results>/figures/fig1d_similarity_scatter.png",
        "<results>/tables/similarity_correlations.csv",
    ]
    + (["<results>/figures/fig2_similar_pairs.png"] if "neural_model" in SIM_TARGETS else []),
)
