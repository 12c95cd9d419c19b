"""A compact morph-target basis for a clip's dense face motion (used by the glTF export).

A clip's dense motion (T, 478, 3) is stored as a base shape plus linear morph targets with one
weight per target and frame. The basis is the clip's PCA, cut at the smallest number of modes
whose reconstruction keeps every vertex of every frame within a bound (default 0.5 mm).

Weights are kept in [0, 1], the range Blender's shape-key sliders clamp to (its glTF importer only
widens a slider for the first keyframe's value, so negative weights would be clipped on import).
Each PCA mode is therefore shifted and scaled to [0, 1], and the shifts together with the clip's
mean offset from the base go into one extra target, ``clip_offset``, whose weight is always 1.
With linear interpolation between keyframes the reconstruction stays exactly linear, so nothing
is lost by this re-parametrisation.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.linalg

OFFSET_NAME = "clip_offset"
MAX_MODES = 64


def mode_name(k: int) -> str:
    return f"mode_{k:02d}"


@dataclasses.dataclass(frozen=True)
class MorphBasis:
    """``dense[t] ≈ base + Σ_k weights[t, k] * targets[k]``.

    Attributes:
        base: (N, 3) float32 rest shape (the subject's neutral, or the clip's mean).
        targets: (K + 1, N, 3) float32 displacements; targets[0] is ``clip_offset``.
        weights: (T, K + 1) float32 in [0, 1]; weights[:, 0] == 1.
        names: K + 1 target names (``clip_offset``, ``mode_00``, ``mode_01``, ...).
        max_error_m: largest vertex distance (m) between ``dense`` and the reconstruction.
        error_bound_m: the bound the basis was fit for (``max_error_m`` may exceed it only when
            ``MAX_MODES`` modes were not enough).
    """

    base: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    names: tuple[str, ...]
    max_error_m: float
    error_bound_m: float

    @property
    def n_modes(self) -> int:
        return len(self.names) - 1

    @property
    def within_bound(self) -> bool:
        return self.max_error_m <= self.error_bound_m

    def reconstruct(self) -> np.ndarray:
        """(T, N, 3) float64 shapes the morph targets produce at every keyframe."""
        return reconstruct(self.base, self.targets, self.weights)


def reconstruct(base: np.ndarray, targets: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """base (N, 3) + weights (T, K) @ targets (K, N, 3) → (T, N, 3), in float64."""
    t64 = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    out = np.asarray(weights, dtype=np.float64) @ t64
    return out.reshape(len(weights), -1, 3) + np.asarray(base, dtype=np.float64)


def max_vertex_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest Euclidean distance between corresponding points of (..., N, 3) arrays."""
    if a.size == 0:
        return 0.0
    diff = np.asarray(a, np.float64) - np.asarray(b, np.float64)
    return float(np.sqrt(np.einsum("...c,...c->...", diff, diff).max()))


def _pca_modes(delta: np.ndarray, max_modes: int) -> np.ndarray:
    """Leading principal directions (M, D), strongest first, of centred rows ``delta`` (T, D).

    Uses the eigenvectors of the smaller Gram matrix, computing only the top ``max_modes``
    (several times faster than a full SVD for a 60 s clip).
    """
    t, d = delta.shape
    m = min(max_modes, t, d)
    if m == 0:
        return np.zeros((0, d))
    if t < d:  # eigenvectors of delta delta^T, mapped back through delta^T
        vals, vecs = scipy.linalg.eigh(delta @ delta.T, subset_by_index=(t - m, t - 1))
        modes = (delta.T @ vecs[:, ::-1]).T
    else:
        vals, vecs = scipy.linalg.eigh(delta.T @ delta, subset_by_index=(d - m, d - 1))
        modes = vecs[:, ::-1].T
    vals = vals[::-1]
    keep = vals > vals.max(initial=0.0) * 1e-12  # drop null directions (rank-deficient clips)
    modes = modes[keep]
    return modes / np.linalg.norm(modes, axis=1, keepdims=True)


def fit_morph_basis(dense: np.ndarray, base: np.ndarray, max_error_m: float = 0.0005,
                    max_modes: int = MAX_MODES) -> MorphBasis:
    """Fit the smallest PCA basis that reproduces ``dense`` within ``max_error_m``.

    Args:
        dense: (T, N, 3) canonical-frame points of every frame, metres.
        base: (N, 3) rest shape the targets are relative to.
        max_error_m: bound on the largest vertex error over all frames (metres).
        max_modes: cap on the number of PCA modes; if it is reached before the bound is met,
            the returned basis reports its larger ``max_error_m``.
    """
    dense = np.asarray(dense, dtype=np.float64)
    base = np.asarray(base, dtype=np.float64)
    if dense.ndim != 3 or dense.shape[2] != 3 or dense.shape[0] < 1:
        raise ValueError(f"dense: expected shape (T>=1, N, 3), got {dense.shape}")
    if base.shape != dense.shape[1:]:
        raise ValueError(f"base: expected shape {dense.shape[1:]}, got {base.shape}")
    if not max_error_m > 0:
        raise ValueError(f"max_error_m must be positive, got {max_error_m}")
    n_frames, n_points = dense.shape[:2]
    delta = (dense - base).reshape(n_frames, -1)
    mean = delta.mean(0)
    centred = delta - mean
    modes = _pca_modes(centred, max_modes)

    # Smallest K: add modes one at a time, updating the residual (a rank-1 step each).
    coeffs = centred @ modes.T  # (T, M)
    residual = centred.copy()
    n_modes = 0
    while n_modes < len(modes):
        per_vertex = residual.reshape(n_frames, n_points, 3)
        if np.einsum("tnc,tnc->tn", per_vertex, per_vertex).max() <= max_error_m ** 2:
            break
        residual -= np.outer(coeffs[:, n_modes], modes[n_modes])
        n_modes += 1
    basis = _basis(dense, base, mean, modes[:n_modes], coeffs[:, :n_modes], max_error_m)
    while not basis.within_bound and n_modes < len(modes):  # float32 rounding pushed it over
        n_modes += 1
        basis = _basis(dense, base, mean, modes[:n_modes], coeffs[:, :n_modes], max_error_m)
    return basis


def _basis(dense: np.ndarray, base: np.ndarray, mean: np.ndarray, modes: np.ndarray, coeffs: np.ndarray,
           bound: float) -> MorphBasis:
    """Shift/scale each mode's weights to [0, 1]; the shifts join the mean in ``clip_offset``."""
    n_frames, n_points = dense.shape[:2]
    low, high = coeffs.min(0), coeffs.max(0)
    scale = np.maximum(high - low, 1e-12)
    targets = np.concatenate([(mean + low @ modes)[None], scale[:, None] * modes]).reshape(-1, n_points, 3)
    weights = np.concatenate([np.ones((n_frames, 1)), np.clip((coeffs - low) / scale, 0.0, 1.0)], axis=1)
    base32, targets32, weights32 = base.astype(np.float32), targets.astype(np.float32), weights.astype(np.float32)
    error = max_vertex_error(reconstruct(base32, targets32, weights32), dense)
    return MorphBasis(base=base32, targets=targets32, weights=weights32,
                      names=(OFFSET_NAME, *(mode_name(k) for k in range(len(modes)))),
                      max_error_m=error, error_bound_m=float(bound))
