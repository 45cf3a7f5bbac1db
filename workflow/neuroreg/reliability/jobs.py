"""What the rules of stage 2 (``workflow/rules/reliability.smk``) run, one function per rule.

Each takes the rule's ``snakemake`` object; run one by hand by asking Snakemake for its output,
e.g. ``snakemake --cores 1 results/default/reliability/v1_a1_s1.h5 --forcerun reliability``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..figures.reliability import plot_fluctuations, plot_oracle_similarity, plot_snr
from ..logs import job
from .checks import signal_check
from .results import oracle_order, pooled_delta_repeat, read_fluctuations, read_reliability, restrict, run_fluctuations
from .results import run_reliability

log = logging.getLogger(__name__)


@job
def reliability(smk) -> None:
    """results/scans/{scan}.h5 -> results/reliability/{scan}.h5 + .csv (Eq. 1, 3, 5)."""
    r = run_reliability(smk.input.scan, smk.output.h5, smk.output.csv, min_repeats=smk.params.min_repeats,
                        name=smk.wildcards.scan)
    w = r["snr_weight"]
    log.info("%s: %d neurons, %d oracle images (repeats %d-%d)", smk.input.scan, len(w), len(r["oracle_image_id"]),
             r["oracle_repeats"].min(), r["oracle_repeats"].max())
    log.info("w_a: median %.3f, range [%.3f, %.3f], %d neurons with w_a = 0 (no signal or dead trace)",
             np.median(w), w.min(), w.max(), int((w == 0).sum()))
    log.info("oracle correlation: median %.3f, range [%.3f, %.3f]; explainable variance median %.3f",
             np.median(r["oracle_correlation"]), r["oracle_correlation"].min(), r["oracle_correlation"].max(),
             np.median(r["explainable_variance"]))
    log.info("S^oracle diagonal mean %.3f; Delta S^repeat SD %.4f",
             np.diag(r["oracle_similarity"]).mean(), r["delta_repeat"].std())
    check = signal_check(smk.wildcards.scan, r["oracle_correlation"])
    if not check["passed"]:  # in the log, on the terminal and (rule run_summary) on the report's first page
        log.warning("%s", check["message"])


@job
def fluctuations(smk) -> None:
    """Every scan's reliability file -> fluctuations.h5 (Eq. 4, 5) + oracle_order.csv."""
    paths = dict(zip(smk.params.scans, smk.input.reliability))
    fl = run_fluctuations(paths, smk.output.h5, smk.output.order)
    log.info("scans sharing oracle images: %s (%d images); status %s %s", fl["scans"], len(fl["image_id"]),
             fl["status"], fl["reason"])
    if fl["delta_scan"].size:
        log.info("SD Delta S^scan %.4f", fl["delta_scan"].std())
    for s, d in fl["delta_repeat"].items():
        log.info("SD Delta S^repeat %s %.4f", s, d.std())


@job
def fig1a_oracle_similarity(smk) -> None:
    """Fig. 1A: S^oracle of every scan, the shared images in the order of oracle_order.csv."""
    order_ids = pd.read_csv(smk.input.order)["image_id"].to_numpy()
    panels = []
    for scan, path in zip(smk.params.scans, smk.input.reliability):
        r = read_reliability(path)
        ids, s = r["oracle_image_id"], r["oracle_similarity"]
        if np.isin(order_ids, ids).all():
            panels.append((scan, restrict(s, ids, order_ids)))
        else:  # a scan that did not see the shared images: its own images, its own clustering order
            o = oracle_order(s)
            panels.append((f"{scan}\n(other images, own order)", s[np.ix_(o, o)]))
            log.info("%s does not show the shared oracle images; plotted in its own order", scan)
    plot_oracle_similarity(panels, smk.output.png, n_images=len(order_ids))


@job
def fig1c_fluctuations(smk) -> None:
    """Fig. 1C: histograms of Delta S^scan (Eq. 4) and Delta S^repeat (Eq. 5)."""
    fl = read_fluctuations(smk.input.h5)
    group = fl["scans"] if fl["delta_scan"].size else list(fl["delta_repeat"])
    repeat = pooled_delta_repeat(fl)
    note = (f"scans: {', '.join(group)}; {len(fl['image_id'])} shared images" if fl["delta_scan"].size
            else "no two scans share oracle images: Eq. 4 undefined")
    plot_fluctuations(fl["delta_scan"], repeat, smk.output.png, note=note)
    log.info("SD Delta S^scan %.4f, SD Delta S^repeat %.4f (%s)",
             fl["delta_scan"].std() if fl["delta_scan"].size else float("nan"), repeat.std(), note)


@job
def snr_estimated_vs_true(smk) -> None:
    """Virtual scans: estimated w_a (Eq. 1) against the true SNR of the simulated neurons."""
    est, true, repeats = {}, {}, []
    for scan, path, h5 in zip(smk.params.scans, smk.input.csv, smk.input.h5):
        repeats.append(read_reliability(h5)["oracle_repeats"])
        df = pd.read_csv(path)
        if "true_snr" not in df:
            raise ValueError(f"{path}: true_snr: missing (not a virtual scan with ground_truth/snr?)")
        est[scan], true[scan] = df["snr_weight"].to_numpy(), df["true_snr"].to_numpy()
    r = np.concatenate(repeats)
    plot_snr(est, true, smk.output.png, repeats=float(len(r) / (1 / r).sum()))  # harmonic mean of the repeats
    for scan in est:
        log.info("%s: Pearson r(w_a, true SNR) = %.3f", scan, np.corrcoef(est[scan], true[scan])[0, 1])
