"""Progress lines of long jobs (co-training, encoders, attacks): done/total, rate and ETA at a bounded interval.

A :class:`Progress` counts units of work (optimizer steps, attack steps) towards a known total and
logs one line when

* at least ``every_s`` (30 s) have passed since the last line and another ``fraction`` (10 %) of the
  total is done, or
* ``max_s`` (2 min) have passed since the last line, whatever was done;

and a last line when the total is reached (if it logged any). So a job is never silent for more than
2 minutes, logs at most one line every 30 s and about ten lines unless it runs for more than 20
minutes, and a job shorter than 30 s logs none. The rate is measured from the first update on (the
first unit, which includes warm-up, is not counted), so the ETA is ``remaining / rate``. Lines go
to the job's log and to the terminal (:data:`neuroreg.logs.PROGRESS`).
"""

from __future__ import annotations

import logging
import time

from .logs import PROGRESS

log = logging.getLogger(__name__)


def duration(seconds: float) -> str:
    """A duration for people: '45 s', '12 min', '3 h 20 min', '2.5 days'."""
    if seconds != seconds or seconds == float("inf"):  # NaN or inf
        return "unknown"
    s = max(0.0, float(seconds))
    if s < 90:
        return f"{s:.0f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        h, m = divmod(round(s / 60), 60)
        return f"{h} h {m} min" if m else f"{h} h"
    return f"{s / 86400:.1f} days"


class Progress:
    """Progress of ``total`` units of ``what`` (module docstring for when a line is logged).

    ``clock`` is injectable for tests; ``logger`` is the job's logger (lines are INFO records marked
    for the terminal)."""

    def __init__(self, what: str, total: int, unit: str = "step", *, logger: logging.Logger | None = None,
                 every_s: float = 30.0, fraction: float = 0.1, max_s: float = 120.0, clock=time.monotonic):
        self.what, self.total, self.unit = what, max(int(total), 0), unit
        self.logger = logger or log
        self.every_s, self.fraction, self.max_s, self.clock = every_s, fraction, max_s, clock
        self.done = 0
        self._t_first = None  # time of the first update: the rate is measured after it
        self._done_first = 0
        self._t_last = clock()
        self._done_last = 0
        self.lines = 0

    def rate(self) -> float:
        """Units per second since the first update (0 before the second)."""
        if self._t_first is None:
            return 0.0
        dt = self.clock() - self._t_first
        return (self.done - self._done_first) / dt if dt > 0 else 0.0

    def eta(self) -> float:
        """Seconds left at the current rate (inf while unknown)."""
        r = self.rate()
        return (self.total - self.done) / r if r > 0 else float("inf")

    def update(self, n: int = 1, note: str = "") -> bool:
        """Count ``n`` more units; log a line if one is due (returns whether one was logged)."""
        self.done += n
        now = self.clock()
        if self._t_first is None:
            self._t_first, self._done_first = now, self.done
        since = now - self._t_last
        enough = self.done - self._done_last >= self.fraction * self.total
        finished = self.done >= self.total and self._done_last < self.total and self.lines > 0
        due = self.done > self._done_first and ((since >= self.every_s and enough) or since >= self.max_s or finished)
        if not due:
            return False
        self._t_last, self._done_last = now, self.done
        self.lines += 1
        self.logger.info("%s", self.line(note), extra={PROGRESS: True})
        return True

    def line(self, note: str = "") -> str:
        pct = 100.0 * self.done / self.total if self.total else 100.0
        r = self.rate()
        speed = (f"{r:.3g} {self.unit}s/s" if r >= 1 else f"{1 / r:.3g} s/{self.unit}") if r > 0 else "rate unknown"
        left = "done" if self.done >= self.total else f"ETA {duration(self.eta())}"
        head = f"{self.what}" + (f" {note}" if note else "")
        return f"{head}: {self.done}/{self.total} {self.unit}s ({pct:.0f} %), {speed}, {left}"
