"""The typed view of a checkpoint's statistics: what its flat ``norm`` dict holds, read in one place.

On disk (kpanim/formats/checkpoint.py) a network's statistics stay one flat dict of float32 arrays that
training writes and extends over time: per-stream normalisation (``lip_mean``/``lip_std``, ``eye_*``,
``head_*``, ``torso_*``, ``dense_*``, ``subject_*``), and, depending on how and when the network was
trained, calibration gains, a blink prior, viseme keyframes, a linear lip read-out (``probe_*``) and the
scale-free lip statistics (``lipz_*``, ``lip_spread_per_width``). :meth:`MotionStats.from_norm` is the only
reader of those optional keys: consumers use its attributes (``None`` = the checkpoint has none) instead of
probing the dict, and a group with a part missing is an error when the file is loaded, not a KeyError later.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np

from ..errors import KpanimError
from .linear_readout import PROBE_ARRAYS, LinearProbe


@dataclasses.dataclass(frozen=True)
class BlinkPrior:
    """Data-derived blinks (training/blinks.py; the decoder averages blinks away)."""

    shape: np.ndarray  # (60, 3) eye displacement at a blink's deepest frame (``blink_shape``)
    rate: float  # blinks per minute measured in the training clips (``blink_rate``)


@dataclasses.dataclass(frozen=True)
class VisemePrior:
    """Viseme keyframes of the lip stream (kpanim/animate/visemes.py; ``viseme_*``)."""

    keys: np.ndarray  # (9, 120) normalised lip shape of each viseme class
    blend: float  # the default weight of the keyframe track in the lips
    frames: np.ndarray | None = None  # (9,) training frames behind each key (provenance only)


@dataclasses.dataclass(frozen=True)
class LipReadout:
    """The closed-form linear lip read-out (``probe_*``): lips = (1 - blend) · network + blend · read-out."""

    probe: LinearProbe
    blend: float  # 0: stored but not used

    @property
    def radius(self) -> int:
        """Frames of context each side the read-out needs."""
        return int(self.probe.radius)


@dataclasses.dataclass(frozen=True)
class MotionStats:
    """One network's statistics. ``arrays`` is the norm dict as stored (read-only): the per-stream
    ``{name}_mean`` / ``{name}_std`` that :meth:`normalise` and :meth:`denormalise` use."""

    arrays: Mapping[str, np.ndarray]
    lip_gain: float = 1.0  # lip amplitude calibrated after training (1: not calibrated)
    head_gain: np.ndarray | None = None  # (2,) head rotation, translation gains calibrated after training
    lip_spread_per_width: float | None = None  # scale-free lips (``lipz_*``): training clips' spread per mouth width
    blink: BlinkPrior | None = None
    visemes: VisemePrior | None = None
    readout: LipReadout | None = None
    mean_head_pose: np.ndarray | None = None  # (6,) the training videos' average head pose
    torso_rel_head: np.ndarray | None = None  # (18, 3) the average torso relative to the head position

    @property
    def scale_free(self) -> bool:
        """The lips were trained divided by each clip's opening spread (``lipz`` statistics)."""
        return self.lip_spread_per_width is not None

    @property
    def readout_radius(self) -> int:
        """Context frames each side of the lip read-out (0 without one)."""
        return self.readout.radius if self.readout is not None else 0

    @classmethod
    def from_norm(cls, norm: Mapping[str, np.ndarray], where: str = "checkpoint") -> MotionStats:
        """The typed view of a checkpoint's ``norm`` dict (numpy arrays); ``where`` names it in errors."""
        norm = {k: np.asarray(v) for k, v in norm.items()}

        def need(key: str, because: str) -> np.ndarray:
            if key not in norm:
                raise KpanimError(f"{where}: its statistics have {because} but no '{key}' (damaged or hand-edited "
                                  "checkpoint?); retrain it or restore the file")
            return norm[key]

        def scalar(key: str, because: str) -> float:
            return float(need(key, because).reshape(-1)[0])

        blink = visemes = readout = None
        if "blink_shape" in norm:
            blink = BlinkPrior(norm["blink_shape"], scalar("blink_rate", "a blink shape"))
        if "viseme_keys" in norm:
            visemes = VisemePrior(norm["viseme_keys"], scalar("viseme_blend", "viseme keyframes"),
                                  norm.get("viseme_frames"))
        if any(k.startswith("probe_") for k in norm):
            for k in (*PROBE_ARRAYS, "radius"):
                need(f"probe_{k}", "a lip read-out")
            blend = float(norm["probe_blend"][0]) if "probe_blend" in norm else 0.0
            readout = LipReadout(LinearProbe.from_arrays(norm), blend)
        spread = None
        if "lipz_mean" in norm:
            need("lipz_std", "scale-free lip statistics")
            spread = scalar("lip_spread_per_width", "scale-free lip statistics")
        return cls(arrays=MappingProxyType(norm),
                   lip_gain=float(norm["lip_gain"][0]) if "lip_gain" in norm else 1.0,
                   head_gain=norm.get("head_gain"), lip_spread_per_width=spread, blink=blink, visemes=visemes,
                   readout=readout, mean_head_pose=norm.get("mean_head_pose"),
                   torso_rel_head=norm.get("torso_rel_head"))

    # the pure functions of normalise.py on this network's arrays
    def normalise(self, name: str, x: np.ndarray) -> np.ndarray:
        """(T, ...) stream → (T, dim) standardised."""
        from .normalise import normalise

        return normalise(name, x, self.arrays)

    def denormalise(self, name: str, x: np.ndarray) -> np.ndarray:
        """(T, dim) standardised → (T, dim) in the stream's units."""
        from .normalise import denormalise

        return denormalise(name, x, self.arrays)

    def normalise_subject(self, neutral: np.ndarray) -> np.ndarray:
        """(..., 478, 3) neutral face → (..., 1434) network input."""
        from .normalise import normalise_subject

        return normalise_subject(neutral, self.arrays)
