"""Stream normalisation shared by training and inference (statistics live in each checkpoint's ``norm``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..face import constants

if TYPE_CHECKING:
    from .stats import MotionStats


def normalise_subject(neutral: np.ndarray, norm: dict[str, np.ndarray]) -> np.ndarray:
    """(..., 478, 3) neutral mesh → (..., 1434): offset from the template, standardised."""
    neutral = np.asarray(neutral, np.float32)
    off = neutral.reshape(*neutral.shape[:-2], -1) - constants.template().reshape(-1).astype(np.float32)
    return ((off - norm["subject_mean"]) / norm["subject_std"]).astype(np.float32)


def normalise(name: str, x: np.ndarray, norm: dict[str, np.ndarray]) -> np.ndarray:
    """(T, ...) stream ``name`` (lip/eye/head/torso/dense) → (T, dim) standardised."""
    x = np.asarray(x, np.float32)
    return ((x.reshape(len(x), -1) - norm[f"{name}_mean"]) / norm[f"{name}_std"]).astype(np.float32)


def denormalise(name: str, x: np.ndarray, norm: dict[str, np.ndarray]) -> np.ndarray:
    """Inverse of :func:`normalise` (flat (T, dim) result)."""
    return (np.asarray(x, np.float32) * norm[f"{name}_std"] + norm[f"{name}_mean"]).astype(np.float32)


# ----------------------------------------------------------------------------- scale-free lips
# Speakers' articulation amplitudes differ several-fold, so a raw lip target teaches the network the
# mean. A "scale-free" model ("lipz" statistics in its norm) is trained on each clip's lips divided by
# the clip's mouth-opening spread; at inference the amplitude comes back from the subject's mouth width
# (the training clips' median spread per width) times a gain calibrated on the training clips.
MIN_OPENING_SPREAD = 5e-4
"""Metres: floor of a clip's mouth-opening std (a nearly still mouth must not blow its target up)."""


def opening_gap(lip):
    """(..., 40, 3) lip displacements (numpy or torch) → (...,) change of the mouth opening (the vertical
    inner-lip gap 13/14)."""
    up, lo = constants.lip_gap_pair()
    return lip[..., up, 1] - lip[..., lo, 1]


def opening_spread(lip: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Std of the mouth opening (:func:`opening_gap`) of (T, 40, 3) lips over valid frames, floored at
    :data:`MIN_OPENING_SPREAD`."""
    lip = np.asarray(lip)
    gap = opening_gap(lip if valid is None or not np.any(valid) else lip[valid])
    return max(float(gap.std()) if len(gap) > 1 else 0.0, MIN_OPENING_SPREAD)


def mouth_width(neutral: np.ndarray) -> float:
    """Distance between the mouth corners 61 and 291 of a (478, 3) face."""
    return float(np.linalg.norm(np.asarray(neutral)[61] - np.asarray(neutral)[291]))


def lip_amplitude(neutral: np.ndarray, stats: MotionStats) -> float:
    """Metres per unit of a scale-free lip prediction for this face: width × spread per width × gain."""
    return mouth_width(neutral) * stats.lip_spread_per_width * stats.lip_gain


def lips_from_network(lip: np.ndarray, neutral: np.ndarray, stats: MotionStats) -> np.ndarray:
    """(T, 120) normalised lip output → (T, 40, 3) displacements in metres, for a raw-target model
    (× ``lip_gain``) or a scale-free one (× :func:`lip_amplitude`)."""
    if stats.scale_free:
        out = stats.denormalise("lipz", lip)
        out *= lip_amplitude(neutral, stats)  # in place: an hour's lips are 43 MB per copy
    else:
        out = stats.denormalise("lip", lip)
        out *= stats.lip_gain
    return out.reshape(len(lip), 40, 3)
