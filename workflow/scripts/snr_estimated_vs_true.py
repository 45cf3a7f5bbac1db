"""Rule `snr_estimated_vs_true`: estimated w_a (Eq. 1) vs the true SNR of the virtual neurons."""
import numpy as np
import pandas as pd

from neuroreg import logs
from neuroreg.figures.reliability import plot_snr
from neuroreg.reliability.io import read_reliability

log = logs.setup(snakemake.log[0])  # noqa: F821
est, true, repeats = {}, {}, []
for scan, path, h5 in zip(snakemake.params.scans, snakemake.input.csv, snakemake.input.h5):  # noqa: F821
    repeats.append(read_reliability(h5)["oracle_repeats"])
    df = pd.read_csv(path)
    if "true_snr" not in df:
        raise ValueError(f"{path}: true_snr: missing (not a virtual scan with ground_truth/snr?)")
    est[scan], true[scan] = df["snr_weight"].to_numpy(), df["true_snr"].to_numpy()
r = np.concatenate(repeats)
plot_snr(est, true, snakemake.output.png, repeats=float(len(r) / (1 / r).sum()))  # noqa: F821  harmonic mean
for scan in est:
    log.info("%s: Pearson r(w_a, true SNR) = %.3f", scan, np.corrcoef(est[scan], true[scan])[0, 1])
