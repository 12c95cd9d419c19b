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

OFFSET_NAME = "clip_offset"
MAX_MODES = 128  # a tracked 60 s talking clip needs ~65 modes for 0.5 mm (docs/GLTF.md)
FIRST_MODES = 32


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


def _pca_modes(centred: np.ndarray, n_modes: int, power_iters: int = 2, seed: int = 0) -> np.ndarray:
    """Leading principal directions (M <= n_modes, D), strongest first, of centred rows (T, D).

    Randomized subspace iteration (Halko, Martinsson & Tropp 2011, Alg. 4.4) with 10 extra
    directions and two power iterations; a 60 s clip takes a fraction of an exact eigensolver's
    time, and the error bound is checked on the result anyway. Short clips use an exact SVD.
    """
    t, d = centred.shape
    p = min(n_modes + 10, t, d)
    if p == 0:
        return np.zeros((0, d))
    if p == min(t, d):
        _, sing, vt = np.linalg.svd(centred, full_matrices=False)
    else:
        q = np.linalg.qr(centred @ np.random.default_rng(seed).standard_normal((d, p)))[0]
        for _ in range(power_iters):
            q = np.linalg.qr(centred.T @ q)[0]
            q = np.linalg.qr(centred @ q)[0]
        _, sing, vt = np.linalg.svd(q.T @ centred, full_matrices=False)
    keep = sing > sing.max(initial=0.0) * 1e-9  # drop null directions (rank-deficient clips)
    return vt[:n_modes][keep[:n_modes]]


def _smallest_k(fits, n_available: int, lo: int = 0) -> int | None:
    """Smallest K <= n_available for which ``fits(K)`` (max vertex error within the bound), None if even all
    modes miss it. ``lo`` is a K already known to miss the bound.

    Doubling then bisection over K (the max error is nearly, not strictly, monotone in K, so this
    finds a K that meets the bound while K - 1 does not).
    """
    if lo == 0 and fits(0):
        return 0
    hi = max(1, 2 * lo)
    while not fits(min(hi, n_available)):
        if hi >= n_available:
            return None
        lo, hi = hi, 2 * hi
    hi = min(hi, n_available)
    while hi - lo > 1:  # fits(hi) and not fits(lo)
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


class _Frames:
    """The clip's offsets from the base, ``dense - base`` as (T, 3N) rows, served in chunks of frames.

    Memory stays bounded for long clips (30 min of speech is 45 000 frames, 0.5 GB per float64 copy):
    the caller's array is never copied whole, every pass (mean, covariance, PCA weights, residuals,
    the final error) runs over :data:`CHUNK` frames at a time."""

    def __init__(self, dense: np.ndarray, base: np.ndarray):
        self.dense, self.base = dense, base.reshape(-1)
        self.n = len(dense)

    def chunks(self):
        for s in range(0, self.n, CHUNK):
            e = min(self.n, s + CHUNK)
            yield s, e, self.dense[s:e].reshape(e - s, -1).astype(np.float64) - self.base


CHUNK = 1024  # frames per pass (12 MB per float64 temporary of the 478-point mesh)
IN_MEMORY_FRAMES = 4096  # up to this many frames (2.7 min at 25 fps) the centred clip is held for a randomized SVD


def _long_clip_modes(frames: _Frames, mean: np.ndarray, n_modes: int) -> np.ndarray:
    """Principal directions (M <= n_modes, D) of a long clip from its D x D covariance, accumulated chunk by
    chunk (16 MB for the 478-point mesh, whatever the length)."""
    d = mean.size
    cov = np.zeros((d, d))
    for _, _, x in frames.chunks():
        x -= mean
        cov += x.T @ x
    evals, evecs = np.linalg.eigh(cov)
    order = np.argsort(evals)[::-1][:n_modes]
    keep = evals[order] > max(evals.max(initial=0.0), 0.0) * 1e-18  # singular values > 1e-9 of the largest
    return evecs[:, order[keep]].T


