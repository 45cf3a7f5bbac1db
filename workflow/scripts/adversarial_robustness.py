"""Rule adversarial_robustness: minimal adversarial perturbations (L0, L1, L2, Linf) of one
co-trained model on the first ``robustness.n_adversarial`` CIFAR test images, with the
sanity checks (section 4.2, Fig. 5, Fig. 7).

Outside Snakemake: ``python workflow/scripts/robustness_adversarial.py TARGET ALPHA SEED``.
"""

if "snakemake" not in globals():  # run by hand: a stand-in for the snakemake object
    import sys
    from types import SimpleNamespace

    import yaml

    _cfg = yaml.safe_load(open("config.yaml"))
    _t, _a, _s = sys.argv[1:4]
    _d, _o = f"results/cotrain/{_t}/alpha{_a}/seed{_s}", f"results/robustness/{_t}/alpha{_a}/seed{_s}"
    snakemake = SimpleNamespace(
        input=SimpleNamespace(cifar="results/data/cifar10.h5", model=f"{_d}/model.pt", metrics=f"{_d}/metrics.json"),
        output=SimpleNamespace(summary=f"{_o}/adversarial.csv", images=f"{_o}/adversarial_images.csv",
                               steps=f"{_o}/adversarial_steps.csv", checks=f"{_o}/checks.json"),
        params=SimpleNamespace(robustness=_cfg["robustness"], master_seed=_cfg["seed"]),
        log=[f"logs/robustness/adversarial/{_t}/alpha{_a}/seed{_s}.log"],
        threads=2,
    )

import os  # noqa: E402

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def main(snakemake):
    """Everything runs here: the Brendel & Bethge worker processes (spawn) re-import this file
    as ``__mp_main__`` and must not run the evaluation again."""
    from neuroreg import logs

    log = logs.setup(snakemake.log[0])

    import time

    import numpy as np
    import torch

    from neuroreg.devices import select_device
    from neuroreg.io import write_json
    from neuroreg.robustness import checks, io, minimal

    cfg = snakemake.params.robustness
    torch.set_num_threads(snakemake.threads)
    dev = select_device(cfg.get("device", "auto"))
    settings = minimal.Settings.from_config(cfg, processes=cfg.get("processes") or snakemake.threads,
                                            seed=int(snakemake.params.master_seed))
    model = io.load_model(snakemake.input.model, snakemake.input.metrics).to(dev)
    images, labels = io.load_test(snakemake.input.cifar, cfg["n_adversarial"])
    x = images.float().div_(255.0).to(dev)
    y = labels.to(dev)
    log.info("%d images, settings %s, on %s", len(x), settings, dev)
    t0 = time.time()
    result = minimal.evaluate(model, x, y, settings, device=dev)
    summary, per_image, steps = minimal.tables(result, np.arange(len(x)))
    report = checks.run_checks(model, x, y, result, device=dev, tolerance=settings.masking_tolerance,
                               max_fraction=settings.masking_max_fraction)
    report["seconds"] = time.time() - t0
    io.write_csv(summary, snakemake.output.summary)
    io.write_csv(per_image, snakemake.output.images)
    io.write_csv(steps, snakemake.output.steps)
    write_json(report, snakemake.output.checks)
    log.info("%.0f s; checks %s\n%s", report["seconds"], "passed" if report["passed"] else "FAILED",
             summary.to_string(index=False))


if __name__ == "__main__":
    main(snakemake)
