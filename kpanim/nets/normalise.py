"""Stream normalisation shared by training and inference (statistics live in each checkpoint's ``norm``)."""

from __future__ import annotations

import numpy as np

from .. import constants


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
