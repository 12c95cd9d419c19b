"""kpanim: speech → MODA facial keypoint animation (.npz/.glb) and talking-portrait video, on the CPU."""

__version__ = "0.1.0"

from .animation import Animation  # noqa: E402
from .errors import KpanimError  # noqa: E402

__all__ = ["Animation", "KpanimError", "__version__"]
