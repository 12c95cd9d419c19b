"""Retargeting maths without bpy: fit the kpanim face to a target mesh, bind, solve shape-key weights.

Pure numpy (Blender's Python has no scipy), unit-tested in tests/test_blender_core.py, where the
NNLS solver is checked against ``scipy.optimize.nnls``. All points are in one frame (the target
object's local space, Blender axes: +Z up, the face looking along -Y).
"""

from __future__ import annotations

import dataclasses

import numpy as np


# ------------------------------------------------------------------------------------ alignment
def fit_from_bounds(source: np.ndarray, target: np.ndarray, width_ratio: float = 0.9
                    ) -> tuple[float, np.ndarray]:
    """Place the kpanim face on a head mesh from three landmarks read off the bounding boxes.

    The landmarks: the face's width (cheek to cheek) becomes ``width_ratio`` times the target's
    width; the face's x/z centre goes to the target's x/z centre; its nose tip (the front-most
    point, min y) touches the target's front-most point. Users refine the result by moving or
    scaling the fitted face object before binding.

    Args:
        source: (N, 3) kpanim face vertices (Blender axes, looking along -Y).
        target: (M, 3) target mesh vertices, same frame.
        width_ratio: face width / target width (1 for a face-only mesh, ~0.9 for a whole head).
    Returns:
        scale s and translation t (3,) such that the fitted face is ``s * source + t``.
    """
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    for name, arr in (("source", source), ("target", target)):
        if arr.ndim != 2 or arr.shape[1] != 3 or len(arr) < 4:
            raise ValueError(f"{name}: expected shape (N >= 4, 3), got {arr.shape}")
    src_width = np.ptp(source[:, 0])
    tgt_width = np.ptp(target[:, 0])
    if src_width <= 0 or tgt_width <= 0:
        raise ValueError("the target mesh is flat in X (zero width); a head mesh needs a width")
    scale = width_ratio * tgt_width / src_width
    src_centre = (source.min(0) + source.max(0)) / 2
    tgt_centre = (target.min(0) + target.max(0)) / 2
    t = tgt_centre - scale * src_centre
    t[1] = target[:, 1].min() - scale * source[:, 1].min()
    return float(scale), t


# -------------------------------------------------------------------------------------- binding
@dataclasses.dataclass(frozen=True)
class Binding:
    """Each target point tied to its closest point on the source triangle mesh.

    Attributes:
        triangle: (M,) index of the closest source triangle.
        bary: (M, 3) barycentric coordinates of the closest point in that triangle.
        distance: (M,) distance from the target point to the source surface.
    """

    triangle: np.ndarray
    bary: np.ndarray
    distance: np.ndarray


