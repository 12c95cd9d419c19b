"""Closed eyelids for the warp: lid skin drawn over a closing eye.

A mesh warp can only stretch what the photo shows. Between an open eye's lid margin and its crease
the photo shows lashes and a shadowed fold; stretched over a closing eye they read as a dark slit,
an eye still open (MediaPipe re-detects it as 60-85 % open). A real closing lid unfolds skin that
was hidden under the crease. This layer paints that skin: per eye, the strip from the top of the
lash band (``warp.lash_points``) up to just above the crease ring ("Upper1") samples the photo's skin above
the crease, mirrored at the crease (so the layer meets the warp seamlessly there), faded in with the
closure. The lash band itself comes from the warp, so the closed lid keeps its lash line.
"""

from __future__ import annotations

import cv2
import numpy as np

from kpanim.face.topology import LEFT_LOWER_LID, RIGHT_LOWER_LID

from .warp import EYE_CORNERS, UPPER_LID_MARGIN, UPPER_LID_RING, lash_points, triangle_affines

# Lower-lid margin points facing UPPER_LID_MARGIN, point for point
LOWER_LID_MARGIN = (RIGHT_LOWER_LID, LEFT_LOWER_LID)
CLOSURE_START = 0.15
"""The layer starts to fade in when the lid gap is 15 % smaller than in the photo ..."""
CLOSURE_FULL = 0.6
"""... and is fully drawn at 60 % smaller. In the prepared clips the deepest frame of a blink, as MediaPipe
tracks it, has a gap 81 % smaller than the clip's median (median over 445 blinks), so blinks reach it;
half-closed frames (a gap 50 % smaller) get 78 % of the layer. (Starting at 30 % and full at 80 %, the
held-out blink frames rendered by the previous weights were seen closed in 48 % of cases instead of 57 %;
real frames: 73 %, ``bench_render.py --only blinks``.)"""
# The ring of mesh points under the brow ("Upper2"), point for point with UPPER_LID_RING
UPPER_LID_BROW = ((113, 225, 224, 223, 222, 221, 189), (342, 445, 444, 443, 442, 441, 413))
CREASE_LIFT = 0.3
"""The layer reaches this share of the way from the crease ring up to the brow ring: the dark fold of an
open eye often shows a little above the mesh's crease ring, and would stay as an outline."""
MIRROR_DEPTH = 0.35
"""How far above the crease the mirrored skin is taken from, as a share of the strip's height."""


def lid_gap(face_px: np.ndarray) -> np.ndarray:
    """(…, 478, ≥2) → (…, 2): each eye's mean upper-to-lower margin distance / its corner-to-corner width."""
    face = np.asarray(face_px, dtype=np.float64)[..., :2]
    out = []
    for (c0, c1), up, lo in zip(EYE_CORNERS, UPPER_LID_MARGIN, LOWER_LID_MARGIN):
        width = np.linalg.norm(face[..., c1, :] - face[..., c0, :], axis=-1)
        gap = np.linalg.norm(face[..., list(up), :] - face[..., list(lo), :], axis=-1).mean(-1)
        out.append(gap / np.maximum(width, 1e-9))
    return np.stack(out, -1)


def closure(src_face: np.ndarray, dst_face: np.ndarray) -> np.ndarray:
    """(2,) how closed each eye of ``dst_face`` is relative to the photo's ``src_face`` (478, 2), mapped
    to the layer's opacity: 0 down to a 15 % smaller gap, 1 from a 60 % smaller one."""
    rel = lid_gap(dst_face) / np.maximum(lid_gap(src_face), 1e-9)
    return np.clip((1 - rel - CLOSURE_START) / (CLOSURE_FULL - CLOSURE_START), 0.0, 1.0)


def _strip_triangles(n: int) -> np.ndarray:
    """Triangles (2(n-1), 3) of a two-row strip whose vertices are [row0 (n), row1 (n)]."""
    tris = [(i, i + 1, n + i) for i in range(n - 1)] + [(i + 1, n + i + 1, n + i) for i in range(n - 1)]
    return np.array(tris, dtype=np.int32)


