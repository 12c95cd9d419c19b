"""Argument checks every command runs before any work: numbers in sane bounds, one-line errors.

Each check raises :class:`~kpanim.errors.KpanimError` naming the option, the value given and the
accepted range, with an example of a good value (the fix). NaN and infinities never pass.
"""

from __future__ import annotations

import math

from ..errors import KpanimError

MAX_FPS = 120.0  # above this an animation is only bigger, not smoother (displays run at ≤ 120 Hz)


def _fmt(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def check_number(name: str, value, lo: float | None = None, hi: float | None = None, *, example,
                 lo_open: bool = False, integer: bool = False, why: str = ""):
    """``value`` if it is a finite number in [lo, hi] (``lo_open``: lo excluded), else a KpanimError.

    ``example`` is a good value shown in the message; ``why`` an optional reason for the bound.
    """
    if value is None:
        return value
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer and int(value) != value:
        ok = False
    if ok and lo is not None and (value <= lo if lo_open else value < lo):
        ok = False
    if ok and hi is not None and value > hi:
        ok = False
    if ok:
        return value
    kind = "a whole number" if integer else "a number"
    if lo is not None and hi is not None:
        bounds = (f"{kind} above {_fmt(lo)} and at most {_fmt(hi)}" if lo_open
                  else f"{kind} from {_fmt(lo)} to {_fmt(hi)}")
    elif lo is not None:
        bounds = f"{kind} {'above' if lo_open else 'of at least'} {_fmt(lo)}"
    elif hi is not None:
        bounds = f"{kind} of at most {_fmt(hi)}"
    else:
        bounds = f"a finite {kind}"
    raise KpanimError(f"{name} must be {bounds}, got {_fmt(value)}{why}; e.g. {name} {example}")


def check_fps(value, name: str = "--fps"):
    """A frame rate: above 0, at most :data:`MAX_FPS`."""
    return check_number(name, value, 0, MAX_FPS, lo_open=True, example=30)
