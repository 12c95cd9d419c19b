"""From MediaPipe pixel landmarks to a camera, a head pose and a canonical-frame face mesh.

MediaPipe's 478 points are image-plane positions plus a relative depth, not a calibrated 3-D
face. kpanim gives every image a pinhole camera (focal = the longer image side, principal point
at the centre, ≈ 53° field of view on that side), places the face at the distance where the
canonical template (63 mm inter-ocular) has the detected size, lifts each landmark to 3-D along
its own pixel ray at its own MediaPipe depth, and fits the head pose rigidly on stable points.
Projecting ``head_pose ∘ dense`` with that camera gives back the detected pixels exactly.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..tracking.landmarks import pixels_to_points3d
from . import constants
from .geometry import matrix_to_pose, pose_to_matrix, robust_similarity_fit, unproject


@dataclasses.dataclass(frozen=True)
class Camera:
    """Pinhole camera of one image: focal length and principal point in pixels, image size."""

    focal: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def for_image(cls, width: int, height: int) -> "Camera":
        return cls(focal=float(max(width, height)), cx=width / 2.0, cy=height / 2.0, width=int(width),
                   height=int(height))

    def as_array(self) -> np.ndarray:
        return np.array([self.focal, self.cx, self.cy, self.width, self.height], dtype=np.float64)

    @classmethod
    def from_array(cls, arr: np.ndarray) -> "Camera":
        f, cx, cy, w, h = (float(v) for v in arr)
        return cls(f, cx, cy, int(w), int(h))


def lift_landmarks(points_px: np.ndarray, camera: Camera) -> np.ndarray:
    """Pixel landmarks (..., 478, 3) → camera-frame points (..., 478, 3) in metres.

    A similarity fit of the template's stable points to the orthographic landmark cloud gives the
    face's size s in px/m, hence its distance ``focal / s``; each point keeps its pixel position
    and is pushed along its ray by its MediaPipe depth (``z / s`` metres).
    """
    cloud = pixels_to_points3d(points_px)  # px, +Y up, +Z towards viewer
    stable = constants.stable_index()
    tmpl = constants.template()
    s, _, t = robust_similarity_fit(tmpl[stable], cloud[..., stable, :])
    s = np.asarray(s)[..., None]
    centre_depth = camera.focal / s  # distance of the template origin, metres
    depth = centre_depth - (cloud[..., 2] - np.asarray(t)[..., 2:3]) / s
    return unproject(points_px[..., :2], depth, camera.focal, camera.cx, camera.cy)


def fit_head(points_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame face points (..., 478, 3) → (canonical dense (..., 478, 3), head pose (..., 6)).

    The pose is the robust rigid fit of the template's stable points; ``dense`` is the detected
    face with that pose removed, so it keeps the person's own shape and expression.
    """
    stable = constants.stable_index()
    _, rot, t = robust_similarity_fit(constants.template()[stable], points_cam[..., stable, :], with_scale=False)
    dense = np.einsum("...ji,...nj->...ni", rot, points_cam - np.asarray(t)[..., None, :])
    return dense, matrix_to_pose(rot, t)


def camera_points(dense: np.ndarray, head_pose: np.ndarray) -> np.ndarray:
    """Inverse of :func:`fit_head`: canonical points (..., N, 3) + pose (..., 6) → camera frame."""
    rot, t = pose_to_matrix(head_pose)
    return np.einsum("...ij,...nj->...ni", rot, dense) + np.asarray(t)[..., None, :]
