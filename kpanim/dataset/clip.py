"""A prepared clip (``DATASET/clips/<clip_id>.npz``, written by ``kpanim prepare``) as one typed contract.

The file is a regular kpanim animation (docs/FORMAT.md) with the tracking arrays of docs/DATASET.md
after its streams. :class:`PreparedClip` is the only reader and writer of that layout: training,
evaluation, the renderer's pair cache and the benchmarks all load clips through
:meth:`PreparedClip.load`, which opens the file once and reads only the members asked for.

A plain animation ``.npz`` (no tracking arrays) loads too, so ``kpanim eval --reference`` takes any
animation: ``valid`` then counts every frame as tracked and ``neutral`` is filled by
:func:`fill_neutral`, the same rule prepare uses to store it. Consumers that need the tracking
arrays name them in ``require`` and get a one-line error naming the file and the missing array.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import FormatError
from ..face.constants import N_DENSE, N_TORSO
from ..formats.animation import KIND, Animation, load_npz_checked, meta_audio_name, npz_error, save_npz_atomic

if TYPE_CHECKING:
    from ..face.camera import Camera

# The tracking arrays in the order prepare writes them (after the animation's members), with their
# file dtypes; None in a shape stands for the clip's frame count T. In memory every array keeps its file
# dtype except ``neutral``: float64, so a filled one keeps the precision it was computed in.
TRACKING: dict[str, tuple[tuple[int | None, ...], type]] = {
    "valid": ((None,), np.bool_),
    "landmarks_px": ((None, N_DENSE, 3), np.float32),
    "camera": ((5,), np.float64),
    "neutral": ((N_DENSE, 3), np.float32),
    "mean_shape": ((N_DENSE, 3), np.float32),
    "torso_px": ((None, N_TORSO, 2), np.float32),
}
# The pixel tracks: as large as the animation itself, and only the renderer and the benchmarks read them.
PIXEL_TRACKS = ("landmarks_px", "torso_px")


def fill_neutral(dense: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The neutral face (478, 3) float64 of a clip that does not store one: prepare's own rule
    (:func:`kpanim.evaluation.metrics.closed_mouth_neutral`, per-point median of the valid frames
    whose mouth opening is in the lowest 20 %), so a clip reads alike with or without it.
    dense: (T, 478, 3); valid: (T,) bool (all frames when none is valid)."""
    from ..evaluation.metrics import closed_mouth_neutral

    return closed_mouth_neutral(dense, valid if valid.any() else None)


