"""The linear probe: a ridge read-out from Whisper's middle layers to the lips, the baseline every lip
network must beat (``kpanim eval --dataset`` scores it as ``baseline-probe``).

Features are standardised, reduced by PCA, stacked over ±``radius`` frames of context and mapped by a
closed-form ridge regression to the scale-free lip target (each clip's lips over its own mouth-opening
spread, see :mod:`kpanim.nets.normalise`); the amplitude comes back like a scale-free network's, from the
subject's mouth width and a gain calibrated on the training clips. With ~20 k training frames this
strong, heavily regularised read-out is hard to beat: a network that does not is mis-trained.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from kpanim.nets.linear_readout import LinearProbe, context_stack

PROBE_VERSION = "1"  # part of the cache key: bump when the fit changes
PROBE_FRONTEND = "whisper_l2-3-4_nopad"
"""Whisper-base hidden states 2-4, unpadded: the best layers for the mouth opening (docs/MODEL.md)."""
def fit_probe(features: list[np.ndarray], targets: list[np.ndarray], pca_dim: int = 128, radius: int = 3,
              alpha: float = 1e3) -> LinearProbe:
    """Fit on clips: features[i] (T_i, D), targets[i] (T_i, out) (only frames to learn from)."""
    X = np.concatenate(features).astype(np.float64)
    mean, std = X.mean(0), X.std(0) + 1e-6
    Z = (X - mean) / std
    _, vecs = np.linalg.eigh(Z.T @ Z)  # principal axes, ascending
    basis = vecs[:, ::-1][:, :min(pca_dim, Z.shape[1])]
    rows, offset = [], 0
    for f in features:  # context within each clip, never across clip borders
        rows.append(context_stack(Z[offset:offset + len(f)] @ basis, radius))
        offset += len(f)
    A = np.concatenate(rows)
    A = np.concatenate([A, np.ones((len(A), 1))], axis=1)
    Y = np.concatenate(targets).astype(np.float64)
    reg = alpha * np.eye(A.shape[1])
    reg[-1, -1] = 0.0  # the bias is not shrunk
    weights = np.linalg.solve(A.T @ A + reg, A.T @ Y)
    return LinearProbe(mean.astype(np.float32), std.astype(np.float32), basis.astype(np.float32),
                       weights.astype(np.float32), radius)


def fit_lip_probe(dataset_dir: str | Path, progress: bool = True, min_av_corr: float = 0.15) -> dict:
    """The probe of a prepared dataset, fitted on its 'train' clips (cached next to their features).

    Returns a norm-like dict: the probe's arrays plus the "lipz" statistics, ``lip_spread_per_width``
    and ``lip_gain`` that :func:`kpanim.nets.normalise.lips_from_network` needs."""
    from kpanim.errors import KpanimError
    from kpanim.nets.normalise import normalise
    from kpanim.speech.frontends import make_frontend

    from .data import compute_norm, feature_dir, load_clips, select_clips

    dataset_dir = Path(dataset_dir)
    frontend = make_frontend(PROBE_FRONTEND)
    ids = sorted(r["clip_id"] for r in select_clips(dataset_dir, "train", min_av_corr))
    if not ids:
        raise KpanimError(f"{dataset_dir}: no usable 'train' clips to fit the linear probe on")
    key = hashlib.sha256("\n".join([PROBE_VERSION, *ids]).encode()).hexdigest()[:16]
    cache = feature_dir(dataset_dir, frontend) / f"lip_probe_{key}.npz"
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    clips = load_clips([dataset_dir], "train", frontend, 1, min_av_corr=min_av_corr, progress=progress)
    stats = compute_norm(clips)
    norm = {k: stats[k] for k in ("lipz_mean", "lipz_std", "lip_spread_per_width")}
    probe = fit_probe([c.audio[0][c.valid] for c in clips],
                      [normalise("lipz", c.lip[c.valid] / c.lip_spread, norm) for c in clips])
    norm.update(probe.to_arrays())
    # amplitude: the median real/predicted opening spread on the training clips (as networks calibrate)
    norm["lip_gain"] = np.array([np.clip(_opening_ratio(clips, probe, norm), 0.5, 4.0)], np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(f".{cache.name}.tmp.npz")
    np.savez(tmp, **norm)
    tmp.replace(cache)
    return norm


def _opening_ratio(clips, probe: LinearProbe, norm: dict) -> float:
    """Median over clips of the real to the predicted mouth-opening spread."""
    from kpanim.nets.normalise import lips_from_network, opening_gap
    from kpanim.nets.stats import MotionStats

    stats = MotionStats.from_norm(norm)
    ratios = []
    for c in clips:
        pred = np.std(opening_gap(lips_from_network(probe(c.audio[0]), c.neutral, stats)[c.valid]))
        ratios.append(np.std(opening_gap(c.lip[c.valid])) / max(pred, 1e-9))
    return float(np.median(ratios))


def probe_lips(probe_norm: dict, feats: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """(T, D) features of :data:`PROBE_FRONTEND` → (T, 40, 3) lip displacements for the face ``neutral``."""
    from kpanim.nets.normalise import lips_from_network
    from kpanim.nets.stats import MotionStats

    stats = MotionStats.from_norm(probe_norm, "the linear probe")
    return lips_from_network(stats.readout.probe(feats), neutral, stats)
