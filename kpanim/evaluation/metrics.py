"""Lip-sync and naturalness metrics that need no pretrained network (pure numpy functions).

Conventions: sequences are canonical-frame face meshes ``dense`` (T, 478, 3) in metres. Every
metric first aligns each frame to the canonical template by a robust similarity fit on the stable
points (:func:`align_to_template`), which removes any leftover head motion and the person's scale,
then expresses distances in units of the template's inter-ocular distance (IOD, iris centre to
iris centre = 63 mm), so 0.01 means 1 % of IOD. Point distances (LMD, MA) use the frontal view
(x, y): MediaPipe's depth is relative and noisy. Time is in frames; ``fps`` converts to seconds.
"""

from __future__ import annotations

import numpy as np

from ..face import constants
from ..face.geometry import apply_pose, apply_similarity, robust_similarity_fit
from ..face.topology import INNER_LIP_MIDPOINTS, OUTER_LIP_LOOP

# Eye landmarks for the eye aspect ratio: (corner, corner) and three (upper, lower) lid pairs.
EYE_LIDS = {
    "right": ((33, 133), ((160, 144), (159, 145), (158, 153))),
    "left": ((362, 263), ((385, 380), (386, 374), (387, 373))),
}
MAX_LAG = 10  # frames searched by the cross-correlation lag (±0.4 s at 25 fps)


def template_iod() -> float:
    t = constants.template()
    return float(np.linalg.norm(t[constants.LEFT_IRIS_CENTRE] - t[constants.RIGHT_IRIS_CENTRE]))


def align_to_template(dense: np.ndarray) -> np.ndarray:
    """(T, 478, 3) meshes → (T, 478, 3) each similarity-aligned on stable points to the template, in IOD units."""
    dense = _check_dense(dense)
    stable = constants.stable_index()
    s, rot, t = robust_similarity_fit(dense[:, stable], constants.template()[stable][None])
    return apply_similarity(dense, s, rot, t) / template_iod()


def mouth_opening(aligned: np.ndarray) -> np.ndarray:
    """(T, 478, 3) aligned meshes → (T,) gap between the inner-lip mid points 13 and 14, in IOD."""
    upper, lower = INNER_LIP_MIDPOINTS
    return np.linalg.norm(aligned[:, upper, :2] - aligned[:, lower, :2], axis=-1)


def closed_mouth_neutral(dense: np.ndarray, valid: np.ndarray | None = None, percentile: float = 20.0) -> np.ndarray:
    """A person's neutral face (478, 3): per-point median of the frames (T, 478, 3) whose mouth opening
    is at or below ``percentile`` (among ``valid`` frames, default all)."""
    dense = _check_dense(dense)
    valid = np.ones(len(dense), bool) if valid is None else np.asarray(valid, bool)
    opening = mouth_opening(align_to_template(dense))
    closed = valid & (opening <= np.percentile(opening[valid], percentile))
    return np.median(dense[closed], axis=0)


def lmd(pred: np.ndarray, ref: np.ndarray) -> float:
    """Mean Euclidean distance (x, y) between matching points of (T, N, ≥2) sequences."""
    _check_pair(pred, ref)
    return float(np.linalg.norm(pred[..., :2] - ref[..., :2], axis=-1).mean())


def lmd_motion(pred: np.ndarray, ref: np.ndarray) -> float:
    """LMD after subtracting each sequence's own mean shape: compares motion, not the person's lips."""
    _check_pair(pred, ref)
    return lmd(pred - pred.mean(0, keepdims=True), ref - ref.mean(0, keepdims=True))


def lmd_velocity(pred: np.ndarray, ref: np.ndarray) -> float:
    """LMD-v: LMD of the frame-to-frame differences (T-1, N, ·)."""
    _check_pair(pred, ref)
    if len(pred) < 2:
        return 0.0
    return lmd(np.diff(pred, axis=0), np.diff(ref, axis=0))


