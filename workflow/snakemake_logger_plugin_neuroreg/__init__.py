"""neuroreg's terminal output for Snakemake: a logger plugin (``logger: neuroreg`` in ``profiles/*``).

It prints what Snakemake's default terminal output prints (its own formatter, filter and colours),
with three changes, each for a message that misled users of this pipeline:

* a target given after ``--configfile`` (which reads every following word as a config file) makes
  Snakemake fail while loading config files, before the Snakefile runs, with a traceback about a
  missing or unreadable "config file"; instead this prints one sentence that says so and gives the
  command in the right order (:func:`misplaced_sentence`);
* Ctrl-C: instead of every interrupted job's error report, one line that says what was kept and how
  to resume (:func:`interrupt_line`), then nothing more;
* no ``message: None`` in a failed job's report and no ``Shell command: None`` (this pipeline's rules
  run scripts, which have no shell command).

A plugin is how Snakemake 9 lets a workflow shape its terminal output; Snakemake finds it as the
module ``snakemake_logger_plugin_neuroreg`` (installed with neuroreg, ``pip install -e .``).
"""

from __future__ import annotations

import logging
import os
import shlex
import sys
from dataclasses import dataclass

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

CONFIGFILE_FLAGS = ("--configfile", "--configfiles")
INTERRUPT_PREFIX = "Terminating processes on user request"


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    pass


def _misplaced(value: str) -> bool:
    try:
        from neuroreg.config import misplaced_target
    except ImportError:  # neuroreg not importable: keep Snakemake's own message
        return False
    return misplaced_target(value) is not None


def misplaced_sentence(argv: list[str]) -> str:
    """One sentence for a command line whose ``--configfile`` values include targets ("" if none do)."""
    args = list(argv[1:])
    for i, arg in enumerate(args):
        if arg not in CONFIGFILE_FLAGS:
            continue
        j = i + 1
        while j < len(args) and not args[j].startswith("-"):
            j += 1
        values = args[i + 1 : j]
        targets = [v for v in values if _misplaced(v)]
        if not targets:
            continue
        configs = [v for v in values if v not in targets]
        fixed = args[:i] + targets + ([arg, *configs] if configs else []) + args[j:]
        names = ", ".join(targets)
        return (f"{names} came after {arg}, which reads every word after it as a config file, so Snakemake tried "
                f"to load {'them' if len(targets) > 1 else 'it'} as one; put targets before {arg}: "
                f"{shlex.join(['snakemake', *fixed])}")
    return ""


def interrupt_line(done: int | None, total: int | None, root: str | None) -> str:
    """The one line that ends a run stopped with Ctrl-C."""
    where = f"{root}/" if root else "results/"
    progress = f"{done} of {total} jobs had finished; " if done is not None and total else ""
    return (f"Stopped (Ctrl-C): {progress}finished outputs are kept in {where}, the interrupted jobs' outputs "
            "were removed (a co-training job keeps its last epoch's checkpoint); run the same command again to "
            "resume.")


class _Tidy(logging.Formatter):
    """Snakemake's formatter, without the ``message: None`` line of a job error without a message."""

    def __init__(self, inner: logging.Formatter):
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        text = self.inner.format(record)
        if isinstance(text, str) and "message: None" in text:
            text = "\n".join(line for line in text.split("\n") if line.strip() != "message: None")
        return text


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        self._out = None
        self._stopped = False
        self._said_misplaced = False
        self._done = self._total = None

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False  # Snakemake's default filter (quiet, verbose, printshellcmds, ...)

    @property
    def has_formatter(self) -> bool:
        return False  # Snakemake's default formatter, wrapped by _Tidy

    @property
    def needs_rulegraph(self) -> bool:
        return False

    def _terminal(self):
        if self._out is None:
            from snakemake.logging import ColorizingTextHandler

            stream = sys.stdout if self.common_settings.stdout else sys.stderr
            self._out = ColorizingTextHandler(nocolor=self.common_settings.nocolor, stream=stream)
            self._out.setFormatter(_Tidy(self.formatter or logging.Formatter()))
        return self._out

    def _say(self, level: int, text: str) -> None:
        self._terminal().emit(logging.LogRecord("snakemake", level, "", 0, text, None, None))

    def emit(self, record: logging.LogRecord) -> None:
        if self._stopped:
            return
        event = str(getattr(record, "event", "") or "")
        if event == "progress":
            self._done, self._total = getattr(record, "done", None), getattr(record, "total", None)
        try:
            message = record.getMessage() if record.msg is not None else ""
        except Exception:  # noqa: BLE001 - a record that cannot format itself is Snakemake's to print
            message = ""
        if message.startswith(INTERRUPT_PREFIX):
            self._stopped = True
            root = os.environ.get("NEUROREG_RUN_ROOT")  # set by the Snakefile: neuroreg.logs.announce_run
            self._say(logging.WARNING, interrupt_line(self._done, self._total, root))
            return
        if record.levelno >= logging.ERROR:
            sentence = misplaced_sentence(sys.argv)
            if sentence:
                if not self._said_misplaced:
                    self._said_misplaced = True
                    self._say(logging.ERROR, sentence)
                return
        if event == "shellcmd" and not getattr(record, "shellcmd", None):
            return
        self._terminal().emit(record)
