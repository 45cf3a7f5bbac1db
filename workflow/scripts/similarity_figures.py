"""Stage 4: Fig. 1B, Fig. 1D and results/tables/similarity_correlations.csv from the per-scan oracle files."""

import h5py
import numpy as np
import pandas as pd

from neuroreg import logs

log = logs.setup(snakemake.log[0])  # noqa: F821

from neuroreg.figures.similarity import plot_model_similarity, plot_similarity_scatter  # noqa: E402
from neuroreg.io import atomic_output, open_h5  # noqa: E402
from neuroreg.similarity.targets import trial_pairs  # noqa: E402

sm = snakemake  # noqa: F821
comps = {}
for scan, path in zip(sm.params.scans, sm.input.oracle):
    with open_h5(path) as f:
        comps[scan] = {k: f[k][()] for k in f} | {"attrs": dict(f.attrs)}
order_ids = pd.read_csv(sm.input.order)["image_id"].to_numpy()

panels = []
for scan, c in comps.items():
    ids = c["oracle_image_id"]
    pos = {int(i): k for k, i in enumerate(ids)}
    keep = [pos[int(i)] for i in order_ids if int(i) in pos]
    keep += [k for k in range(len(ids)) if k not in set(keep)]  # images outside the shared group go last
    panels.append((scan, c["model"][np.ix_(keep, keep)]))
plot_model_similarity(panels, sm.output.fig1b)

xd, yd, xm, ym = [], [], [], []
for c in comps.values():
    d, o = trial_pairs(c["data_trials"], c["trial_oracle"], c["oracle"])
    yd.append(d), xd.append(o)
    iu = np.triu_indices(len(c["oracle_image_id"]), k=1)
    ym.append(c["model"][iu]), xm.append(c["oracle"][iu])
xd, yd, xm, ym = map(np.concatenate, (xd, yd, xm, ym))
r_data, r_model = np.corrcoef(xd, yd)[0, 1], np.corrcoef(xm, ym)[0, 1]
plot_similarity_scatter((xd, yd), (xm, ym), r_data, r_model, sm.output.fig1d)

cols = ["r_data_oracle", "r_model_oracle", "r_data_true", "r_model_true", "r_oracle_true"]
rows = [{"scan": s, **{k: c["attrs"].get(k, np.nan) for k in cols}} for s, c in comps.items()]
table = pd.DataFrame(rows)
mean = {"scan": "mean", **table[cols].mean().to_dict()}
pooled = {"scan": "pooled", "r_data_oracle": r_data, "r_model_oracle": r_model}
table = pd.concat([table, pd.DataFrame([mean, pooled])], ignore_index=True)
with atomic_output(sm.output.table) as tmp:
    table.to_csv(tmp, index=False, float_format="%.4f")
log.info("\n%s", table.to_string())
