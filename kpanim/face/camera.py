"""The pinhole camera of one image: the only place pixels and camera-frame metres meet.

Conventions (see docs/FORMAT.md and :mod:`kpanim.face.geometry`): the camera sits at the origin of
the camera frame looking down -Z, +Y up, so visible points have Z < 0; pixels have x right, y down.
kpanim gives every image the same kind of camera (:meth:`Camera.for_image`): focal length = the
longer image side (≈ 53° field of view across it), principal point at the centre. Files store it as
the 5-array ``[focal, cx, cy, width, height]`` (:meth:`Camera.to_array`).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass(frozen=True)
class Camera:
    """Pinhole camera of one image: focal length and principal point in pixels, image size."""

    focal: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def for_image(cls, width: int, height: int) -> Camera:
        """kpanim's camera for a (width × height) image: focal = the longer side, centred."""
        return cls(focal=float(max(width, height)), cx=width / 2.0, cy=height / 2.0, width=int(width),
                   height=int(height))

    def to_array(self) -> np.ndarray:
        """(5,) float64 ``[focal, cx, cy, width, height]``, the form stored in files."""
        return np.array([self.focal, self.cx, self.cy, self.width, self.height], dtype=np.float64)

    @classmethod
    def from_array(cls, arr: np.ndarray) -> Camera:
        """Inverse of :meth:`to_array`: a (5,) array → Camera."""
        f, cx, cy, w, h = (float(v) for v in arr)
        return cls(f, cx, cy, int(w), int(h))

    @property
    def yfov(self) -> float:
        """Vertical field of view in radians (glTF's ``yfov``)."""
        return 2 * math.atan(self.height / (2 * self.focal))

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) → pixels (..., 2) (x right, y down).

        The camera looks down -Z with +Y up, so ``u = cx + f X / -Z`` and ``v = cy - f Y / -Z``.
        """
        p = np.asarray(points_cam, dtype=np.float64)
        depth = -p[..., 2]
        if np.any(depth <= 0):
            raise ValueError("project: points must lie in front of the camera (Z < 0)")
        return np.stack([self.cx + self.focal * p[..., 0] / depth, self.cy - self.focal * p[..., 1] / depth], axis=-1)

    def unproject(self, pixels: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`project`: pixels (..., 2) at positive distances ``depth`` (...) → points (..., 3)."""
        px = np.asarray(pixels, dtype=np.float64)
        depth = np.asarray(depth, dtype=np.float64)
        x = (px[..., 0] - self.cx) * depth / self.focal
        y = -(px[..., 1] - self.cy) * depth / self.focal
        return np.stack([x, y, -depth], axis=-1)
