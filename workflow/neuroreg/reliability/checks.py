"""The reliability stage's sanity check: do a scan's neurons carry a stimulus signal at all?

A scan whose responses do not depend on the image (a recording of noise, a broken alignment of
trials and images, the wrong file) passes every stage: the encoder fits noise, the similarity
target is noise, and co-training towards it is a shuffle control in disguise. The reliability
stage sees it first: the leave-one-out oracle correlation (each oracle trial against the mean of
the other repeats of its image, :func:`neuroreg.reliability.oracle.oracle_correlation`) is ~0 for
every neuron.

Threshold: the median over neurons must reach :data:`MIN_MEDIAN_ORACLE_CORRELATION` = 0.05.

* Without signal the median is 0 up to sampling error: about 1.25 / sqrt(neurons x oracle trials)
  (0.006 for 100 neurons x 50 images x 10 repeats, as in Antolik 2016; a pure-noise recording
  measured -0.03). 0.05 is many of those standard errors above 0 at any realistic size.
* With signal strength sigma and noise eta (w = sigma / eta, Eq. 1) and R repeats, the expected
  oracle correlation is w^2 / sqrt((w^2 + 1)(w^2 + 1 / (R - 1))): 0.05 at w = 0.135 for R = 10,
  0.175 for R = 4, i.e. the median neuron's stimulus-driven SD would be a seventh of its noise.
* Real scans are far above it: mouse V1 of Antolik 2016, median 0.31-0.39 per region; the
  paper's scans are of that kind; the virtual scans 0.25-0.6.

So a scan below 0.05 carries no usable signal (it is not merely noisy), and the check says so by name.
"""

from __future__ import annotations

import numpy as np

MIN_MEDIAN_ORACLE_CORRELATION = 0.05


def signal_check(scan: str, oracle_correlation: np.ndarray, threshold: float = MIN_MEDIAN_ORACLE_CORRELATION) -> dict:
    """``{"scan", "check", "passed", "value", "threshold", "message"}`` for one scan's oracle correlations (neurons,).

    ``message`` is the warning to show when the check fails ("" when it passes)."""
    r = np.asarray(oracle_correlation, dtype=np.float64)
    median = float(np.median(r)) if r.size else float("nan")
    passed = bool(np.isfinite(median) and median >= threshold)
    message = "" if passed else (
        f"scan {scan}: its neurons carry no stimulus signal: median oracle correlation {median:.3f} "
        f"< {threshold:g} over {r.size} neurons (repeats of an image are no more alike than trials of different "
        "images: noise, misaligned trials and images, or the wrong file?). Its encoder, similarity target and "
        "every model co-trained towards it are meaningless.")
    return {"scan": scan, "check": "signal", "passed": passed, "value": median, "threshold": threshold,
            "message": message}
