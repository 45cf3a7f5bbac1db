"""Fig. 4A (and 4B): accuracy vs Gaussian noise level per condition, mean +- SEM over seeds, noisy examples below."""

from neuroreg import logs

log = logs.setup(snakemake.log[0])  # noqa: F821

from neuroreg.figures.robustness import mean_sem, noisy_examples, plot_noise_robustness, read_runs  # noqa: E402
from neuroreg.io import open_h5, require_key  # noqa: E402

sm = snakemake  # noqa: F821
noise = read_runs(sm.input.noise)
summary = mean_sem(noise, ["condition", "level"], "accuracy")
log.info("accuracy (mean, sem over seeds):\n%s", summary.to_string(index=False))
levels = sorted(noise["level"].unique())
noise_seed = int(noise["noise_seed"].iloc[0])
n_images = int(noise["n_images"].iloc[0])  # the first n_images test images were evaluated
k = min(int(sm.params.example_image), n_images - 1)
with open_h5(sm.input.cifar) as f:
    images = require_key(f, "test/images", sm.input.cifar)[:n_images]
examples = noisy_examples(images, levels, noise_seed, index=k)
plot_noise_robustness(summary, sm.output.png, examples=examples, title=sm.params.title,
                      chance=sm.params.chance)
