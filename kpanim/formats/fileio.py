"""Atomic output files: every file kpanim writes appears whole or not at all.

``with atomic_output(path) as tmp:`` hands out a temp path in the destination folder (same file
system, so the final rename is atomic); when the block succeeds the temp file gets the usual
permissions (0666 minus the umask, like ``open()``; ``mkstemp`` alone would leave 0600) and
replaces ``path``; when it fails the temp file is removed. Folder problems and a full disk become
one-line :class:`~kpanim.errors.KpanimError` messages.

:func:`check_output` is what every command calls on its output path before any work: the folder must
exist and be writable, the suffix must be one the writer produces, and the path must not be one of
the command's own inputs (compared as resolved paths, so through symlinks and hard links too).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ..errors import KpanimError

# write errors that mean "this disk/quota/file-size limit is full": one line, no traceback
DISK_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


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


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` name the same file: equal resolved paths (symlinks followed), or the
    same inode (hard links, bind mounts)."""
    a, b = Path(a), Path(b)
    try:
        if a.resolve() == b.resolve():
            return True
    except (OSError, RuntimeError):  # a symlink loop
        pass
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_output(path: str | os.PathLike, inputs: dict[str, str | os.PathLike | None] | None = None,
                 suffixes: tuple[str, ...] | None = None, what: str = "output") -> Path:
    """Check an output path before any work; returns it as a Path.

    Args:
        inputs: {option name (e.g. "--subject"): path or None} of the command's inputs; the output may
            be none of them (writing it would destroy the input).
        suffixes: the lower-case suffixes the writer produces (e.g. (".mp4",)), or None for any.
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        want = " or ".join(suffixes)
        raise KpanimError(f"{path}: the {what} must be a {want} file (kpanim writes {want} only); "
                          f"use e.g. -o {path.with_suffix(suffixes[0]).name}")
    for name, value in (inputs or {}).items():
        if value is not None and same_file(path, value):
            raise KpanimError(f"{path}: the {what} is also the {name} input, which writing would destroy; "
                              "choose another output name")
    return check_writable(path)


def disk_error(path: str | os.PathLike, err: BaseException) -> KpanimError | None:
    """The one-line error for a write that failed because the disk (or a size limit) is full, else None.

    Looks through the exception's chain too: a writer that fails while cleaning up after the full disk
    (zipfile's close after a failed write, for one) raises its own error with the OSError as context."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in DISK_FULL_ERRNOS:
            return KpanimError(f"cannot write {path}: {os.strerror(err.errno)}; free some space or choose "
                               "another folder (nothing was written)")
        err = err.__cause__ or err.__context__
    return None


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
    except Exception as err:
        tmp.unlink(missing_ok=True)
        full = disk_error(path, err)
        if full is not None:
            raise full from None
        raise
    except BaseException:  # Ctrl-C, SIGTERM (see cli.main): no half-written file either
        tmp.unlink(missing_ok=True)
        raise


def file_sha256(path: str | os.PathLike) -> str:
    """The file's SHA-256 as hex, read in 1 MiB blocks (model files and videos need not fit in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
