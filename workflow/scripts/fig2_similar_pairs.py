"""Fig. 2: the most and least similar once-shown image pairs of S^model (results/similarity/neural_model.h5)."""

import numpy as np

from neuroreg import logs

log = logs.setup(snakemake.log[0])  # noqa: F821

from neuroreg.figures.similarity import plot_similar_pairs  # noqa: E402
from neuroreg.io import open_h5, require_key  # noqa: E402
from neuroreg.similarity.matrix import extreme_pairs, read_similarity  # noqa: E402

sm = snakemake  # noqa: F821
k = int(sm.params.n_pairs)
target = read_similarity(sm.input.similarity, load=False, check_symmetry=False)
low, high = extreme_pairs(sm.input.similarity, k)
with open_h5(sm.input.stimuli) as f:
    rows = target.image_index
    needed = sorted({int(rows[i]) for p in low + high for i in p[:2]})
    imgs = dict(zip(needed, require_key(f, "images", sm.input.stimuli)[needed]))
pairs = [(int(rows[i]), int(rows[j]), s) for i, j, s in low + high]
log.info("pairs (stimulus rows, S): %s", pairs)
plot_similar_pairs(imgs, pairs, len(low), sm.output.png)
