"""Image-quality numbers for the renderer: PSNR/SSIM on the face crop and on the mouth box.

Images are the renderer's 256² training crops (``data.make_pairs``), where the face sits at a
fixed place; the mouth box comes from the pair's region mask (its lowest blob is the mouth).
"""

from __future__ import annotations

import cv2
import numpy as np


def face_box(size: int) -> tuple[slice, slice]:
    """The face region of a ``crop_transform`` crop (face = half the side, centre raised 0.15 face)."""
    half = size // 4
    cy = int(size / 2 - 0.15 * size / 2)
    return slice(cy - half, cy + half), slice(size // 2 - half, size // 2 + half)


def mouth_box(weight: np.ndarray, margin: int = 4) -> tuple[slice, slice]:
    """Bounding box of the lowest blob of a region mask (S, S) — the mouth."""
    n, _, stats, centroids = cv2.connectedComponentsWithStats((weight > 127).astype(np.uint8))
    if n < 2:
        s = weight.shape[0]
        return slice(s // 2, 3 * s // 4), slice(3 * s // 8, 5 * s // 8)
    k = 1 + int(np.argmax(centroids[1:, 1]))
    x, y, w, h = stats[k, :4]
    return slice(max(0, y - margin), y + h + margin), slice(max(0, x - margin), x + w + margin)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10)))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    win = min(7, min(a.shape[:2]) // 2 * 2 - 1)
    return float(structural_similarity(a, b, channel_axis=-1, data_range=255, win_size=win))


def crop_metrics(pred: np.ndarray, target: np.ndarray, weight: np.ndarray) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM over image pairs (N, S, S, 3) on the face crop and the mouth box."""
    fy, fx = face_box(pred.shape[1])
    rows = []
    for p, t, w in zip(pred, target, weight):
        my, mx = mouth_box(w)
        rows.append((psnr(p[fy, fx], t[fy, fx]), ssim(p[fy, fx], t[fy, fx]),
                     psnr(p[my, mx], t[my, mx]), ssim(p[my, mx], t[my, mx])))
    m = np.mean(rows, axis=0)
    return {"face_psnr": float(m[0]), "face_ssim": float(m[1]), "mouth_psnr": float(m[2]), "mouth_ssim": float(m[3]),
            "n": len(rows)}
