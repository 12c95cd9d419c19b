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


def laplacian_variance(image: np.ndarray) -> float:
    """Variance of the Laplacian of an RGB uint8 image's grey levels: high-frequency energy (sharpness)."""
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def teeth_share(image: np.ndarray, inner: np.ndarray, skin_grey: float) -> float:
    """Share of the inner-mouth pixels (bool mask) that look like teeth: at least 80 % as bright as the
    face's median grey level ``skin_grey`` and weakly saturated (HSV saturation ≤ 0.4)."""
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)
    grey = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    bright = (grey >= 0.8 * skin_grey) & (hsv[..., 1] <= 0.4 * 255)
    return float(bright[inner].mean()) if inner.any() else float("nan")


def mouth_interior_metrics(preds: dict[str, np.ndarray], target: np.ndarray, sketch: np.ndarray,
                           weight: np.ndarray, min_open: float = 0.001) -> dict:
    """How well the open mouth is painted, on pairs whose target mouth is open.

    Args:
        preds: name → rendered crops (N, S, S, 3) uint8 (e.g. "warp", "neural").
        target, sketch, weight: the pairs' real frames, condition images and region masks.
        min_open: a mouth counts as open when its inner-lip polygon covers this share of the crop.
    Returns: per name: ``sharpness_ratio`` (median over open-mouth pairs of the Laplacian variance of
    the mouth box, rendered / real: 1 = as much fine detail as the real mouth, < 1 blurrier),
    ``teeth_share`` (mean share of teeth-like pixels inside the inner lips; the real frames' value is
    under "real") and ``teeth_abs_error`` (mean |rendered − real| of that share); plus ``n_open``.
    """
    inner = inner_mouth_mask_eroded(sketch)
    open_ = inner.reshape(len(inner), -1).mean(1) >= min_open
    fy, fx = face_box(target.shape[1])
    rows = {name: {"sharp": [], "teeth": [], "err": []} for name in preds}
    real_teeth = []
    for i in np.flatnonzero(open_):
        my, mx = mouth_box(weight[i])
        skin = float(np.median(cv2.cvtColor(target[i][fy, fx], cv2.COLOR_RGB2GRAY)))
        real_var = laplacian_variance(target[i][my, mx])
        t_real = teeth_share(target[i], inner[i], skin)
        real_teeth.append(t_real)
        for name, pred in preds.items():
            t = teeth_share(pred[i], inner[i], skin)
            rows[name]["sharp"].append(laplacian_variance(pred[i][my, mx]) / max(real_var, 1e-6))
            rows[name]["teeth"].append(t)
            rows[name]["err"].append(abs(t - t_real))
    out = {"n_open": int(open_.sum()), "real": {"teeth_share": float(np.mean(real_teeth)) if real_teeth else None}}
    for name, r in rows.items():
        out[name] = {"sharpness_ratio": float(np.median(r["sharp"])) if r["sharp"] else None,
                     "teeth_share": float(np.mean(r["teeth"])) if r["teeth"] else None,
                     "teeth_abs_error": float(np.mean(r["err"])) if r["err"] else None}
    return out


def inner_mouth_mask_eroded(sketch: np.ndarray) -> np.ndarray:
    """The sketch's inner-mouth polygon (N, S, S) bool, eroded by one pixel (off the drawn lip line)."""
    from .sketch import inner_mouth_mask

    masks = inner_mouth_mask(sketch).astype(np.uint8)
    return np.stack([cv2.erode(m, np.ones((3, 3), np.uint8)) > 0 for m in masks]) if len(masks) else masks > 0
