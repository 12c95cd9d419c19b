"""MediaPipe FaceMesh (478 points, refine_landmarks) on images and video frames.

Landmarks are returned in *pixel* units: ``x`` and ``y`` in pixels of the input image (y down),
``z`` MediaPipe's relative depth scaled by the image width (so it shares x's unit; smaller = nearer
the camera). Everything runs offline on the models bundled in the mediapipe 0.10.21 wheel.
"""

from __future__ import annotations

import contextlib
import os
import sys

import numpy as np

# MediaPipe's C++ side logs through glog/absl to stderr; keep user output clean.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

N_POINTS = 478


@contextlib.contextmanager
def quiet_native_stderr():
    """Silence fd 2 while MediaPipe's C++ graph starts and runs (absl logs before InitializeLog)."""
    if os.environ.get("KPANIM_DEBUG"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _face_mesh_module():
    from mediapipe.python.solutions import face_mesh

    return face_mesh


def _to_array(face_landmarks, width: int, height: int) -> np.ndarray:
    pts = np.array([(p.x, p.y, p.z) for p in face_landmarks.landmark], dtype=np.float64)
    pts[:, 0] *= width
    pts[:, 1] *= height
    pts[:, 2] *= width
    return pts


def face_area(points_px: np.ndarray) -> float:
    """Area of the bounding box of one face's landmarks, in px²; used to pick the largest face."""
    mins, maxs = points_px[:, :2].min(0), points_px[:, :2].max(0)
    return float(np.prod(maxs - mins))


def _mesh_faces(image_rgb: np.ndarray, max_faces: int, min_confidence: float) -> list[np.ndarray]:
    face_mesh = _face_mesh_module()
    h, w = image_rgb.shape[:2]
    with quiet_native_stderr(), face_mesh.FaceMesh(
        static_image_mode=True,
        max_num_faces=max_faces,
        refine_landmarks=True,
        min_detection_confidence=min_confidence,
    ) as fm:
        result = fm.process(np.ascontiguousarray(image_rgb))
    return [_to_array(f, w, h) for f in (result.multi_face_landmarks or [])]


def _full_range_boxes(image_rgb: np.ndarray, min_confidence: float) -> list[tuple[float, float, float, float]]:
    """Face boxes (x0, y0, x1, y1) in pixels from MediaPipe's full-range (up to ~5 m) detector."""
    from mediapipe.python.solutions import face_detection

    h, w = image_rgb.shape[:2]
    with quiet_native_stderr(), face_detection.FaceDetection(model_selection=1,
                                                             min_detection_confidence=min_confidence) as fd:
        result = fd.process(np.ascontiguousarray(image_rgb))
    boxes = []
    for det in result.detections or []:
        b = det.location_data.relative_bounding_box
        boxes.append((b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h))
    return boxes


def detect_faces(image_rgb: np.ndarray, max_faces: int = 4, min_confidence: float = 0.5) -> list[np.ndarray]:
    """All faces in one RGB uint8 image (H, W, 3), largest first, each (478, 3) in pixel units.

    FaceMesh's own detector is short-range (faces filling a good part of the frame). Faces it
    misses, e.g. small faces in a full-body shot or a second person, are found with the full-range
    detector and meshed on a square crop around them.
    """
    faces = _mesh_faces(image_rgb, max_faces, min_confidence)
    h, w = image_rgb.shape[:2]
    for x0, y0, x1, y1 in _full_range_boxes(image_rgb, min_confidence):
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if any(f[:, 0].min() <= cx <= f[:, 0].max() and f[:, 1].min() <= cy <= f[:, 1].max() for f in faces):
            continue
        half = 1.1 * max(x1 - x0, y1 - y0)
        cx0, cy0 = int(max(0, cx - half)), int(max(0, cy - half))
        cx1, cy1 = int(min(w, cx + half)), int(min(h, cy + half))
        if min(cx1 - cx0, cy1 - cy0) < 16:
            continue
        for face in _mesh_faces(image_rgb[cy0:cy1, cx0:cx1], 1, min_confidence):
            face[:, 0] += cx0  # crop pixels are image pixels: only shift (z keeps its pixel unit)
            face[:, 1] += cy0
            faces.append(face)
        if len(faces) >= max_faces:
            break
    return sorted(faces, key=face_area, reverse=True)[:max_faces]


class FaceTracker:
    """FaceMesh in tracking mode for consecutive video frames (one face, the most prominent).

    Use as a context manager; ``track(frame)`` returns (478, 3) pixel-unit points or ``None`` when
    the face is lost in that frame.
    """

    def __init__(self, min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5):
        with quiet_native_stderr():
            self._fm = _face_mesh_module().FaceMesh(
                static_image_mode=False,
                max_num_faces=1,
                refine_landmarks=True,
                min_detection_confidence=min_detection_confidence,
                min_tracking_confidence=min_tracking_confidence,
            )

    def track(self, frame_rgb: np.ndarray) -> np.ndarray | None:
        h, w = frame_rgb.shape[:2]
        with quiet_native_stderr():
            result = self._fm.process(np.ascontiguousarray(frame_rgb))
        if not result.multi_face_landmarks:
            return None
        return _to_array(result.multi_face_landmarks[0], w, h)

    def close(self) -> None:
        with quiet_native_stderr():
            self._fm.close()

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def pixels_to_points3d(points_px: np.ndarray) -> np.ndarray:
    """Pixel-unit landmarks (..., 478, 3) → a right-handed, +Y up, +Z towards viewer point cloud.

    Flips y (image rows grow downwards) and z (MediaPipe depth grows away from the camera); units
    stay pixels. This is the orthographic view of the face that similarity fits work on.
    """
    out = np.array(points_px, dtype=np.float64, copy=True)
    out[..., 1] *= -1.0
    out[..., 2] *= -1.0
    return out
