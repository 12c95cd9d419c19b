"""What the commands print besides their results: warnings from the API, one line each on stderr."""

from __future__ import annotations

import contextlib
import warnings

import click


@contextlib.contextmanager
def warnings_to_stderr(category: type[Warning] = UserWarning):
    """Run the block with every warning recorded, then print each one of ``category`` as a single
    ``Warning: ...`` line on stderr: the API warns (``warnings.warn``), a command shows the message once,
    without the source line and file name Python's default display adds."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for w in caught:
        if issubclass(w.category, category):
            click.echo(f"Warning: {w.message}", err=True)


@contextlib.contextmanager
def one_line_warnings():
    """Show every warning raised while a command runs as one ``Warning: ...`` line on stderr, as it happens
    (so long commands such as serve and train show theirs live), not Python's file-and-line display."""
    def show(message, category, filename, lineno, file=None, line=None):
        click.echo(f"Warning: {message}", err=True)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
