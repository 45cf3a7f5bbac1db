"""Rule `fig1a`: S^oracle of every scan, the shared images in the order of oracle_order.csv (Fig. 1A)."""
import numpy as np
import pandas as pd

from neuroreg import logs
from neuroreg.figures.reliability import plot_oracle_similarity
from neuroreg.reliability.io import oracle_order, read_reliability, restrict

log = logs.setup(snakemake.log[0])  # noqa: F821
order_ids = pd.read_csv(snakemake.input.order)["image_id"].to_numpy()  # noqa: F821
panels = []
for scan, path in zip(snakemake.params.scans, snakemake.input.reliability):  # noqa: F821
    r = read_reliability(path)
    ids, s = r["oracle_image_id"], r["oracle_similarity"]
    if np.isin(order_ids, ids).all():
        panels.append((scan, restrict(s, ids, order_ids)))
    else:  # a scan that did not see the shared images: its own images, its own clustering order
        o = oracle_order(s)
        panels.append((f"{scan}\n(other images, own order)", s[np.ix_(o, o)]))
        log.info("%s does not show the shared oracle images; plotted in its own order", scan)
plot_oracle_similarity(panels, snakemake.output.png, n_images=len(order_ids))  # noqa: F821
