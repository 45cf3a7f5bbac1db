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

from ..conditions import Run
from ..files import write_csv
from ..logs import job

log = logging.getLogger(__name__)


def recorded_run(smk) -> Run:
    """The run the job's model recorded in its metrics.json (:meth:`Run.recorded`), checked against the job's
    wildcards: what every table of the job carries (:meth:`Run.record`)."""
    wc = getattr(smk, "wildcards", None)
    expected = Run(wc.condition, wc.alpha, wc.seed) if wc is not None and hasattr(wc, "seed") else None
    return Run.recorded(smk.input.metrics, expected)


@job
def noise_robustness(smk) -> None:
    """Accuracy of one co-trained model on the CIFAR test set under additive Gaussian noise (Fig. 4, Fig. 6), per
    BatchNorm variant (``robustness.bn``: column ``bn``)."""
    import pandas as pd
    import torch

    from ..devices import select_device
    from .. import noise
    from . import loading

    cfg = smk.params.robustness
    torch.set_num_threads(smk.threads)
    dev = select_device(cfg["device"], key="robustness.device")
    models = loading.load_variants(smk.input.model, smk.input.metrics, smk.input.cifar, cfg, dev)
    images, labels = loading.load_test(smk.input.cifar, cfg["n_noise"])  # null = the whole test set
    frames = []
    for name, model in models.items():
        df = noise.noise_accuracy(model, images, labels, cfg["noise_levels"], cfg["noise_seed"],
                                  batch_size=cfg["batch_size"], device=dev)
        df.insert(0, "bn", name)
        frames.append(df)
    df = recorded_run(smk).record(pd.concat(frames, ignore_index=True))
    write_csv(df, smk.output.noise)
    log.info("%d test images on %s:\n%s", len(labels), dev, df.to_string(index=False))


