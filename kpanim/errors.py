"""User-facing errors.

A :class:`KpanimError` is a mistake the user can fix (bad file, bad option). The CLI prints its
message as one line and exits non-zero, without a traceback. Every message names the problem and
the fix. Anything else escaping is a bug in kpanim and keeps its traceback.
"""


class KpanimError(Exception):
    """An error caused by user input; ``str(err)`` is a complete one-line explanation."""


class FormatError(KpanimError):
    """A file is not a valid kpanim file (wrong kind, newer version, bad arrays)."""


class NoFaceError(KpanimError):
    """No face could be found where one was needed."""


def brief(err: BaseException, limit: int = 120) -> str:
    """A library error's first line without the noise (PyAV's "[Errno 1094995529] ...: 'file'"), for messages."""
    import re

    text = str(err).splitlines()[0] if str(err) else type(err).__name__
    text = re.sub(r"^\[Errno -?\d+\] ", "", text)
    return re.sub(r": '[^']*'$", "", text)[:limit]
