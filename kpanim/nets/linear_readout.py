"""A linear read-out from audio features (the ridge "linear probe", fitted in closed form by
:mod:`kpanim.training.linear_probe`): standardise → PCA → ±radius frames of context → linear map.

A MODA checkpoint may carry one for its lips (``probe_*`` arrays and ``probe_blend`` in its norm): the
lip output is then ``(1 - blend) · network + blend · read-out`` in the network's lip units. With ~20 k
training frames, the closed-form read-out is a strong, well-regularised companion to the network.
"""

from __future__ import annotations

import dataclasses

import numpy as np

PROBE_ARRAYS = ("mean", "std", "basis", "weights")


def context_stack(x: np.ndarray, radius: int) -> np.ndarray:
    """(T, k) → (T, (2·radius + 1)·k): each frame with its ±radius neighbours (edges repeated)."""
    padded = np.pad(x, ((radius, radius), (0, 0)), mode="edge")
    return np.concatenate([padded[i:i + len(x)] for i in range(2 * radius + 1)], axis=1)


@dataclasses.dataclass(frozen=True)
class LinearProbe:
    """Standardise (D,) → PCA basis (D, k) → ±radius context → ridge weights ((2r+1)k + 1, out)."""

    mean: np.ndarray
    std: np.ndarray
    basis: np.ndarray
    weights: np.ndarray
    radius: int

    def __call__(self, feats: np.ndarray, chunk: int = 8192) -> np.ndarray:
        """(T, D) features → (T, out) predictions, in chunks of ``chunk`` frames (an hour of features
        needs no full-size standardised copy)."""
        T, r = len(feats), self.radius
        out = np.empty((T, self.weights.shape[1]), np.float32)
        for c0 in range(0, T, chunk):
            a, b = max(0, c0 - r), min(T, c0 + chunk + r)  # the chunk and its context
            z = ((np.asarray(feats[a:b], np.float32) - self.mean) / self.std) @ self.basis
            k = z.shape[1]
            padded = np.pad(z, ((r - (c0 - a), r - (b - min(T, c0 + chunk))), (0, 0)), mode="edge")
            n = min(T, c0 + chunk) - c0
            y = np.broadcast_to(self.weights[-1], (n, out.shape[1])).astype(np.float32)
            for i in range(2 * r + 1):  # = context_stack(z, r) @ weights, without the (n, (2r+1)k) matrix
                y += padded[i:i + n] @ self.weights[i * k:(i + 1) * k]
            out[c0:c0 + n] = y
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {f"probe_{k}": getattr(self, k).astype(np.float32) for k in PROBE_ARRAYS}
        out["probe_radius"] = np.array([self.radius], np.int64)
        return out

    @classmethod
    def from_arrays(cls, arrays) -> LinearProbe:
        return cls(*(np.asarray(arrays[f"probe_{k}"], np.float32) for k in PROBE_ARRAYS),
                   radius=int(arrays["probe_radius"][0]))


def blend_readout(lip: np.ndarray, feats: np.ndarray, norm: dict) -> np.ndarray:
    """(T, 120) normalised network lips → blended with the checkpoint's read-out of (T, D) features
    (unchanged when the checkpoint has none)."""
    blend = float(norm["probe_blend"][0]) if "probe_blend" in norm else 0.0
    if blend <= 0:
        return lip
    return ((1 - blend) * lip + blend * LinearProbe.from_arrays(norm)(feats)).astype(np.float32)
