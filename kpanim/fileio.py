"""Atomic output files: every file kpanim writes appears whole or not at all.

``with atomic_output(path) as tmp:`` hands out a temp path in the destination folder (same file
system, so the final rename is atomic); when the block succeeds the temp file gets the usual
permissions (0666 minus the umask, like ``open()``; ``mkstemp`` alone would leave 0600) and
replaces ``path``; when it fails the temp file is removed. Folder problems become one-line
:class:`~kpanim.errors.KpanimError` messages.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import KpanimError


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early, before slow work, when ``path`` cannot be written; returns it as a Path."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise KpanimError(f"cannot write {path}: folder {folder} does not exist; create it first")
    if path.is_dir():
        raise KpanimError(f"cannot write {path}: it is a folder; give a file name")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise KpanimError(f"cannot write {path}: permission denied; choose another output path")
    return path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success it becomes ``path`` (atomic rename)."""
    path = check_writable(path)
    folder = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=folder)
    except OSError as err:
        raise KpanimError(f"cannot write {path}: {err.strerror}; choose a writable folder") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _default_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
