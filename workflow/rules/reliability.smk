# Stage 2: reliability (Eq. 1, 3-5). Per scan: signal, noise, SNR weights, oracle correlation,
# explainable variance, S^oracle; across scans: Delta S^scan / Delta S^repeat and Fig. 1A, 1C.
# Jobs: neuroreg.reliability.jobs.


rule reliability:
    """Oracle trials of one scan -> sigma_a, eta_a, w_a (Eq. 1), S^oracle (Eq. 3), Delta S^repeat (Eq. 5)."""
    input:
        scan="<results>/scans/{scan}.h5",
    output:
        h5="<results>/reliability/{scan}.h5",
        csv="<results>/reliability/{scan}.csv",
    log:
        "<logs>/reliability/{scan}.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        min_repeats=config["reliability"]["min_repeats"],
    script:
        "../scripts/reliability.py"


rule fluctuations:
    """All scans -> Delta S^scan (Eq. 4) over the scans sharing oracle images, Delta S^repeat, image order."""
    input:
        reliability=expand("<results>/reliability/{scan}.h5", scan=SCANS),
    output:
        h5="<results>/reliability/fluctuations.h5",
        order="<results>/reliability/oracle_order.csv",
    log:
        "<logs>/reliability/fluctuations.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        scans=SCANS,
    script:
        "../scripts/fluctuations.py"


rule fig1a_oracle_similarity:
    """Fig. 1A: S^oracle per scan, one image order (oracle_order.csv) in every panel."""
    input:
        reliability=expand("<results>/reliability/{scan}.h5", scan=SCANS),
        order="<results>/reliability/oracle_order.csv",
    output:
        png=report(
            "<results>/figures/fig1a_oracle_similarity.png",
            caption="../report/fig1a_oracle_similarity.rst",
            category="1. Neural similarity (Fig. 1, 2)",
            subcategory="Fig. 1",
        ),
        pdf="<results>/figures/fig1a_oracle_similarity.pdf",
    log:
        "<logs>/figures/fig1a_oracle_similarity.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        scans=SCANS,
    script:
        "../scripts/fig1a_oracle_similarity.py"


rule fig1c_fluctuations:
    """Fig. 1C: densities of Delta S^scan and Delta S^repeat on the same bins."""
    input:
        h5="<results>/reliability/fluctuations.h5",
    output:
        png=report(
            "<results>/figures/fig1c_fluctuations.png",
            caption="../report/fig1c_fluctuations.rst",
            category="1. Neural similarity (Fig. 1, 2)",
            subcategory="Fig. 1",
        ),
        pdf="<results>/figures/fig1c_fluctuations.pdf",
    log:
        "<logs>/figures/fig1c_fluctuations.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    script:
        "../scripts/fig1c_fluctuations.py"


rule snr_estimated_vs_true:
    """Virtual scans: estimated w_a against the true SNR of the simulated neurons."""
    input:
        csv=expand("<results>/reliability/{scan}.csv", scan=VIRTUAL_SCANS),
        h5=expand("<results>/reliability/{scan}.h5", scan=VIRTUAL_SCANS),
    output:
        png=report(
            "<results>/figures/snr_estimated_vs_true.png",
            caption="../report/snr_estimated_vs_true.rst",
            category="1. Neural similarity (Fig. 1, 2)",
            subcategory="Checks",
        ),
        pdf="<results>/figures/snr_estimated_vs_true.pdf",
    log:
        "<logs>/figures/snr_estimated_vs_true.log",
    conda:
        "../../envs/neuroreg.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=5,
    params:
        scans=VIRTUAL_SCANS,
    script:
        "../scripts/snr_estimated_vs_true.py"


final_outputs(
    "reliability",
    expand("<results>/reliability/{scan}.csv", scan=SCANS)
    + [
        "<results>/reliability/fluctuations.h5",
        "<results>/figures/fig1a_oracle_similarity.png",
        "<results>/figures/fig1c_fluctuations.png",
    ]
    + (["<results>/figures/snr_estimated_vs_true.png"] if VIRTUAL_SCANS else []),
)
