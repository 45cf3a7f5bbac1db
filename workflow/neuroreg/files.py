"""Input/output helpers shared by every stage.

Two promises live here:

* errors about user input name the file, the key and the problem
  (:class:`InputError`), in words a user can act on;
* outputs are written under a temporary name and renamed at the end
  (:func:`atomic_output`), so a failed stage leaves no half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Iterator

import h5py
import numpy as np

__all__ = [
    "InputError",
    "atomic_output",
    "open_h5",
    "require_key",
    "require_finite",
    "write_json",
]


class InputError(ValueError):
    """A problem with a user-supplied file or setting.

    The message always reads ``<file>: <key>: <problem>`` so a user knows
    where to look and what to fix.
    """

    def __init__(self, path: str | os.PathLike | None, key: str | None, problem: str):
        self.path = None if path is None else str(path)
        self.key = key
        self.problem = problem
        where = [p for p in (self.path, key) if p]
        super().__init__(": ".join(where + [problem]))


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` on success.

    On any exception the temporary file (or folder) is removed and ``path``
    is left untouched, so downstream rules never see a partial output. A
    process killed mid-write (SIGKILL, a scheduler's scancel) cannot clean up:
    the temporary files of ``path`` left by processes no longer alive are removed
    first, so a resumed job leaves only its outputs.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(path: Path) -> None:
    """Remove ``.<name>.tmp-<pid>`` beside ``path`` whose process is gone (:func:`atomic_output`)."""
    import shutil

    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
            continue  # a live process of this machine may still be writing it
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def open_h5(path: str | os.PathLike, mode: str = "r") -> h5py.File:
    """Open an HDF5 file for reading, with errors that name the file.

    A missing path, a directory, or a corrupt/truncated file raise
    :class:`InputError` instead of h5py's low-level ``OSError``.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "file does not exist")
    if path.is_dir():
        raise InputError(path, None, "is a directory, expected an HDF5 file")
    try:
        return h5py.File(path, mode)
    except OSError as err:
        raise InputError(path, None, f"not a readable HDF5 file (corrupt or truncated?): {err}") from err


def require_key(h5: h5py.Group, key: str, path: str | os.PathLike | None = None):
    """Return ``h5[key]`` or raise :class:`InputError` naming the missing key."""
    if key not in h5:
        raise InputError(path or h5.file.filename, key, "missing (required)")
    try:
        return h5[key]
    except (OSError, KeyError) as err:  # truncated datasets fail on access
        raise InputError(path or h5.file.filename, key, f"cannot be read: {err}") from err


def require_finite(array: np.ndarray, path, key: str) -> np.ndarray:
    """Raise :class:`InputError` if ``array`` holds NaN or inf, saying how many and where."""
    arr = np.asarray(array)
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr)
        if bad.any():
            first = np.unravel_index(np.flatnonzero(bad)[0], arr.shape)
            raise InputError(
                path, key, f"{int(bad.sum())} non-finite values (NaN or inf), first at index {tuple(int(i) for i in first)}"
            )
    return arr


def write_json(obj, path: str | os.PathLike) -> None:
    """Write ``obj`` as indented JSON, atomically."""

    def default(o):
        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
        raise TypeError(f"not JSON serializable: {type(o)}")

    with atomic_output(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, default=default)
            f.write("\n")


def write_csv(df, path, **kw) -> None:
    """A pandas table to ``path`` atomically (:func:`atomic_output`), without its index, 6 significant digits."""
    with atomic_output(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g", **kw)
