"""Rule `encoder`: results/scans/{scan}.h5 -> results/encoders/{scan}/{model.pt, metrics.json, predictions.h5}.

Outside snakemake: python workflow/scripts/encoder.py SCAN.h5 OUT_DIR [SEED] [CONFIG.yaml]
(the encoder section of CONFIG.yaml, default ./config.yaml).
"""
import sys
from pathlib import Path

from neuroreg import logs
from neuroreg.encoder.run import train_scan

if "snakemake" in globals():
    log = logs.setup(snakemake.log[0])  # noqa: F821
    scan_path = snakemake.input.scan  # noqa: F821
    out = snakemake.output  # noqa: F821
    model, metrics, predictions = out.model, out.metrics, out.predictions
    cfg, seed, threads = snakemake.params.encoder, snakemake.params.seed, snakemake.threads  # noqa: F821
else:
    import yaml

    log = logs.setup(None)
    scan_path, out_dir = sys.argv[1], Path(sys.argv[2])
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    cfg = yaml.safe_load(Path(sys.argv[4] if len(sys.argv) > 4 else "config.yaml").read_text())["encoder"]
    model, metrics, predictions = out_dir / "model.pt", out_dir / "metrics.json", out_dir / "predictions.h5"
    threads = None

m = train_scan(scan_path, model, metrics, predictions, cfg, seed, threads=threads)
log.info("%s: %d neurons, %d epochs (best %d), %.0f s on %s", m["scan"], m["n_neurons"], m["n_epochs"],
         m["best_epoch"], m["seconds"], m["device"])
log.info("test correlation v_a %.3f, oracle-mean correlation %s, FEVE %s", m["mean_test_correlation"],
         m.get("mean_oracle_mean_correlation"), m.get("mean_feve"))
if m.get("mean_ground_truth_correlation") is not None:
    log.info("corr with noise-free responses: model %.3f (oracle images %.3f) vs single trials %s",
             m["mean_ground_truth_correlation"], m["mean_ground_truth_correlation_oracle"],
             m.get("mean_single_trial_ground_truth_correlation"))