@job
def adversarial_robustness(smk) -> None:
    """Minimal adversarial perturbations (L0, L1, L2, Linf) of one co-trained model on the first
    ``robustness.n_adversarial`` CIFAR test images, per BatchNorm variant (``robustness.bn``), with the sanity
    checks (section 4.2, Fig. 5, 7); every table has a ``bn`` column, checks.json one report per variant."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    import numpy as np
    import pandas as pd
    import torch

    from ..devices import select_device
    from ..files import write_json
    from . import checks, loading, minimal

    cfg = smk.params.robustness
    torch.set_num_threads(smk.threads)
    dev = select_device(cfg["device"], key="robustness.device")
    settings = minimal.Settings.from_config(cfg, processes=cfg["processes"] or smk.threads, seed=int(smk.params.seed))
    models = loading.load_variants(smk.input.model, smk.input.metrics, smk.input.cifar, cfg, dev)
    images, labels = loading.load_test(smk.input.cifar, cfg["n_adversarial"])
    x = images.float().div_(255.0).to(dev)
    y = labels.to(dev)
    log.info("%d images, BatchNorm %s, settings %s, on %s", len(x), list(models), settings, dev)
    t0 = time.time()
    tables, reports = [], {}
    for k, (name, model) in enumerate(models.items()):
        result = minimal.evaluate(model, x, y, settings.for_variant(k), device=dev)  # later variants: lighter
        tables.append([t.assign(bn=name) for t in minimal.tables(result, np.arange(len(x)))])
        reports[name] = checks.run_checks(model, x, y, result, device=dev, tolerance=settings.masking_tolerance,
                                          max_fraction=settings.masking_max_fraction,
                                          convergence_tolerance=settings.convergence["tolerance"])
    report = checks.combine(reports)
    report["seconds"] = time.time() - t0
    summary, per_image, steps = (pd.concat([t[k] for t in tables], ignore_index=True) for k in range(3))
    run = recorded_run(smk)
    summary, per_image, steps = (run.record(loading.bn_first(t)) for t in (summary, per_image, steps))
    report = {"run": run.values(), **report}
    write_csv(summary, smk.output.summary)
    write_csv(per_image, smk.output.images)
    write_csv(steps, smk.output.steps)
    write_json(report, smk.output.checks)
    log.info("%.0f s; checks %s\n%s", report["seconds"], "passed" if report["passed"] else
             "FAILED: " + ", ".join(report["failed"]), summary.to_string(index=False))


@job
def corrupt_cifar(smk) -> None:
    """results/data/cifar10c.h5: every corruption x severity of ``robustness.corruptions`` on the first n
    evaluation images, generated once from the RGB images (or read from the real CIFAR-10-C), grayscale."""
    import numpy as np

    from ..ingest.cifar import grayscale_hwc, load_cifar, load_cifar_h5, validation_split
    from ..files import InputError
    from . import corruption_sets as S

    cfg, n_val = smk.params.corruptions, smk.params.n_validation
    gray = load_cifar_h5(smk.input.cifar, splits=("test",), n_test=cfg["n_images"])
    clean, labels = gray["test_images"], gray["test_labels"]
    t0 = time.time()
    if cfg["cifar10c"]:
        if n_val:
            raise InputError("config", "robustness.corruptions.cifar10c", "CIFAR-10-C corrupts the CIFAR-10 test "
                             "set; with data.evaluation_split: validation set it to null (the corruptions are generated)")
        sets = S.make_sets(None, labels, cfg, reader=lambda name, sev: S.load_cifar10c(cfg["cifar10c"], name, sev,
                                                                                       len(labels)))
        source = f"CIFAR-10-C files: {cfg['cifar10c']}"
    else:
        raw = load_cifar(smk.input.source, rgb=True)
        if n_val:
            raw = validation_split(raw, n_val)
        rgb = raw["test"]["images"][: len(labels)]
        if not np.array_equal(grayscale_hwc(rgb), clean) or not np.array_equal(raw["test"]["labels"][: len(labels)], labels):
            raise InputError(smk.input.source, None, f"its evaluation images are not those of {smk.input.cifar} "
                             "(made from another CIFAR-10 copy or evaluation_split?): rerun rule prepare_cifar")
        sets = S.make_sets(rgb, labels, cfg)
        source = "generated: the constants of CIFAR-10-C's make_cifar_c.py (neuroreg.robustness.corruptions)"
    attrs = {"source": source, "seed": int(cfg["seed"]), "n_images": len(labels), "corruptions": list(cfg["names"]),
             "severities": [int(s) for s in cfg["severities"]], "grayscale": "ITU-R 601-2 luma, after corrupting RGB",
             "frost": "photographs: " + str(cfg["frost_images"]) if cfg["frost_images"] else "procedural texture"}
    S.write_sets(smk.output[0], sets, labels, attrs)
    log.info("%d sets of %d images (%s) in %.0f s", len(sets), len(labels), source, time.time() - t0)


@job
def corruption_robustness(smk) -> None:
    """Accuracy of one co-trained model on every corruption x severity set of results/data/cifar10c.h5."""
    import numpy as np
    import torch

    from ..devices import select_device
    from ..ingest.cifar import load_cifar_h5
    from ..files import InputError
    from . import corruption_sets as S
    from . import loading

    cfg = smk.params.robustness
    torch.set_num_threads(smk.threads)
    dev = select_device(cfg["device"], key="robustness.device")
    model = loading.load_model(smk.input.model, smk.input.metrics).to(dev)
    labels, sets = S.read_sets(smk.input.corrupted)
    gray = load_cifar_h5(smk.input.cifar, splits=("test",), n_test=len(labels))
    if not np.array_equal(gray["test_labels"], labels):
        raise InputError(smk.input.corrupted, "labels", f"not the first {len(labels)} labels of {smk.input.cifar}")
    t0 = time.time()
    df = S.accuracy_table(model, gray["test_images"], labels, sets, batch_size=cfg["batch_size"], device=dev)
    write_csv(recorded_run(smk).record(df), smk.output.corruptions)
    per_family = df[df.severity > 0].groupby("family", sort=False)["accuracy"].mean()
    log.info("%d sets x %d images in %.1f s on %s; clean %.3f, mean %.3f; per family %s", len(sets), len(labels),
             time.time() - t0, dev, df.accuracy.iloc[0], df.accuracy.iloc[1:].mean(), per_family.round(3).to_dict())


@job
def frequency_probe(smk) -> None:
    """The low-frequency probe of one co-trained model (as trained) -> frequency.csv (:mod:`.frequency`)."""
    import torch

    from ..devices import select_device
    from . import frequency, loading

    cfg, fq = smk.params.robustness, smk.params.frequency
    torch.set_num_threads(smk.threads)
    dev = select_device(cfg["device"], key="robustness.device")
    model = loading.load_model(smk.input.model, smk.input.metrics).to(dev)
    images, labels = loading.load_test(smk.input.cifar, fq["n_images"])
    t0 = time.time()
    df = frequency.frequency_accuracy(model, images, labels, fq["cutoffs"], batch_size=cfg["batch_size"], device=dev)
    write_csv(recorded_run(smk).record(df), smk.output.frequency)
    log.info("%d images, cutoffs %s, %.1f s: clean %.3f, low-frequency reliance %.3f\n%s", len(labels), fq["cutoffs"],
             time.time() - t0, df.accuracy.iloc[0], frequency.low_frequency_reliance(df), df.to_string(index=False))


@job
def brain_likeness(smk) -> None:
    """How brain-like one model's representation is on the oracle images (neuroreg.robustness.brain)."""
    import json

    import torch

    from . import brain, loading

    torch.set_num_threads(smk.threads)
    model = loading.load_model(smk.input.model, smk.input.metrics)
    gamma = json.loads(open(smk.input.metrics).read())["gamma"]
    df = recorded_run(smk).record(brain.brain_likeness(model, gamma, smk.input.stimuli, list(smk.input.oracle)))
    write_csv(df, smk.output[0])
    log.info("\n%s", df.to_string(index=False))