def polygon_iou(poly_a: np.ndarray, poly_b: np.ndarray, resolution: float = 400.0) -> np.ndarray:
    """IoU of polygons (T, K, 2) rasterised at ``resolution`` cells per unit → (T,).

    Two empty polygons (both areas zero) count as a perfect match (IoU 1).
    """
    import cv2  # opencv ships with mediapipe; its scanline fill is ~100x faster than a point-in-polygon test

    _check_pair(poly_a, poly_b)
    lo = np.minimum(poly_a.min((0, 1)), poly_b.min((0, 1)))
    hi = np.maximum(poly_a.max((0, 1)), poly_b.max((0, 1)))
    shape = tuple(int(v) + 3 for v in np.ceil((hi - lo) * resolution)[::-1])  # (rows=y, cols=x)
    out = np.empty(len(poly_a))
    for i in range(len(poly_a)):
        masks = []
        for poly in (poly_a[i], poly_b[i]):
            m = np.zeros(shape, np.uint8)
            p = np.round(((poly - lo) * resolution + 1) * 16).astype(np.int32)  # 4 fractional bits
            cv2.fillPoly(m, [p], 1, lineType=cv2.LINE_8, shift=4)
            masks.append(m.astype(bool))
        union = np.logical_or(*masks).sum()
        out[i] = 1.0 if union == 0 else np.logical_and(*masks).sum() / union
    return out


