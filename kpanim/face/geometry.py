"""Pure geometry functions: similarity fits, head poses (the pinhole camera is :mod:`kpanim.face.camera`).

Conventions (see docs/FORMAT.md): metres, right-handed, +Y up, +Z towards the viewer. The camera
frame is glTF's/OpenGL's: the camera sits at the origin looking down -Z, so visible points have
Z < 0. A head pose is a (6,) vector ``[rx, ry, rz, tx, ty, tz]``: rotation vector (radians) and
translation (metres) mapping canonical face coordinates to the camera frame:
``X_cam = R(r) @ X_canon + t``.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation


def _check_points(name: str, arr: np.ndarray, last: int = 3) -> None:
    if arr.ndim < 2 or arr.shape[-1] != last:
        raise ValueError(f"{name}: expected shape (..., N, {last}), got {arr.shape}")


def similarity_fit(src: np.ndarray, dst: np.ndarray, weights: np.ndarray | None = None,
                   with_scale: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares similarity ``dst ≈ s * R @ src + t`` (Umeyama 1991), batched.

    Args:
        src: (N, 3) or (B, N, 3) source points.
        dst: (N, 3) or (B, N, 3) target points (broadcast against ``src``).
        weights: optional (N,) or (B, N) non-negative point weights.
        with_scale: if False, fit a rigid transform (s = 1).
    Returns:
        s (B,) or (), R (B, 3, 3) or (3, 3), t (B, 3) or (3,).
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    _check_points("src", src)
    _check_points("dst", dst)
    if src.shape[-2] != dst.shape[-2]:
        raise ValueError(f"src and dst need the same number of points, got {src.shape[-2]} and {dst.shape[-2]}")
    single = src.ndim == 2 and dst.ndim == 2
    src, dst = np.broadcast_arrays(src if src.ndim == 3 else src[None], dst if dst.ndim == 3 else dst[None])
    n = src.shape[-2]
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape[-1] != n or w.ndim > 2:
        raise ValueError(f"weights: expected shape ({n},) or (B, {n}), got {w.shape}")
    w = np.broadcast_to(w / w.sum(-1, keepdims=True), src.shape[:-1])
    mu_s = np.einsum("bn,bnk->bk", w, src)
    mu_d = np.einsum("bn,bnk->bk", w, dst)
    xs = src - mu_s[:, None]
    xd = dst - mu_d[:, None]
    cov = np.einsum("bn,bni,bnj->bij", w, xd, xs)  # Σ_dst,src
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones((len(d), 3))
    fix[:, 2] = d
    rot = u @ (fix[:, :, None] * vt)
    if with_scale:
        var_s = np.einsum("bn,bnk,bnk->b", w, xs, xs)
        scale = (sig * fix).sum(-1) / var_s
    else:
        scale = np.ones(len(d))
    trans = mu_d - scale[:, None] * np.einsum("bij,bj->bi", rot, mu_s)
    if single:
        return scale[0], rot[0], trans[0]
    return scale, rot, trans


def robust_similarity_fit(src: np.ndarray, dst: np.ndarray, iters: int = 3, with_scale: bool = True):
    """:func:`similarity_fit` with iteratively re-weighted least squares (Cauchy weights).

    Points whose residual is far above the median (a tracker glitch on one point, an expression
    moving a "stable" point) lose their influence. Same shapes as :func:`similarity_fit`.
    """
    s, rot, t = similarity_fit(src, dst, with_scale=with_scale)
    for _ in range(iters):
        res = np.linalg.norm(apply_similarity(src, s, rot, t) - dst, axis=-1)
        c = 2.0 * np.median(res, axis=-1, keepdims=True) + 1e-12
        s, rot, t = similarity_fit(src, dst, weights=1.0 / (1.0 + (res / c) ** 2), with_scale=with_scale)
    return s, rot, t


def apply_similarity(points: np.ndarray, s, rot: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``s * R @ p + t`` for points (N, 3) with one transform, or (B, N, 3) with B transforms."""
    points = np.asarray(points, dtype=np.float64)
    s = np.asarray(s, dtype=np.float64)
    return s[..., None, None] * np.einsum("...ij,...nj->...ni", rot, points) + np.asarray(t)[..., None, :]


def pose_to_matrix(head_pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Head pose (..., 6) → rotation matrices (..., 3, 3) and translations (..., 3)."""
    head_pose = np.asarray(head_pose, dtype=np.float64)
    if head_pose.shape[-1] != 6:
        raise ValueError(f"head_pose: expected shape (..., 6), got {head_pose.shape}")
    flat = head_pose.reshape(-1, 6)
    rot = Rotation.from_rotvec(flat[:, :3]).as_matrix().reshape(head_pose.shape[:-1] + (3, 3))
    return rot, head_pose[..., 3:]


def matrix_to_pose(rot: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) and translations (..., 3) → head pose (..., 6)."""
    rot = np.asarray(rot, dtype=np.float64)
    rv = Rotation.from_matrix(rot.reshape(-1, 3, 3)).as_rotvec().reshape(rot.shape[:-2] + (3,))
    return np.concatenate([rv, np.asarray(t, dtype=np.float64)], axis=-1)


def apply_pose(head_pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Canonical points → camera frame: head_pose (..., 6) with points (..., N, 3) → (..., N, 3) float64,
    e.g. (6,) with (N, 3), or (T, 6) with (T, N, 3). The inverse of :func:`kpanim.face.facefit.fit_head`."""
    rot, t = pose_to_matrix(head_pose)
    return np.einsum("...ij,...nj->...ni", rot, np.asarray(points, dtype=np.float64)) + t[..., None, :]


def mirror_x(points: np.ndarray) -> np.ndarray:
    """Mirror points (..., 3) across the canonical YZ plane (x → -x); pair with an index swap."""
    out = np.array(points, dtype=np.float64, copy=True)
    out[..., 0] *= -1.0
    return out
