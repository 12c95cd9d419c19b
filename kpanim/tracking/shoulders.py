"""Shoulder contour points from MediaPipe's bundled selfie-segmentation mask.

MODA samples its torso points on the shoulder boundary of a face-parsing map. kpanim does the
same on the person mask: for 9 columns on each side of the neck, spaced in face widths, the
torso point is the top edge of the mask below the chin. Order: subject's left side first (image
right for a non-mirrored photo), from the neck outwards; then the right side.
"""

from __future__ import annotations

import numpy as np

from .landmarks import quiet_native_stderr

# Column offsets from the face centre in face widths (face width = distance of points 234 and 454).
COLUMN_OFFSETS = np.linspace(0.6, 1.8, 9)
MASK_THRESHOLD = 0.5


class PersonSegmenter:
    """Selfie segmentation (general model) for one image or consecutive frames."""

    def __init__(self) -> None:
        from mediapipe.python.solutions import selfie_segmentation

        with quiet_native_stderr():
            self._seg = selfie_segmentation.SelfieSegmentation(model_selection=0)

    def mask(self, image_rgb: np.ndarray) -> np.ndarray:
        """(H, W) float32 person probability in [0, 1]."""
        with quiet_native_stderr():
            result = self._seg.process(np.ascontiguousarray(image_rgb))
        return np.asarray(result.segmentation_mask, dtype=np.float32)

    def close(self) -> None:
        with quiet_native_stderr():
            self._seg.close()

    def __enter__(self) -> "PersonSegmenter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def shoulder_points_px(mask: np.ndarray, face_px: np.ndarray) -> np.ndarray:
    """Shoulder contour (18, 2) in pixels from a person mask (H, W) and face landmarks (478, ≥2).

    Columns outside the image are clamped to its border; a column with no person pixels below the
    chin (shoulders cropped away) gives the bottom image row, so points always exist.
    """
    h, w = mask.shape
    left_side, right_side = face_px[454, :2], face_px[234, :2]  # subject's left cheek is image right
    centre_x = (left_side[0] + right_side[0]) / 2
    face_w = max(np.linalg.norm(left_side - right_side), 1.0)
    chin_y = face_px[152, 1]
    start_row = int(np.clip(chin_y - 0.15 * face_w, 0, h - 1))
    person = mask[start_row:] > MASK_THRESHOLD
    out = np.empty((18, 2))
    for side, sign in enumerate((+1.0, -1.0)):  # subject's left (image +x) first
        for k, off in enumerate(COLUMN_OFFSETS):
            x = float(np.clip(centre_x + sign * off * face_w, 0, w - 1))
            col = person[:, int(round(x))]
            rows = np.flatnonzero(col)
            y = start_row + rows[0] if rows.size else h - 1
            out[side * 9 + k] = (x, y)
    return out
