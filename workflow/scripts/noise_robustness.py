"""Rule noise_robustness: accuracy of one co-trained model on the whole CIFAR test set under
additive Gaussian noise (Fig. 4, Fig. 6).

Outside Snakemake: ``python workflow/scripts/robustness_noise.py TARGET ALPHA SEED`` (reads config.yaml).
"""

if "snakemake" not in globals():  # run by hand: a stand-in for the snakemake object
    import sys
    from types import SimpleNamespace

    import yaml

    _cfg = yaml.safe_load(open("config.yaml"))
    _t, _a, _s = sys.argv[1:4]
    _d = f"results/cotrain/{_t}/alpha{_a}/seed{_s}"
    snakemake = SimpleNamespace(
        input=SimpleNamespace(cifar="results/data/cifar10.h5", model=f"{_d}/model.pt", metrics=f"{_d}/metrics.json"),
        output=SimpleNamespace(noise=f"results/robustness/{_t}/alpha{_a}/seed{_s}/noise.csv"),
        params=SimpleNamespace(robustness=_cfg["robustness"]),
        log=[f"logs/robustness/noise/{_t}/alpha{_a}/seed{_s}.log"],
        threads=2,
    )

from neuroreg import logs  # noqa: E402

log = logs.setup(snakemake.log[0])

import torch  # noqa: E402

from neuroreg.devices import select_device  # noqa: E402
from neuroreg.robustness import io, noise  # noqa: E402

cfg = snakemake.params.robustness
torch.set_num_threads(snakemake.threads)
dev = select_device(cfg.get("device", "auto"))
model = io.load_model(snakemake.input.model, snakemake.input.metrics).to(dev)
images, labels = io.load_test(snakemake.input.cifar, cfg.get("n_noise"))  # null = the whole test set
df = noise.noise_accuracy(model, images, labels, cfg["noise_levels"], cfg["noise_seed"],
                          batch_size=cfg.get("batch_size", 500), device=dev)
io.write_csv(df, snakemake.output.noise)
log.info("%d test images on %s:\n%s", len(labels), dev, df.to_string(index=False))
