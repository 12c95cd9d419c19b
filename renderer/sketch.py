"""The renderer's condition image: the animated keypoints drawn as a coloured line sketch.

As in MODA, every face part (oval, brows, eyes, irises, nose, lips) and the shoulder line gets
its own colour on black, so the network can tell the parts apart. kpanim also fills the mouth
opening and the eye openings, which tells the renderer directly where to paint the mouth cavity
and whether an eye is closed.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from kpanim.face import topology
from kpanim.face.topology import INNER_LIP_LOOP, LEFT_EYE_LOOP, OUTER_LIP_LOOP, RIGHT_EYE_LOOP

# RGB colours per part (MODA-like palette: each part distinct on black).
PART_COLORS: dict[str, tuple[int, int, int]] = {
    "face_oval": (200, 200, 200),
    "left_eyebrow": (255, 140, 0),
    "right_eyebrow": (0, 140, 255),
    "left_eye": (255, 255, 0),
    "right_eye": (0, 255, 255),
    "left_iris": (255, 0, 255),
    "right_iris": (160, 0, 255),
    "nose": (0, 255, 0),
    "lips": (255, 0, 0),
    "torso": (128, 128, 255),
}
MOUTH_FILL = (96, 0, 0)
EYE_FILL = (255, 255, 255)


@lru_cache(maxsize=1)
def part_edges() -> dict[str, np.ndarray]:
    """Part name → (E, 2) face-mesh index pairs (all of :data:`kpanim.face.topology.PART_EDGES`)."""
    return topology.part_edges()


def draw_sketch(face_px: np.ndarray, torso_px: np.ndarray | None, width: int, height: int,
                thickness: int = 1) -> np.ndarray:
    """Draw one frame's condition image.

    Args:
        face_px: (478, ≥2) face-mesh points in output pixels.
        torso_px: (18, 2) shoulder points (9 subject-left then 9 subject-right, neck outwards) or None.
        width, height: image size.
    Returns:
        (H, W, 3) uint8 RGB sketch.
    """
    face = np.asarray(face_px, dtype=np.float64)[:, :2]
    if face.shape[0] != 478:
        raise ValueError(f"face_px: expected (478, 2+), got {np.shape(face_px)}")
    img = np.zeros((height, width, 3), dtype=np.uint8)
    shift = 4  # sub-pixel precision of cv2 drawing: coordinates × 16
    fixed = np.round(face * (1 << shift)).astype(np.int32)
    cv2.fillPoly(img, [fixed[list(INNER_LIP_LOOP)]], MOUTH_FILL, cv2.LINE_AA, shift)
    cv2.fillPoly(img, [fixed[list(LEFT_EYE_LOOP)], fixed[list(RIGHT_EYE_LOOP)]], EYE_FILL, cv2.LINE_AA, shift)
    for name, edges in part_edges().items():
        cv2.polylines(img, list(fixed[edges]), False, PART_COLORS[name], thickness, cv2.LINE_AA, shift)
    if torso_px is not None:
        t = np.round(np.asarray(torso_px, dtype=np.float64)[:, :2] * (1 << shift)).astype(np.int32)
        line = np.concatenate([t[:9][::-1], t[9:]])  # subject-left outer → neck → subject-right outer
        cv2.polylines(img, [line], False, PART_COLORS["torso"], thickness, cv2.LINE_AA, shift)
    return img


def region_mask(face_px: np.ndarray, size: int) -> np.ndarray:
    """(S, S) uint8 mask: 255 on the mouth (outer lips) and the eye openings, dilated by ~size/64 px.

    These are the regions the renderer's network repaints (and the training loss weighs up).
    """
    m = np.zeros((size, size), np.uint8)
    fixed = np.round(np.asarray(face_px, dtype=np.float64)[:, :2] * 16).astype(np.int32)
    for loop in (OUTER_LIP_LOOP, INNER_LIP_LOOP, LEFT_EYE_LOOP, RIGHT_EYE_LOOP):
        cv2.fillPoly(m, [fixed[list(loop)]], 255, cv2.LINE_8, 4)
    return cv2.dilate(m, np.ones((size // 32 + 1,) * 2, np.uint8))


def feather(mask: np.ndarray) -> np.ndarray:
    """uint8 region mask (..., S, S) → float32 weights in [0, 1] with soft edges (σ = S/64)."""
    s = mask.shape[-1]
    soft = cv2.GaussianBlur(cv2.dilate(mask, np.ones((s // 32 + 1,) * 2, np.uint8)), (0, 0), s / 64)
    return soft.astype(np.float32) / 255.0


def inner_mouth_mask(sketch: np.ndarray) -> np.ndarray:
    """The filled inner-lip polygon of a condition image: (..., S, S, 3) uint8 sketch → (..., S, S) bool.

    Read back from the sketch's ``MOUTH_FILL`` colour, so it works on cached training pairs and
    rendered frames alike (empty when the lips are closed).
    """
    s = np.asarray(sketch).astype(np.int16)
    return (np.abs(s[..., 0] - MOUTH_FILL[0]) <= 24) & (s[..., 1] <= 24) & (s[..., 2] <= 24)
