"""Logging for pipeline scripts: everything a stage prints goes to its rule's log file."""

from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup(log_path: str | None = None, level: int = logging.INFO) -> logging.Logger:
    """Send the ``neuroreg`` logger (and Python warnings) to ``log_path`` and stderr.

    Call once at the top of a script: ``log = logs.setup(snakemake.log[0])``.
    """
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


def get(name: str) -> logging.Logger:
    return logging.getLogger(f"neuroreg.{name}")
