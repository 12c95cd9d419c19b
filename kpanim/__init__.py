"""kpanim: speech → MODA facial keypoint animation (.npz/.glb) and talking-portrait video, on the CPU."""

__version__ = "0.1.0"

from .animation import Animation  # noqa: E402
from .errors import KpanimError  # noqa: E402

# ``kpanim.predict(...)`` is the Python API of ``kpanim predict`` (whisper style). The function
# deliberately shadows the submodule's attribute; the module stays importable as
# ``importlib.import_module("kpanim.predict")`` / ``from kpanim.predict import ...`` (torch loads lazily).
from .predict import predict  # noqa: E402

__all__ = ["Animation", "KpanimError", "predict", "__version__"]
