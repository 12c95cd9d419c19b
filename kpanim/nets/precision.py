"""Number types for inference: bfloat16 where the CPU multiplies it fast (AMX / AVX512-BF16), else float32."""

from __future__ import annotations

import functools

from ..errors import KpanimError

PRECISIONS = ("auto", "float32", "bfloat16")


@functools.lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU has bfloat16 matrix instructions (AMX or AVX512-BF16), where bfloat16 is fast."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line for line in fh if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


def resolve_precision(precision: str) -> str:
    """"auto" → "bfloat16" where :func:`cpu_has_bf16`, else "float32"; the others pass; anything else is an error."""
    if precision not in PRECISIONS:
        raise KpanimError(f"precision must be auto, float32 or bfloat16, got {precision!r}")
    if precision == "auto":
        return "bfloat16" if cpu_has_bf16() else "float32"
    return precision
