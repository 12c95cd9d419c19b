"""kpanim: speech → MODA facial keypoint animation (.npz/.glb) and talking-portrait video, on the CPU.

The package root stays light (numpy + scipy); the heavier entry points load on first use:

    import kpanim
    subject = kpanim.make_subject("face.png")
    anim = kpanim.predict("speech.wav", subject=subject)   # the shipped MODA + FaCo-Net
    anim.save("anim.npz")
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .errors import KpanimError  # noqa: E402
from .formats.animation import Animation  # noqa: E402

# public name → module that defines it (imported on first access). Inference lives in
# kpanim.animate.predict, not kpanim.predict, so that importing the module never shadows the function.
_LAZY = {
    "Subject": "kpanim.tracking.subject",
    "make_subject": "kpanim.tracking.subject",
    "load_audio": "kpanim.speech.audio",
    "predict": "kpanim.animate.predict",
    "export_glb": "kpanim.formats.gltf_export",
    "Stream": "kpanim.animate.stream",
}

__all__ = ["Animation", "KpanimError", "__version__", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kpanim' has no attribute '{name}'")
