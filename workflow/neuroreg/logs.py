"""Logging for pipeline jobs: everything a stage prints goes to its rule's log file.

Modules log with ``log = logging.getLogger(__name__)`` (children of the ``neuroreg`` logger);
the function a rule's script calls is decorated with :func:`job`, which sends them to the
rule's ``log:`` file and to stderr.
"""

from __future__ import annotations

import functools
import logging
import sys
from pathlib import Path


def setup(log_path: str | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send the ``neuroreg`` logger (and Python warnings) to ``log_path`` and stderr."""
    logger = logging.getLogger("neuroreg")
    logger.setLevel(level)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    handlers = [logging.StreamHandler(sys.stderr)]
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_path, mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").handlers = logger.handlers
    return logger


def job(func):
    """Decorator for the function a rule runs: ``func(snakemake)`` with logging sent to the rule's log file."""

    @functools.wraps(func)
    def run(smk):
        setup(smk.log[0] if len(smk.log) else None)
        return func(smk)

    return run
