"""From MediaPipe pixel landmarks to a camera, a head pose and a canonical-frame face mesh.

MediaPipe's 478 points are image-plane positions plus a relative depth, not a calibrated 3-D
face. kpanim gives every image a pinhole camera (focal = the longer image side, principal point
at the centre, ≈ 53° field of view on that side), places the face at the distance where the
canonical template (63 mm inter-ocular) has the detected size, lifts each landmark to 3-D along
its own pixel ray at its own MediaPipe depth, and fits the head pose rigidly on stable points.
Projecting ``head_pose ∘ dense`` with that camera gives back the detected pixels exactly.
"""

from __future__ import annotations

import numpy as np

from ..tracking.landmarks import pixels_to_points3d
from . import constants
from .camera import Camera
from .geometry import matrix_to_pose, robust_similarity_fit


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
    return camera.unproject(points_px[..., :2], depth)


def fit_head(points_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Camera-frame face points (..., 478, 3) → (canonical dense (..., 478, 3), head pose (..., 6)).

    The pose is the robust rigid fit of the template's stable points; ``dense`` is the detected
    face with that pose removed, so it keeps the person's own shape and expression.
    """
    stable = constants.stable_index()
    _, rot, t = robust_similarity_fit(constants.template()[stable], points_cam[..., stable, :], with_scale=False)
    dense = np.einsum("...ji,...nj->...ni", rot, points_cam - np.asarray(t)[..., None, :])
    return dense, matrix_to_pose(rot, t)


def torso_at_head_depth(torso_px: np.ndarray, head_pose: np.ndarray, camera: Camera) -> np.ndarray:
    """Shoulder pixels (..., 18, 2) → camera-frame points (..., 18, 3) at the head's distance.

    One photo gives no depth for the shoulders; they are put at the depth of the head pose's origin
    (``-tz``), so the torso moves with the head's distance. ``head_pose`` is (..., 6).
    """
    torso_px = np.asarray(torso_px)
    depth = np.repeat(-np.asarray(head_pose)[..., 5:6], torso_px.shape[-2], axis=-1)
    return camera.unproject(torso_px, depth)


def fit_landmarks(points_px: np.ndarray, torso_px: np.ndarray, camera: Camera) -> tuple[np.ndarray, np.ndarray,
                                                                                         np.ndarray]:
    """Pixel landmarks (..., 478, 3) + shoulder pixels (..., 18, 2) → (canonical dense (..., 478, 3),
    head pose (..., 6), torso (..., 18, 3) camera frame at the head's depth): one image or a batch of frames."""
    dense, pose = fit_head(lift_landmarks(points_px, camera))
    return dense, pose, torso_at_head_depth(torso_px, pose, camera)
