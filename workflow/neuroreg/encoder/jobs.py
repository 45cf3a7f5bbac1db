"""What the rule of stage 3 (``workflow/rules/encoder.smk``) runs.

Run it by hand by asking Snakemake for its output, e.g.
``snakemake --cores 2 results/default/encoders/v1_a1_s1/metrics.json --forcerun encoder``.
"""

from __future__ import annotations

import logging

from ..logs import job
from .run import train_scan

log = logging.getLogger(__name__)


@job
def encoder(smk) -> None:
    """results/scans/{scan}.h5 -> results/encoders/{scan}/{model.pt, metrics.json, predictions.h5}."""
    out = smk.output
    m = train_scan(smk.input.scan, out.model, out.metrics, out.predictions, smk.params.encoder, smk.params.seed,
                   threads=smk.threads)
    log.info("%s: %d neurons, %d epochs (best %d), %.0f s on %s", m["scan"], m["n_neurons"], m["n_epochs"],
             m["best_epoch"], m["seconds"], m["device"])
    log.info("test correlation v_a %.3f, oracle-mean correlation %s, FEVE %s", m["mean_test_correlation"],
             m.get("mean_oracle_mean_correlation"), m.get("mean_feve"))
    if m.get("mean_ground_truth_correlation") is not None:
        log.info("corr with noise-free responses: model %.3f (oracle images %.3f) vs single trials %s",
                 m["mean_ground_truth_correlation"], m["mean_ground_truth_correlation_oracle"],
                 m.get("mean_single_trial_ground_truth_correlation"))