@dataclasses.dataclass(frozen=True, eq=False)
class PreparedClip:
    """One prepared clip: the animation and its tracking arrays (docs/DATASET.md). Arrays are read-only.

    Attributes:
        animation: the 25 fps keypoint animation (lip, eye, dense, head_pose, torso streams; fps; meta
            with clip_id, speaker, source, audio, reference, reference_frame, split, stats, ...).
        valid: (T,) bool, face tracked in this frame (other frames are interpolated); all True when the
            file has no ``valid``.
        neutral: (478, 3) float64 (stored as float32), the clip's neutral face in the canonical frame;
            :func:`fill_neutral` when the file has none.
        landmarks_px: (T, 478, 3) float32 raw MediaPipe points (x, y pixels, z relative depth × width), NaN
            where lost, or None (not stored, or not read: ``pixels=False``).
        camera: (5,) float64 focal, cx, cy, width, height of the source video (:meth:`pinhole`), or None.
        mean_shape: (478, 3) float32 mean canonical face over the valid frames, or None.
        torso_px: (T, 18, 2) float32 smoothed shoulder points in source pixels, or None (as landmarks_px).
        path: the file the clip was read from (None for a clip built in memory).
    """

    animation: Animation
    valid: np.ndarray
    neutral: np.ndarray
    landmarks_px: np.ndarray | None = None
    camera: np.ndarray | None = None
    mean_shape: np.ndarray | None = None
    torso_px: np.ndarray | None = None
    path: Path | None = None

    def __post_init__(self) -> None:
        if self.valid is None or self.neutral is None:
            raise TypeError("a PreparedClip needs its 'valid' and 'neutral' arrays")
        for name in TRACKING:
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _checked(name, getattr(self, name), self.n_frames, self.path))

    # ------------------------------------------------------------------ basics
    @property
    def n_frames(self) -> int:
        return self.animation.n_frames

    @property
    def meta(self) -> dict:
        return self.animation.meta

    def pinhole(self) -> Camera:
        """The source video's :class:`~kpanim.face.camera.Camera` (needs ``camera``)."""
        from ..face.camera import Camera

        self.require("camera")
        return Camera.from_array(self.camera)

    def audio_file(self) -> Path | None:
        """The speech file the meta names, next to the clip's file, if it exists."""
        name = meta_audio_name(self.meta)
        if name is None or self.path is None:
            return None
        path = self.path.parent / name
        return path if path.is_file() else None

    def reference_image(self) -> Path | None:
        """The clip's reference frame (``<clip_id>.ref.png``) the meta names, if it exists."""
        name = self.meta.get("reference")
        if not name or self.path is None:
            return None
        path = self.path.parent / name
        return path if path.is_file() else None

    def require(self, *names: str) -> "PreparedClip":
        """This clip, after checking it holds the optional arrays ``names`` (a one-line error names the first
        missing one)."""
        for name in names:
            if getattr(self, name) is None:
                raise FormatError(f"{self.path or 'the clip'}: no '{name}' array; it is not a clip written by "
                                  "'kpanim prepare' (or was read without its pixel tracks): prepare the video again")
        return self

    # ------------------------------------------------------------------ files
    @classmethod
    def load(cls, path: str | os.PathLike, require: tuple[str, ...] = (), pixels: bool = True) -> "PreparedClip":
        """Read a prepared clip (or any animation ``.npz``), opening the file once.

        ``require``: optional arrays that must be present (e.g. ``("landmarks_px", "camera")``).
        ``pixels=False`` leaves the pixel tracks (``landmarks_px``, ``torso_px``) unread (None).
        Every problem is a one-line :class:`~kpanim.errors.FormatError` naming the file.
        """
        path = Path(path)
        z = load_npz_checked(path, KIND, skip=() if pixels else PIXEL_TRACKS)
        anim = Animation.from_arrays(z, path)
        # checked here, before fill_neutral selects frames with it
        valid = _checked("valid", z["valid"] if "valid" in z else np.ones(anim.n_frames, bool), anim.n_frames, path)
        neutral = z["neutral"] if "neutral" in z else fill_neutral(anim.dense, valid)
        extra = {k: z.get(k) for k in TRACKING if k not in ("valid", "neutral")}
        return cls(anim, valid, neutral, path=path, **extra).require(*require)

    def arrays(self) -> dict[str, np.ndarray]:
        """The members of the clip's ``.npz`` in file order: the animation's, then the tracking arrays present."""
        arrays = self.animation.arrays()
        arrays.update({k: getattr(self, k).astype(dtype, copy=False) for k, (_, dtype) in TRACKING.items()
                       if getattr(self, k) is not None})
        return arrays

    def save(self, path: str | os.PathLike) -> Path:
        """Write the clip's ``.npz`` atomically (readable by :meth:`load` and ``Animation.load``)."""
        return save_npz_atomic(path, self.arrays())


def _checked(name: str, value, n_frames: int, path: Path | None) -> np.ndarray:
    """A tracking array as a read-only array of its dtype in memory, after checking its shape (expected vs actual)."""
    shape, dtype = TRACKING[name]
    dtype = np.float64 if name == "neutral" else dtype
    want = tuple(n_frames if d is None else d for d in shape)
    arr = np.asarray(value)
    if arr.shape != want:
        where = f"{path}: " if path is not None else ""
        raise FormatError(f"{where}prepared clip array '{name}': expected shape {want}, got {tuple(arr.shape)}; "
                          "prepare the clip again with 'kpanim prepare'")
    arr = arr.astype(dtype, copy=False).view()  # a view: the caller's own array stays writable
    arr.setflags(write=False)
    return arr


# ----------------------------------------------------------- what kpanim prepare reads of a whole folder
@dataclasses.dataclass(frozen=True)
class ClipHeader:
    """What the dataset index needs of a clip, without reading its motion: meta, fps and frame count."""

    meta: dict
    fps: float
    n_frames: int


def read_clip_header(path: str | os.PathLike) -> ClipHeader:
    """A clip's :class:`ClipHeader`, reading three small members of its ``.npz`` (numpy reads members lazily)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return ClipHeader(meta=json.loads(str(z["meta"])), fps=float(z["fps"]), n_frames=len(z["head_pose"]))
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, RuntimeError, KeyError) as err:
        raise npz_error(path, err) from None


def read_clip_meta(path: str | os.PathLike) -> dict:
    """A clip's meta (docs/DATASET.md), reading only that member."""
    return read_clip_header(path).meta


def rewrite_clip_meta(path: str | os.PathLike, meta: dict) -> Path:
    """Replace a clip's meta in place (atomically); every other member is copied byte for byte."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, RuntimeError, KeyError) as err:
        raise npz_error(path, err) from None
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return save_npz_atomic(path, arrays)
