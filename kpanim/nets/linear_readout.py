"""A linear read-out from audio features (the ridge "linear probe", fitted in closed form by
:mod:`kpanim.training.linear_probe`): standardise → PCA → ±radius frames of context → linear map.

A MODA checkpoint may carry one for its lips (``probe_*`` arrays and ``probe_blend`` in its norm): the
lip output is then ``(1 - blend) · network + blend · read-out`` in the network's lip units. With ~20 k
training frames, the closed-form read-out is a strong, well-regularised companion to the network.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .stats import MotionStats

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
        needs no full-size standardised copy). Runs in torch: numpy's BLAS would start a busy-waiting
        thread team of its own in every thread that calls it (the streaming server's workers)."""
        import torch

        mean, std, basis, weights = (torch.from_numpy(np.ascontiguousarray(a, np.float32))
                                     for a in (self.mean, self.std, self.basis, self.weights))
        T, r, k = len(feats), self.radius, basis.shape[1]
        out = np.empty((T, weights.shape[1]), np.float32)
        with torch.inference_mode():
            for c0 in range(0, T, chunk):
                c1 = min(T, c0 + chunk)
                a, b = max(0, c0 - r), min(T, c1 + r)  # the chunk and its context
                z = ((torch.from_numpy(np.ascontiguousarray(feats[a:b], np.float32)) - mean) / std) @ basis
                z = torch.cat([z[:1].expand(r - (c0 - a), -1), z, z[-1:].expand(r - (b - c1), -1)])  # edges repeat
                y = weights[-1].expand(c1 - c0, -1).clone()
                for i in range(2 * r + 1):  # = context_stack(z, r) @ weights, without the (n, (2r+1)k) matrix
                    y += z[i:i + c1 - c0] @ weights[i * k:(i + 1) * k]
                out[c0:c1] = y.numpy()
        return out

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {f"probe_{k}": getattr(self, k).astype(np.float32) for k in PROBE_ARRAYS}
        out["probe_radius"] = np.array([self.radius], np.int64)
        return out

    @classmethod
    def from_arrays(cls, arrays) -> LinearProbe:
        return cls(*(np.asarray(arrays[f"probe_{k}"], np.float32) for k in PROBE_ARRAYS),
                   radius=int(arrays["probe_radius"][0]))


def blend_readout(lip: np.ndarray, feats: np.ndarray, stats: MotionStats) -> np.ndarray:
    """(T, 120) normalised network lips → blended with the checkpoint's read-out of (T, D) features
    (unchanged when the checkpoint has none)."""
    blend = stats.readout.blend if stats.readout is not None else 0.0
    if blend <= 0:
        return lip
    out = stats.readout.probe(feats)  # float32, new: mixed in place (an hour: 43 MB per copy)
    out *= np.float32(blend)
    out += np.float32(1 - blend) * np.asarray(lip, np.float32)
    return out
