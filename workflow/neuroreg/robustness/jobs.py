"""What the rules of stage 6 (``workflow/rules/robustness.smk``) run, one function per rule.

Each takes the rule's ``snakemake`` object; run one by hand by asking Snakemake for its output,
e.g. ``snakemake --cores 2 results/default/robustness/none/alpha0/seed0/noise.csv --forcerun noise_robustness``.
The Brendel & Bethge workers (``spawn``) re-import the calling script as ``__mp_main__``, so the
scripts call these functions under ``if __name__ == "__main__"``.
"""

from __future__ import annotations

import logging
import os
import time

from ..logs import job

log = logging.getLogger(__name__)


@job
def noise_robustness(smk) -> None:
    """Accuracy of one co-trained model on the CIFAR test set under additive Gaussian noise (Fig. 4, Fig. 6)."""
    import torch

    from ..devices import select_device
    from . import io, noise

    cfg = smk.params.robustness
    torch.set_num_threads(smk.threads)
    dev = select_device(cfg["device"])
    model = io.load_model(smk.input.model, smk.input.metrics).to(dev)
    images, labels = io.load_test(smk.input.cifar, cfg["n_noise"])  # null = the whole test set
    df = noise.noise_accuracy(model, images, labels, cfg["noise_levels"], cfg["noise_seed"],
                              batch_size=cfg["batch_size"], device=dev)
    io.write_csv(df, smk.output.noise)
    log.info("%d test images on %s:\n%s", len(labels), dev, df.to_string(index=False))


@job
def adversarial_robustness(smk) -> None:
    """Minimal adversarial perturbations (L0, L1, L2, Linf) of one co-trained model on the first
    ``robustness.n_adversarial`` CIFAR test images, with the sanity checks (section 4.2, Fig. 5, 7)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import numpy as np
    import torch

    from ..devices import select_device
    from ..io import write_json
    from . import checks, io, minimal

    cfg = smk.params.robustness
    torch.set_num_threads(smk.threads)
    dev = select_device(cfg["device"])
    settings = minimal.Settings.from_config(cfg, processes=cfg["processes"] or smk.threads, seed=int(smk.params.seed))
    model = io.load_model(smk.input.model, smk.input.metrics).to(dev)
    images, labels = io.load_test(smk.input.cifar, cfg["n_adversarial"])
    x = images.float().div_(255.0).to(dev)
    y = labels.to(dev)
    log.info("%d images, settings %s, on %s", len(x), settings, dev)
    t0 = time.time()
    result = minimal.evaluate(model, x, y, settings, device=dev)
    summary, per_image, steps = minimal.tables(result, np.arange(len(x)))
    report = checks.run_checks(model, x, y, result, device=dev, tolerance=settings.masking_tolerance,
                               max_fraction=settings.masking_max_fraction)
    report["seconds"] = time.time() - t0
    io.write_csv(summary, smk.output.summary)
    io.write_csv(per_image, smk.output.images)
    io.write_csv(steps, smk.output.steps)
    write_json(report, smk.output.checks)
    log.info("%.0f s; checks %s\n%s", report["seconds"], "passed" if report["passed"] else
             "FAILED: " + ", ".join(report["failed"]), summary.to_string(index=False))