def fit_morph_basis(dense: np.ndarray, base: np.ndarray, max_error_m: float = 0.0005,
                    max_modes: int = MAX_MODES) -> MorphBasis:
    """Fit the smallest PCA basis that reproduces ``dense`` within ``max_error_m``.

    Args:
        dense: (T, N, 3) canonical-frame points of every frame, metres (float32 or float64; not copied
            whole: long clips are processed in chunks of frames, so memory stays bounded).
        base: (N, 3) rest shape the targets are relative to.
        max_error_m: bound on the largest vertex error over all frames (metres).
        max_modes: cap on the number of PCA modes; if it is reached before the bound is met,
            the returned basis reports its larger ``max_error_m``.
    """
    dense = np.asarray(dense)
    if dense.dtype not in (np.float32, np.float64):
        dense = dense.astype(np.float64)
    base = np.asarray(base, dtype=np.float64)
    if dense.ndim != 3 or dense.shape[2] != 3 or dense.shape[0] < 1:
        raise ValueError(f"dense: expected shape (T>=1, N, 3), got {dense.shape}")
    if base.shape != dense.shape[1:]:
        raise ValueError(f"base: expected shape {dense.shape[1:]}, got {base.shape}")
    if not max_error_m > 0:
        raise ValueError(f"max_error_m must be positive, got {max_error_m}")
    frames = _Frames(dense, base)
    n_frames = frames.n
    mean = sum(x.sum(0) for _, _, x in frames.chunks()) / n_frames
    if n_frames <= IN_MEMORY_FRAMES:  # a short clip: its centred rows fit in memory, randomized SVD of them
        centred = dense.reshape(n_frames, -1).astype(np.float64) - frames.base - mean
        pca = lambda n: _pca_modes(centred, n)  # noqa: E731
    else:  # a long one: exact PCA from the chunk-accumulated covariance
        every = _long_clip_modes(frames, mean, max_modes)
        pca = lambda n: every[:n]  # noqa: E731

    def weights_of(modes: np.ndarray) -> np.ndarray:  # (T, M) PCA weights
        out = np.empty((n_frames, len(modes)))
        for s, e, x in frames.chunks():
            out[s:e] = (x - mean) @ modes.T
        return out

    def fitter(modes: np.ndarray, coeffs: np.ndarray):
        m32, w32, mean32 = modes.astype(np.float32), coeffs.astype(np.float32), mean.astype(np.float32)

        def fits(k: int) -> bool:  # float32 keeps the residuals fast
            for s, e, x in frames.chunks():
                res = x.astype(np.float32) - mean32
                if k:
                    res -= w32[s:e, :k] @ m32[:k]
                res = res.reshape(e - s, -1, 3)
                if float(np.einsum("tnc,tnc->tn", res, res).max()) > max_error_m ** 2:
                    return False
            return True
        return fits

    # Most clips need few modes: try a small subspace first, the full cap only when needed.
    n_try, known_miss = min(FIRST_MODES, max_modes), 0
    while True:
        modes = pca(n_try)
        coeffs = weights_of(modes)
        n_modes = _smallest_k(fitter(modes, coeffs), len(modes), lo=min(known_miss, len(modes) - 1))
        if n_modes is not None or n_try >= max_modes or len(modes) < n_try:
            break
        n_try, known_miss = max_modes, n_try
    n_modes = len(modes) if n_modes is None else n_modes
    basis = _basis(frames, base, mean, modes[:n_modes], coeffs[:, :n_modes], max_error_m)
    while not basis.within_bound and n_modes < len(modes):  # float32 storage pushed it over
        n_modes += 1
        basis = _basis(frames, base, mean, modes[:n_modes], coeffs[:, :n_modes], max_error_m)
    return basis


def _basis(frames: _Frames, base: np.ndarray, mean: np.ndarray, modes: np.ndarray, coeffs: np.ndarray,
           bound: float) -> MorphBasis:
    """Shift/scale each mode's weights to [0, 1]; the shifts join the mean in ``clip_offset``."""
    n_frames, n_points = frames.n, base.shape[0]
    low, high = coeffs.min(0), coeffs.max(0)
    scale = np.maximum(high - low, 1e-12)
    targets = np.concatenate([(mean + low @ modes)[None], scale[:, None] * modes]).reshape(-1, n_points, 3)
    weights = np.concatenate([np.ones((n_frames, 1)), np.clip((coeffs - low) / scale, 0.0, 1.0)], axis=1)
    base32, targets32, weights32 = base.astype(np.float32), targets.astype(np.float32), weights.astype(np.float32)
    error = 0.0
    for s, e, x in frames.chunks():  # the stored (float32) reconstruction against every frame
        got = reconstruct(base32, targets32, weights32[s:e])
        error = max(error, max_vertex_error(got, x.reshape(e - s, -1, 3) + base))
    return MorphBasis(base=base32, targets=targets32, weights=weights32,
                      names=(OFFSET_NAME, *(mode_name(k) for k in range(len(modes)))),
                      max_error_m=error, error_bound_m=float(bound))
