"""Logging for pipeline jobs: everything a stage prints goes to its rule's log file, and the log holds the error.

Modules log with ``log = logging.getLogger(__name__)`` (children of the ``neuroreg`` logger);
the function a rule's script calls is decorated with :func:`job`, which

* sends every record to the rule's ``log:`` file, and to the terminal (stderr) only warnings,
  errors and progress lines (records logged with ``extra={PROGRESS: True}``, :mod:`neuroreg.progress`),
  so a run of many jobs stays readable and the log keeps the details;
* writes an uncaught exception to the log, the message first and the traceback after, and one
  line to the terminal that names the log; run by Snakemake, the job then exits with status 1
  without a second traceback (called from Python, the exception propagates);
* turns Ctrl-C into one line in the log and exit status 130, without a traceback.
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from pathlib import Path

#: ``extra={PROGRESS: True}``: a record the terminal shows as well (progress lines).
PROGRESS = "neuroreg_progress"
#: ``extra={FILE_ONLY: True}``: a record for the log file only (a traceback).
FILE_ONLY = "neuroreg_file_only"
#: ``extra={TERMINAL_ONLY: True}``: a record for the terminal only (the pointer to the log).
TERMINAL_ONLY = "neuroreg_terminal_only"
INTERRUPTED_EXIT = 130
#: The run's folder, for the terminal's Ctrl-C line (snakemake_logger_plugin_neuroreg).
RUN_ROOT_ENV = "NEUROREG_RUN_ROOT"


def announce_run(root: str) -> None:
    """Tell the terminal output (the logger plugin, in the Snakemake process) which folder the run writes to."""
    import os

    os.environ[RUN_ROOT_ENV] = root


class _Terminal(logging.Filter):
    """What the terminal shows of a job that has a log file: warnings, errors, progress; never FILE_ONLY."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, FILE_ONLY, False):
            return False
        return record.levelno >= logging.WARNING or bool(getattr(record, PROGRESS, False))


class _FileOnlyFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, FILE_ONLY, False)


class _NotTerminalOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, TERMINAL_ONLY, False)


def setup(log_path: str | None = None, level: int = logging.INFO, tag: str = "") -> logging.Logger:
    """Send the ``neuroreg`` logger (and Python warnings) to ``log_path`` and stderr.

    With a log file, stderr shows warnings, errors and progress lines only, each with ``tag`` (the job:
    rule and wildcards) so lines of parallel jobs can be told apart; without one, everything."""
    logger = logging.getLogger("neuroreg")
    logger.setLevel(level)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")
    terminal = logging.StreamHandler(sys.stderr)
    terminal.addFilter(_Terminal() if log_path else _FileOnlyFilter())
    terminal.setFormatter(logging.Formatter(f"%(asctime)s [{tag}] %(levelname)s: %(message)s", "%H:%M:%S")
                          if tag else fmt)
    logger.addHandler(terminal)
    if log_path:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        file = logging.FileHandler(log_path, mode="w")
        file.setFormatter(fmt)
        file.addFilter(_NotTerminalOnly())
        logger.addHandler(file)
    logging.captureWarnings(True)
    logging.getLogger("py.warnings").handlers = logger.handlers
    return logger


def error_message(err: BaseException) -> str:
    """``module.Type: message``, as the last line of a Python traceback reads (builtins without module)."""
    kind = type(err)
    name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
    text = str(err)
    return f"{name}: {text}" if text else name


def log_failure(logger: logging.Logger, err: BaseException, log_path: str | None) -> None:
    """The error in the log file (message, then traceback) and one line on the terminal naming the log."""
    message = error_message(err)
    tb = "".join(traceback.format_exception(type(err), err, err.__traceback__)).rstrip()
    if not log_path:
        logger.error("%s\n%s", message, tb)
        return
    logger.error("%s", message, extra={FILE_ONLY: True})
    logger.error("traceback:\n%s", tb, extra={FILE_ONLY: True})
    logger.error("%s (traceback in %s)", message, log_path, extra={TERMINAL_ONLY: True})


def _tag(smk) -> str:
    """``rule key=value ...``: the job, as the terminal shows it beside its lines."""
    wildcards = getattr(smk, "wildcards", None)
    items = wildcards.items() if hasattr(wildcards, "items") else []
    return " ".join([str(getattr(smk, "rule", "") or "job")] + [f"{k}={v}" for k, v in items])


def _run_by_snakemake(smk) -> bool:
    return type(smk).__module__.split(".")[0] == "snakemake"


def job(func):
    """Decorator for the function a rule runs: ``func(snakemake)`` with logging sent to the rule's log file
    and an uncaught error written there (module docstring)."""

    @functools.wraps(func)
    def run(smk):
        log_path = smk.log[0] if len(smk.log) else None
        logger = setup(log_path, tag=_tag(smk))
        try:
            return func(smk)
        except KeyboardInterrupt:
            # the log only: on the terminal, Snakemake's console says it once for the run
            logger.warning("interrupted (Ctrl-C): this job's outputs were not written; rerun to resume",
                           extra={FILE_ONLY: bool(log_path)})
            if _run_by_snakemake(smk):
                raise SystemExit(INTERRUPTED_EXIT) from None
            raise
        except Exception as err:
            log_failure(logger, err, log_path)
            if _run_by_snakemake(smk):
                raise SystemExit(1) from None
            raise

    return run
