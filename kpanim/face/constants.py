"""Face-mesh constants: index sets, canonical template, triangles (no mediapipe import needed).

Everything here is loaded from ``kpanim/data/face_constants.npz``, which
``scripts/make_face_constants.py`` builds; ``tests/test_constants.py`` checks the index sets
against mediapipe's own connection sets.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

N_DENSE = 478
N_LIP = 40
N_EYE = 60
N_TORSO = 18
POSE_DIM = 6
IOD_M = 0.063
RIGHT_IRIS_CENTRE = 468
LEFT_IRIS_CENTRE = 473

# MODA's eye-stream order: LeftIris, LeftEye, LeftEyebrow, RightIris, RightEye, RightEyebrow.
EYE_GROUPS = (("left_iris", 4), ("left_eye", 16), ("left_eyebrow", 10),
              ("right_iris", 4), ("right_eye", 16), ("right_eyebrow", 10))
TORSO_NAMES = tuple(f"shoulder_{side}_{i}" for side in ("left", "right") for i in range(9))


@lru_cache(maxsize=1)
def _data() -> dict[str, np.ndarray]:
    with resources.files("kpanim.data").joinpath("face_constants.npz").open("rb") as fh:
        with np.load(fh, allow_pickle=False) as z:
            out = {k: z[k] for k in z.files}
    for arr in out.values():
        arr.setflags(write=False)
    return out


def lip_index() -> np.ndarray:
    """(40,) sorted face-mesh indices of MediaPipe's FACEMESH_LIPS."""
    return _data()["lip_index"]


def lip_gap_pair() -> tuple[int, int]:
    """Positions within :func:`lip_index` of the inner-lip midpoints 13 (upper) and 14 (lower), whose
    vertical gap is the mouth opening."""
    from .topology import INNER_LIP_MIDPOINTS

    idx = list(lip_index())
    return idx.index(INNER_LIP_MIDPOINTS[0]), idx.index(INNER_LIP_MIDPOINTS[1])


def eye_index() -> np.ndarray:
    """(60,) face-mesh indices of the eye stream, in MODA's group order (each group sorted)."""
    return _data()["eye_index"]


def face_oval_index() -> np.ndarray:
    """(36,) sorted indices of FACEMESH_FACE_OVAL."""
    return _data()["face_oval_index"]


def template() -> np.ndarray:
    """(478, 3) canonical face in metres (+X subject's left, +Y up, +Z towards the viewer)."""
    return _data()["template"]


def triangles() -> np.ndarray:
    """(F, 3) int32 triangles of the face mesh, counter-clockwise seen from +Z (iris fans last)."""
    return _data()["triangles"]


def stable_index() -> np.ndarray:
    """Indices of points that move least with expression; head poses are fit on these."""
    return _data()["stable_index"]


def mirror_index() -> np.ndarray:
    """(478,) permutation: point i of a face mirrored in x is point ``mirror_index[i]``."""
    return _data()["mirror_index"]