def paint_lids(warped: np.ndarray, photo: np.ndarray, src_face: np.ndarray, dst_face: np.ndarray) -> np.ndarray:
    """Draw the lid layer of each closing eye onto ``warped`` (H, W, 3) uint8; returns a new image
    (``warped`` itself when no eye is closing).

    Args:
        warped: the photo warped to ``dst_face``.
        photo: the photo (same framing as ``warped``).
        src_face, dst_face: (478, 2) the face's control points in the photo and in this frame, pixels.
    """
    alpha_eye = closure(src_face, dst_face)
    if not (alpha_eye > 0).any():
        return warped
    out = warped.astype(np.float32)
    h, w = warped.shape[:2]
    src_lash, dst_lash = lash_points(src_face), lash_points(dst_face)
    for e, ((c0, c1), ring, brow) in enumerate(zip(EYE_CORNERS, UPPER_LID_RING, UPPER_LID_BROW)):
        if alpha_eye[e] <= 0:
            continue
        n = len(ring)
        ring_src = src_face[list(ring)] + CREASE_LIFT * (src_face[list(brow)] - src_face[list(ring)])
        ring_dst = dst_face[list(ring)] + CREASE_LIFT * (dst_face[list(brow)] - dst_face[list(ring)])
        lash_dst = dst_lash[e * n:(e + 1) * n]
        # destination strip: lash-band top → crease; source: the crease → skin above it (mirror image)
        height = np.linalg.norm(ring_dst - lash_dst, axis=-1, keepdims=True)
        up = ring_src - src_lash[e * n:(e + 1) * n]
        up /= np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
        mirror_src = ring_src + up * MIRROR_DEPTH * height
        dst = np.concatenate([lash_dst, ring_dst])
        src = np.concatenate([mirror_src, ring_src])
        tris = _strip_triangles(n)
        width = float(np.linalg.norm(dst_face[c1] - dst_face[c0]))
        pad = int(np.ceil(0.2 * width)) + 2
        x0, y0 = np.maximum(np.floor(dst.min(0)).astype(int) - pad, 0)
        x1, y1 = np.minimum(np.ceil(dst.max(0)).astype(int) + pad, [w - 1, h - 1])
        if x1 <= x0 or y1 <= y0:
            continue
        box = np.array([x0, y0], np.float64)
        ids = np.full((y1 - y0 + 1, x1 - x0 + 1), -1, np.int32)
        for k, poly in enumerate(np.round((dst[tris] - box) * 16).astype(np.int32)):
            cv2.fillConvexPoly(ids, poly, k, lineType=cv2.LINE_8, shift=4)
        aff = triangle_affines(src, dst - box, tris).astype(np.float32)
        gy, gx = np.mgrid[0:ids.shape[0], 0:ids.shape[1]].astype(np.float32)
        a = aff[np.maximum(ids, 0)]
        map_x = a[..., 0, 0] * gx + a[..., 0, 1] * gy + a[..., 0, 2]
        map_y = a[..., 1, 0] * gx + a[..., 1, 1] * gy + a[..., 1, 2]
        lid = cv2.remap(photo, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
        # the thin source band is stretched across the lid: smooth its streaks along the lid
        lid = cv2.GaussianBlur(lid, (0, 0), sigmaX=max(0.04 * width, 0.5), sigmaY=max(0.01 * width, 0.3))
        # soft edges (the lash side and the corners fade over a few pixels), opacity = closure
        # opaque over the strip, nothing outside: the layer meets the warp continuously at the crease
        # (mirror) and with the sharp edge of a lid margin at the lash band; outside the strip the mirrored
        # map would sample the dark fold under the crease
        mask = (ids >= 0).astype(np.float32) * alpha_eye[e]
        region = out[y0:y1 + 1, x0:x1 + 1]
        region += mask[..., None] * (lid - region)
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)
