"""Turn kpanim streams into what Blender animates: axes, quaternions, shape-key bases, frame rates.

Pure numpy (no bpy), unit-tested in tests/test_blender_core.py.

Axes: kpanim (like glTF) is +Y up, +Z towards the viewer; Blender is +Z up, -Y towards the viewer
(front view). The conversion is a rotation of +90° about X: (x, y, z) → (x, -z, y), the same one
Blender's glTF importer applies, so a .npz and its .glb land in the same place.
"""

from __future__ import annotations

import math

import numpy as np

# kpanim/glTF → Blender world (a proper rotation, det = +1).
AXIS_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])


def to_blender(points: np.ndarray) -> np.ndarray:
    """Points (..., 3) from kpanim axes to Blender axes."""
    return np.asarray(points, dtype=np.float64) @ AXIS_TO_BLENDER.T


def rotvec_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rotation vectors (..., 3) → rotation matrices (..., 3, 3) (Rodrigues' formula)."""
    rotvec = np.asarray(rotvec, dtype=np.float64)
    angle = np.linalg.norm(rotvec, axis=-1)[..., None, None]
    safe = np.where(angle > 1e-12, angle, 1.0)
    k = rotvec / safe[..., 0]  # unit axes (any axis for a zero rotation)
    kx, ky, kz = k[..., 0], k[..., 1], k[..., 2]
    zero = np.zeros_like(kx)
    cross = np.stack([np.stack([zero, -kz, ky], -1), np.stack([kz, zero, -kx], -1),
                      np.stack([-ky, kx, zero], -1)], -2)
    eye = np.broadcast_to(np.eye(3), cross.shape)
    return eye + np.sin(angle) * cross + (1.0 - np.cos(angle)) * (cross @ cross)


def matrix_to_quaternion(rot: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) → unit quaternions (..., 4) as (w, x, y, z), Blender's order."""
    rot = np.asarray(rot, dtype=np.float64)
    m = rot.reshape(-1, 3, 3)
    # Shepperd's method: pick the largest of 4 candidate denominators for numerical stability.
    tr = np.trace(m, axis1=1, axis2=2)
    cand = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    pick = np.argmax(cand, axis=1)
    q = np.empty((len(m), 4))
    for i in range(len(m)):
        r = m[i]
        if pick[i] == 0:
            s = math.sqrt(max(tr[i] + 1.0, 0.0)) * 2
            q[i] = [0.25 * s, (r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s, (r[1, 0] - r[0, 1]) / s]
        elif pick[i] == 1:
            s = math.sqrt(max(1.0 + r[0, 0] - r[1, 1] - r[2, 2], 0.0)) * 2
            q[i] = [(r[2, 1] - r[1, 2]) / s, 0.25 * s, (r[0, 1] + r[1, 0]) / s, (r[0, 2] + r[2, 0]) / s]
        elif pick[i] == 2:
            s = math.sqrt(max(1.0 + r[1, 1] - r[0, 0] - r[2, 2], 0.0)) * 2
            q[i] = [(r[0, 2] - r[2, 0]) / s, (r[0, 1] + r[1, 0]) / s, 0.25 * s, (r[1, 2] + r[2, 1]) / s]
        else:
            s = math.sqrt(max(1.0 + r[2, 2] - r[0, 0] - r[1, 1], 0.0)) * 2
            q[i] = [(r[1, 0] - r[0, 1]) / s, (r[0, 2] + r[2, 0]) / s, (r[1, 2] + r[2, 1]) / s, 0.25 * s]
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q.reshape(rot.shape[:-2] + (4,))


def continuous_quaternions(q: np.ndarray) -> np.ndarray:
    """(T, 4) quaternions with signs flipped so neighbours agree (q and -q are the same rotation);
    without this, Blender's per-channel interpolation between keys takes the long way round."""
    q = np.array(q, dtype=np.float64)
    for i in range(1, len(q)):
        if np.dot(q[i], q[i - 1]) < 0:
            q[i] = -q[i]
    return q


def head_pose_to_blender(head_pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """kpanim head poses (T, 6) → Blender locations (T, 3) and quaternions (T, 4) (w, x, y, z).

    A head pose maps canonical face points to the camera frame: ``X_cam = R X + t``. With both
    frames converted to Blender axes by A, the head object's world transform is ``A R A^T`` and
    ``A t``, applied to a face mesh whose vertices are ``A X``.
    """
    head_pose = np.asarray(head_pose, dtype=np.float64)
    if head_pose.ndim != 2 or head_pose.shape[1] != 6:
        raise ValueError(f"head_pose: expected shape (T, 6), got {head_pose.shape}")
    rot = AXIS_TO_BLENDER @ rotvec_to_matrix(head_pose[:, :3]) @ AXIS_TO_BLENDER.T
    return head_pose[:, 3:] @ AXIS_TO_BLENDER.T, continuous_quaternions(matrix_to_quaternion(rot))


def euler_yxz(rot: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) → (..., 3) intrinsic Y-X-Z Euler angles (a, b, c) in radians, with
    ``rot = Ry(a) Rx(b) Rz(c)``: scipy's ``Rotation.as_euler("YXZ")`` (b in [-π/2, π/2]), away from b = ±π/2."""
    rot = np.asarray(rot, dtype=np.float64)
    # Ry(a) Rx(b) Rz(c) has third column (sin a cos b, -sin b, cos a cos b), middle row (cos b sin c, cos b cos c, ·)
    b = np.arcsin(np.clip(-rot[..., 1, 2], -1.0, 1.0))
    a = np.arctan2(rot[..., 0, 2], rot[..., 2, 2])
    c = np.arctan2(rot[..., 1, 0], rot[..., 1, 1])
    return np.stack([a, b, c], axis=-1)


def euler_yxz_matrix(angles: np.ndarray) -> np.ndarray:
    """(..., 3) intrinsic Y-X-Z angles (a, b, c) → (..., 3, 3) matrices ``Ry(a) Rx(b) Rz(c)``."""
    angles = np.asarray(angles, dtype=np.float64)
    axes = np.eye(3)[[1, 0, 2]]  # Y, X, Z
    rots = [rotvec_to_matrix(angles[..., k, None] * axes[k]) for k in range(3)]
    return rots[0] @ rots[1] @ rots[2]


def head_angles(head_pose: np.ndarray) -> np.ndarray:
    """kpanim head poses (T, 6) → (T, 3) yaw, pitch, roll in radians: a numpy copy of
    ``kpanim.animate.arkit.head_angles`` (HeadYaw/HeadPitch/HeadRoll of kpanim's CSV), pinned by
    tests/test_blender_constants.py. Yaw + turns the face to the subject's left, pitch + looks down,
    roll + tilts the head towards the subject's right shoulder (kpanim axes: +X the subject's left,
    +Y up, +Z forward, out of the face)."""
    pose = np.asarray(head_pose, dtype=np.float64).reshape(-1, 6)
    return euler_yxz(rotvec_to_matrix(pose[:, :3])).reshape(-1, 3)


def head_rotation_to_blender(angles: np.ndarray) -> np.ndarray:
    """(T, 3) yaw, pitch, roll (see :func:`head_angles`) → (T, 3, 3) rotations in Blender world axes.

    ``A Ry(yaw) Rx(pitch) Rz(roll) A^T``, the rotation the imported kpanim head gets
    (:func:`head_pose_to_blender`): for a character facing -Y with +Z up (its left +X), yaw turns about
    +Z (the face towards +X), pitch about +X (the face down, towards -Z), roll about the forward axis -Y
    (the top of the head towards -X, the subject's right)."""
    return AXIS_TO_BLENDER @ euler_yxz_matrix(angles) @ AXIS_TO_BLENDER.T


def bone_local_quaternions(world_rot: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """(T, 3, 3) world-axis rotations R → (T, 4) continuous quaternions (w, x, y, z) of a pose bone.

    ``rest`` (3, 3) is the bone's rest orientation in world axes (the armature object's world matrix
    times ``bone.matrix_local``; scale removed here). The bone's local pose rotation ``C^-1 R C``
    turns it by R about its own head, in world axes, whatever its roll or rest direction."""
    u, _, vt = np.linalg.svd(np.asarray(rest, dtype=np.float64))
    c = u @ vt  # the nearest rotation: drops (non-uniform) object scale
    if np.linalg.det(c) < 0:
        raise ValueError("the bone's rest matrix is mirrored (negative scale); cannot key a rotation on it")
    local = c.T @ np.asarray(world_rot, dtype=np.float64) @ c
    return continuous_quaternions(matrix_to_quaternion(local))


def blender_fps(fps: float) -> tuple[int, float]:
    """Blender's (render.fps, render.fps_base) for a frame rate: fps / fps_base == ``fps``."""
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps}")
    whole = max(1, int(round(fps)))
    return whole, whole / fps


def shape_basis(frames: np.ndarray, max_keys: int = 128, tolerance: float = 5e-4
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Compress per-frame vertex positions into a few shape keys (principal components).

    Blender animates a mesh through shape keys with keyframed weights; one key per frame would be
    exact but unwieldy (thousands of keys for a minute of speech), so the motion is written as the
    mean shape plus the smallest number of principal components whose reconstruction error stays
    under ``tolerance`` (metres, max over all points and frames), at most ``max_keys``.

    Args:
        frames: (T, N, 3) vertex positions.
    Returns:
        mean (N, 3), keys (K, N, 3) offsets from the mean, weights (T, K) in [-1, 1] such that
        ``frames[t] ≈ mean + Σ_k weights[t, k] * keys[k]``, and the largest error of that
        approximation (above ``tolerance`` only when ``max_keys`` was reached first).
    """
    frames = np.asarray(frames, dtype=np.float64)
    if frames.ndim != 3 or frames.shape[-1] != 3:
        raise ValueError(f"frames: expected shape (T, N, 3), got {frames.shape}")
    n_frames, n_points = frames.shape[:2]
    mean = frames.mean(axis=0)
    centred = (frames - mean).reshape(n_frames, -1)
    if n_frames < 2 or not np.any(centred):
        return mean, np.zeros((0, n_points, 3)), np.zeros((n_frames, 0)), float(np.abs(centred).max(initial=0.0))
    u, sig, vt = _principal_components(centred, max_keys)
    # Add components until the worst point of the worst frame is within tolerance (residual updated
    # one rank-1 term at a time: T x 3N work per component, not T x 3N x K).
    residual = centred.copy()
    k, error = 0, float(np.abs(residual).max())
    while k < len(sig) and error > tolerance:
        residual -= np.outer(u[:, k] * sig[k], vt[k])
        k += 1
        error = float(np.abs(residual).max())
    coef = u[:, :k] * sig[:k]  # (T, K)
    # Normalise each key so its weight spans at most [-1, 1]: friendly sliders, far from Blender's ±10 limit.
    amp = np.abs(coef).max(axis=0)
    amp[amp == 0] = 1.0
    weights = coef / amp
    keys = (vt[:k] * amp[:, None]).reshape(k, n_points, 3)
    return mean, keys, weights, error


def _principal_components(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top ``n`` singular triplets of x (T, D). With many more columns than rows (a long clip of
    a big mesh) the T x T Gram matrix's eigenvectors are ~5x faster than an SVD of x itself."""
    n_frames, n_cols = x.shape
    if n_cols <= 2 * n_frames:
        u, sig, vt = np.linalg.svd(x, full_matrices=False)
        return u[:, :n], sig[:n], vt[:n]
    evals, evecs = np.linalg.eigh(x @ x.T)
    order = np.argsort(evals)[::-1][:n]
    sig = np.sqrt(np.clip(evals[order], 0.0, None))
    keep = sig > sig[0] * 1e-7  # drop directions lost to round-off in the Gram matrix
    u, sig = evecs[:, order][:, keep], sig[keep]
    vt = (u.T @ x) / sig[:, None]
    return u, sig, vt