def mouth_area_iou(pred_aligned: np.ndarray, ref_aligned: np.ndarray) -> float:
    """MA: mean IoU of the outer-lip polygons (mouth region, frontal view) of aligned meshes (T, 478, 3)."""
    idx = list(OUTER_LIP_LOOP)  # the fill does not depend on the loop's direction
    return float(polygon_iou(pred_aligned[:, idx, :2], ref_aligned[:, idx, :2]).mean())


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two (T,) signals; 0 when either is constant."""
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


def lagged_correlation(signal: np.ndarray, reference: np.ndarray, max_lag: int = MAX_LAG) -> tuple[int, float]:
    """Lag (frames) in [-max_lag, max_lag] maximising corr(signal[t], reference[t - lag]), and that corr.

    A positive lag means ``signal`` happens *later* than ``reference`` (e.g. the mouth moves after
    the sound). Each lag correlates the overlapping part only.
    """
    signal = np.asarray(signal, np.float64)
    reference = np.asarray(reference, np.float64)
    n = min(len(signal), len(reference))
    best = (0, -np.inf)
    for lag in range(-max_lag, max_lag + 1):
        if n - abs(lag) < 3:
            continue
        a = signal[max(lag, 0):n + min(lag, 0)]
        b = reference[max(-lag, 0):n - max(lag, 0)]
        c = pearson(a, b)
        if c > best[1] or (c == best[1] and abs(lag) < abs(best[0])):
            best = (lag, c)
    return (best[0], float(best[1])) if np.isfinite(best[1]) else (0, 0.0)


def av_sync(opening: np.ndarray, envelope: np.ndarray, max_lag: int = MAX_LAG, window: int = 5) -> tuple[int, float]:
    """Audio-visual lag (frames; > 0: the mouth moves after the sound) and correlation at that lag.

    Both signals are high-passed first (minus their ``window``-frame moving average): the slow
    speech/pause trend correlates at every lag and flattens the peak, the syllable-rate movements
    pin it down. On the shared corpus this halved the clips whose peak sits at the ±10 border.
    """
    from scipy.ndimage import uniform_filter1d

    def high_pass(x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, np.float64)
        return x - uniform_filter1d(x, window, mode="nearest")

    return lagged_correlation(high_pass(opening), high_pass(envelope), max_lag)


def audio_envelope(audio: np.ndarray, n_frames: int, fps: float = 25.0, sample_rate: int = 16000,
                   floor_db: float = -60.0) -> np.ndarray:
    """Loudness per video frame (n_frames,) in dB re full scale: RMS of the window centred on ``i / fps``.

    The window is one frame long; frames past the end of the audio get ``floor_db``.
    """
    from ..speech.audio import frame_power

    return np.maximum(10 * np.log10(np.maximum(frame_power(audio, n_frames, fps, sample_rate), 1e-12)), floor_db)


def articulation_ratio(open_pred: np.ndarray, open_ref: np.ndarray) -> float:
    """std of mouth opening, prediction / reference (1 = as lively as the reference)."""
    s_ref = float(np.std(open_ref))
    return float(np.std(open_pred)) / s_ref if s_ref > 1e-12 else float("nan")


def eye_aspect_ratio(aligned: np.ndarray) -> np.ndarray:
    """(T, 478, 3) aligned meshes → (T,) mean over both eyes of lid gap / eye width (frontal view)."""
    ears = []
    for (c0, c1), lids in EYE_LIDS.values():
        width = np.linalg.norm(aligned[:, c0, :2] - aligned[:, c1, :2], axis=-1)
        gap = np.mean([np.linalg.norm(aligned[:, u, :2] - aligned[:, d, :2], axis=-1) for u, d in lids], axis=0)
        ears.append(gap / np.maximum(width, 1e-9))
    return np.mean(ears, axis=0)


def count_blinks(ear: np.ndarray, close_below: float = 0.6, open_above: float = 0.85) -> int:
    """Blinks in an eye-aspect-ratio sequence (T,): the eye closes when it drops below ``close_below`` ×
    its median and reopens only above ``open_above`` × median (hysteresis: a lid that flutters on the
    way up is one blink, not two)."""
    ear = np.asarray(ear, np.float64)
    if ear.size == 0:
        return 0
    med = np.median(ear)
    blinks, closed = 0, False
    for v in ear:
        if not closed and v < close_below * med:
            blinks, closed = blinks + 1, True
        elif closed and v > open_above * med:
            closed = False
    return blinks


def blink_rate(aligned: np.ndarray, fps: float) -> float:
    """Blinks per minute of an aligned mesh sequence (T, 478, 3)."""
    minutes = len(aligned) / fps / 60.0
    return count_blinks(eye_aspect_ratio(aligned)) / minutes if minutes > 0 else 0.0


def head_motion_std(head_pose: np.ndarray) -> tuple[float, float]:
    """(T, 6) poses → (rotation std in degrees: mean over yaw/pitch/roll, translation std in mm: mean over x/y/z)."""
    from scipy.spatial.transform import Rotation

    head_pose = np.asarray(head_pose, np.float64)
    if len(head_pose) < 2:
        return 0.0, 0.0
    rel = Rotation.from_rotvec(head_pose[:, :3]) * Rotation.from_rotvec(head_pose[0, :3]).inv()
    ypr = np.unwrap(rel.as_euler("YXZ"), axis=0)
    return float(np.degrees(ypr.std(0)).mean()), float((head_pose[:, 3:] * 1000).std(0).mean())


def jitter(dense: np.ndarray, head_pose: np.ndarray | None = None) -> float:
    """Mean frame-to-frame acceleration |x[t+1] - 2 x[t] + x[t-1]| of the stable points, in IOD per frame².

    With ``head_pose`` (T, 6) the points are taken in the camera frame, so head shake counts too;
    still regions (forehead, nose, temples) of a real face move smoothly, so this measures tracker noise.
    """
    dense = _check_dense(dense)
    pts = dense[:, constants.stable_index()]
    if head_pose is not None:
        pts = apply_pose(np.asarray(head_pose), pts)
    if len(pts) < 3:
        return 0.0
    acc = pts[2:] - 2 * pts[1:-1] + pts[:-2]
    return float(np.linalg.norm(acc, axis=-1).mean() / template_iod())


def _check_dense(dense: np.ndarray) -> np.ndarray:
    dense = np.asarray(dense, np.float64)
    if dense.ndim != 3 or dense.shape[1:] != (constants.N_DENSE, 3):
        raise ValueError(f"expected a mesh sequence of shape (T, {constants.N_DENSE}, 3), got {dense.shape}")
    return dense


def _check_pair(a: np.ndarray, b: np.ndarray) -> None:
    if np.shape(a) != np.shape(b):
        raise ValueError(f"sequences differ in shape: {np.shape(a)} vs {np.shape(b)}; trim both to the same frames")
