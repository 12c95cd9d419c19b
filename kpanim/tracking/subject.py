"""Subjects: everything kpanim needs to know about one portrait (``kpanim subject``).

A subject holds the person's neutral dense mesh in the canonical frame, the photo's head pose and
pinhole camera (so the canonical mesh projects back onto the photo pixel-exactly), the 18 shoulder
points, the image size and the image's sha256.
"""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import FormatError, NoFaceError
from ..face.camera import Camera
from ..face.facefit import fit_landmarks
from ..face.geometry import apply_pose
from ..formats.animation import FORMAT_VERSION, load_npz_checked, save_npz_atomic
from ..formats.fileio import file_sha256
from .images import read_image_rgb

KIND = "subject"


@dataclasses.dataclass(frozen=True, eq=False)
class Subject:
    """One portrait, ready to animate.

    Attributes:
        neutral: (478, 3) the person's face in the canonical frame, metres.
        head_pose: (6,) canonical → camera frame of the photo.
        camera: the photo's pinhole camera (focal, principal point, image size).
        torso: (18, 3) shoulder points in the camera frame (at the head's distance).
        landmarks_px: (478, 3) MediaPipe's detection (x, y in pixels, z relative depth).
        image_sha256: hash of the image file, to match animations to photos.
        subject_id: short readable id (file stem + hash prefix).
    """

    neutral: np.ndarray
    head_pose: np.ndarray
    camera: Camera
    torso: np.ndarray
    landmarks_px: np.ndarray
    image_sha256: str
    subject_id: str

    def project(self, points_cam: np.ndarray) -> np.ndarray:
        """Camera-frame points (..., 3) → photo pixels (..., 2)."""
        return self.camera.project(points_cam)

    def project_face(self, dense: np.ndarray | None = None, head_pose: np.ndarray | None = None) -> np.ndarray:
        """Pixels (..., 478, 2) of a canonical mesh (default: the neutral) under a pose (default: the photo's)."""
        dense = self.neutral if dense is None else dense
        head_pose = self.head_pose if head_pose is None else head_pose
        return self.project(apply_pose(head_pose, dense))

    def still_animation(self, n_frames: int, fps: float = 25.0, meta: dict | None = None):
        """The subject's own neutral face, photo pose and shoulders held still for ``n_frames``."""
        from ..formats.animation import Animation

        meta = {"subject_id": self.subject_id, "subject_sha256": self.image_sha256, **(meta or {})}
        return Animation.still(self.neutral, self.head_pose, self.torso, n_frames, fps, meta)

    @property
    def torso_px(self) -> np.ndarray:
        return self.project(self.torso)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        return save_npz_atomic(path, {
            "kind": np.array(KIND),
            "format_version": np.array(FORMAT_VERSION, dtype=np.int32),
            "kpanim_version": np.array(__version__),
            "neutral": self.neutral.astype(np.float32),
            "head_pose": self.head_pose.astype(np.float64),
            "camera": self.camera.to_array(),
            "torso": self.torso.astype(np.float32),
            "landmarks_px": self.landmarks_px.astype(np.float32),
            "image_sha256": np.array(self.image_sha256),
            "subject_id": np.array(self.subject_id),
        })

    @classmethod
    def load(cls, path: str | Path) -> "Subject":
        z = load_npz_checked(path, KIND)
        shapes = {"neutral": (478, 3), "head_pose": (6,), "camera": (5,), "torso": (18, 3), "landmarks_px": (478, 3)}
        for name, shape in shapes.items():
            if name not in z:
                raise FormatError(f"{path}: missing array '{name}'; re-create it with 'kpanim subject'")
            if z[name].shape != shape:
                raise FormatError(f"{path}: '{name}' has shape {z[name].shape}, expected {shape}")
            if not np.all(np.isfinite(z[name])):
                raise FormatError(f"{path}: '{name}' contains NaN or infinite values")
        return cls(neutral=z["neutral"].astype(np.float64), head_pose=z["head_pose"].astype(np.float64),
                   camera=Camera.from_array(z["camera"]), torso=z["torso"].astype(np.float64),
                   landmarks_px=z["landmarks_px"].astype(np.float64), image_sha256=str(z["image_sha256"]),
                   subject_id=str(z["subject_id"]))


def subject_from_landmarks(points_px: np.ndarray, person_mask: np.ndarray, camera: Camera, image_sha256: str = "",
                           subject_id: str = "") -> Subject:
    """Build a :class:`Subject` from one face's pixel landmarks (478, 3) and a person mask (H, W)."""
    from .shoulders import shoulder_points_px

    neutral, pose, torso = fit_landmarks(points_px, shoulder_points_px(person_mask, points_px), camera)
    return Subject(neutral=neutral, head_pose=pose, camera=camera, torso=torso, landmarks_px=np.asarray(points_px),
                   image_sha256=image_sha256, subject_id=subject_id)


def make_subject(image: str | Path, rgb: np.ndarray | None = None) -> Subject:
    """Detect the face in a portrait and build its :class:`Subject` (the Python API of ``kpanim subject``).

    ``rgb``: the image's (H, W, 3) uint8 pixels if the caller already read them (``read_image_rgb(image)``),
    so that the photo is decoded once; the file is still hashed for ``image_sha256``.
    """
    from .landmarks import detect_faces
    from .shoulders import PersonSegmenter

    image = Path(image)
    rgb = read_image_rgb(image) if rgb is None else rgb
    h, w = rgb.shape[:2]
    faces = detect_faces(rgb)
    if not faces:
        raise NoFaceError(f"{image}: no face found; use a portrait where one face is clearly visible "
                          "(frontal or near-frontal, not too small)")
    if len(faces) > 1:
        warnings.warn(f"{image.name}: {len(faces)} faces found; using the largest", stacklevel=2)
    with PersonSegmenter() as seg:
        mask = seg.mask(rgb)
    sha = file_sha256(image)
    return subject_from_landmarks(faces[0], mask, Camera.for_image(w, h), sha, f"{image.stem}-{sha[:8]}")


def load_or_make_subject(path: str | Path) -> Subject:
    """A ``.subject.npz`` is loaded; anything else is treated as a portrait image."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return Subject.load(path)
    return make_subject(path)