def _closest_on_segments(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ab = b - a
    t = np.clip(np.einsum("...k,...k->...", p - a, ab) / np.maximum(np.einsum("...k,...k->...", ab, ab), 1e-30),
                0.0, 1.0)
    q = a + t[..., None] * ab
    return t, np.linalg.norm(p - q, axis=-1)


def bind_points(points: np.ndarray, verts: np.ndarray, triangles: np.ndarray, chunk: int = 256) -> Binding:
    """Closest point on a triangle mesh for each point (brute force in chunks; exact).

    Args:
        points: (M, 3) target points. verts: (N, 3) source vertices. triangles: (F, 3) indices.
    """
    points = np.asarray(points, dtype=np.float64)
    tri = np.asarray(verts, dtype=np.float64)[np.asarray(triangles)]  # (F, 3, 3)
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    e0, e1 = b - a, c - a
    normal = np.cross(e0, e1)
    n2 = np.maximum(np.einsum("fk,fk->f", normal, normal), 1e-30)
    out_tri = np.empty(len(points), dtype=np.int64)
    out_bary = np.empty((len(points), 3))
    out_dist = np.empty(len(points))
    for lo in range(0, len(points), chunk):
        p = points[lo:lo + chunk, None, :]  # (C, 1, 3)
        ap = p - a
        # Projection onto each triangle's plane and its barycentric coordinates.
        v = np.einsum("cfk,fk->cf", np.cross(ap, e1), normal) / n2
        w = np.einsum("cfk,fk->cf", np.cross(e0, ap), normal) / n2
        u = 1.0 - v - w
        inside = (u >= 0) & (v >= 0) & (w >= 0)
        plane_dist = np.abs(np.einsum("cfk,fk->cf", ap, normal)) / np.sqrt(n2)
        # Otherwise the closest point lies on one of the three edges.
        t_ab, d_ab = _closest_on_segments(p, a, b)
        t_bc, d_bc = _closest_on_segments(p, b, c)
        t_ca, d_ca = _closest_on_segments(p, c, a)
        edge_d = np.stack([d_ab, d_bc, d_ca], -1)
        edge = np.argmin(edge_d, -1)
        dist = np.where(inside, plane_dist, np.take_along_axis(edge_d, edge[..., None], -1)[..., 0])
        best = np.argmin(dist, axis=1)
        rows = np.arange(len(best))
        bary = np.stack([u, v, w], -1)[rows, best]
        e_best = edge[rows, best]
        for k, t in enumerate((t_ab, t_bc, t_ca)):
            sel = ~inside[rows, best] & (e_best == k)
            tt = t[rows, best][sel]
            edge_bary = np.zeros((len(tt), 3))
            edge_bary[:, k] = 1 - tt
            edge_bary[:, (k + 1) % 3] = tt
            bary[sel] = edge_bary
        out_tri[lo:lo + chunk] = best
        out_bary[lo:lo + chunk] = bary
        out_dist[lo:lo + chunk] = dist[rows, best]
    return Binding(out_tri, out_bary, out_dist)


def interpolate(binding: Binding, values: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Per-vertex source values (..., N, 3) → values at the bound target points (..., M, 3)."""
    corners = np.asarray(triangles)[binding.triangle]  # (M, 3)
    values = np.asarray(values, dtype=np.float64)
    return np.einsum("mj,...mjk->...mk", binding.bary, values[..., corners, :])


def region_weights(distance: np.ndarray, radius: float) -> np.ndarray:
    """1 for points within ``radius`` of the face surface, smoothly down to 0 at twice that.

    Keeps the back of a head still while the face region follows the kpanim face.
    """
    x = np.clip((np.asarray(distance) - radius) / max(radius, 1e-12), 0.0, 1.0)
    return 1.0 - x * x * (3 - 2 * x)  # smoothstep


# ------------------------------------------------------------------------------------------ NNLS
def nnls_gram(gram: np.ndarray, rhs: np.ndarray, max_iter: int | None = None) -> np.ndarray:
    """Non-negative least squares on the normal equations (Lawson & Hanson 1974, active set).

    Minimises ``x^T G x - 2 c^T x`` subject to ``x >= 0``, i.e. ``||A x - b||²`` with ``G = A^T A``
    and ``c = A^T b``; working on the small (K, K) Gram matrix lets one factorisation of A serve
    every frame.
    """
    gram = np.asarray(gram, dtype=np.float64)
    rhs = np.asarray(rhs, dtype=np.float64)
    n = len(rhs)
    tol = 10 * np.finfo(float).eps * max(1.0, np.abs(gram).max()) * n
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    for _ in range(max_iter or 3 * n + 10):
        grad = rhs - gram @ x  # = A^T (b - A x): the descent direction
        if passive.all() or grad[~passive].max() <= tol:
            break
        j = np.flatnonzero(~passive)[np.argmax(grad[~passive])]
        passive[j] = True
        while True:  # inner loop: keep the unconstrained solution on the passive set feasible
            idx = np.flatnonzero(passive)
            s = np.zeros(n)
            s[idx] = np.linalg.lstsq(gram[np.ix_(idx, idx)], rhs[idx], rcond=None)[0]
            if s[idx].min() > tol:
                x = s
                break
            neg = passive & (s <= tol)
            alpha = np.min(x[neg] / np.maximum(x[neg] - s[neg], 1e-300))
            x = x + alpha * (s - x)
            passive &= x > tol
            x[~passive] = 0.0
            if not passive.any():
                break
    return x


def nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``argmin ||a x - b||`` subject to ``x >= 0``; a (M, K), b (M,) → x (K,)."""
    a = np.asarray(a, dtype=np.float64)
    return nnls_gram(a.T @ a, a.T @ np.asarray(b, dtype=np.float64))


def solve_key_weights(key_offsets: np.ndarray, motion: np.ndarray, point_weights: np.ndarray | None = None,
                      ridge: float = 1e-3) -> np.ndarray:
    """Per-frame non-negative shape-key weights reproducing a motion.

    Args:
        key_offsets: (K, M, 3) each target shape key's offset from the basis at the M points.
        motion: (T, M, 3) wanted offsets of the same points (the retargeted kpanim motion).
        point_weights: optional (M,) importance of each point (e.g. :func:`region_weights`).
        ridge: Tikhonov damping relative to the mean diagonal of the Gram matrix; keeps
            near-duplicate keys (left/right pairs on a symmetric motion) from fighting.
    Returns:
        (T, K) weights >= 0 minimising ``Σ_m w_m ||Σ_k x_k key[k, m] - motion[t, m]||²``.
    """
    key_offsets = np.asarray(key_offsets, dtype=np.float64)
    motion = np.asarray(motion, dtype=np.float64)
    if key_offsets.ndim != 3 or motion.ndim != 3 or key_offsets.shape[1:] != motion.shape[1:]:
        raise ValueError(f"key_offsets (K, M, 3) and motion (T, M, 3) disagree: {key_offsets.shape} vs {motion.shape}")
    n_keys = len(key_offsets)
    a = key_offsets.reshape(n_keys, -1).T  # (3M, K)
    if point_weights is not None:
        sw = np.sqrt(np.repeat(np.asarray(point_weights, dtype=np.float64), 3))
        a = a * sw[:, None]
    else:
        sw = 1.0
    gram = a.T @ a
    gram += ridge * max(np.trace(gram) / max(n_keys, 1), 1e-30) * np.eye(n_keys)
    rhs = (motion.reshape(len(motion), -1) * sw) @ a  # (T, K)
    return np.stack([nnls_gram(gram, c) for c in rhs]) if len(rhs) else np.zeros((0, n_keys))
