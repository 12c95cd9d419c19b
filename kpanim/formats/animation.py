"""The representation R of MODA as a frozen dataclass, and its versioned ``.npz`` format.

See docs/FORMAT.md for the file layout. Coordinates are metres, right-handed, +Y up, +Z towards
the viewer. ``lip``, ``eye`` and ``dense`` live in the canonical face frame (head pose removed);
``head_pose`` maps that frame to the camera frame; ``torso`` lives in the camera frame.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from ..errors import FormatError, KpanimError
from ..face.constants import N_DENSE, N_EYE, N_LIP, N_TORSO, POSE_DIM, eye_index, lip_index
from .fileio import atomic_output

FORMAT_VERSION = 1
KIND = "animation"

N_ARKIT = 52  # optional "arkit" curves (kpanim.animate.arkit.NAMES order)

# field name → per-frame trailing shape
FRAME_ARRAYS: dict[str, tuple[int, ...]] = {
    "lip": (N_LIP, 3),
    "eye": (N_EYE, 3),
    "dense": (N_DENSE, 3),
    "head_pose": (POSE_DIM,),
    "torso": (N_TORSO, 3),
}


@dataclasses.dataclass(frozen=True, eq=False)
class Animation:
    """Per-frame keypoint animation at ``fps`` frames per second.

    Attributes:
        lip: (T, 40, 3) FACEMESH_LIPS points (sorted indices), canonical frame, metres.
        eye: (T, 60, 3) eye/eyebrow/iris points in MODA's order, canonical frame.
        dense: (T, 478, 3) all face-mesh points, canonical frame.
        head_pose: (T, 6) rotation vector (rad) + translation (m), canonical → camera frame.
        torso: (T, 18, 3) 9 left then 9 right shoulder points (subject's left), camera frame.
        fps: frames per second (> 0).
        meta: JSON-serialisable provenance (kpanim version, model, seed, audio, subject, ...).
        arkit: optional (T, 52) ARKit blendshape curves in [0, 1] (MediaPipe's order, see
            :mod:`kpanim.animate.arkit`), or None. Stored in the .npz when present; time edits keep it in step.
    """

    lip: np.ndarray
    eye: np.ndarray
    dense: np.ndarray
    head_pose: np.ndarray
    torso: np.ndarray
    fps: float = 25.0
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    arkit: np.ndarray | None = None

    def __post_init__(self) -> None:
        n_frames = None
        for name, tail in FRAME_ARRAYS.items():
            arr = np.asarray(getattr(self, name), dtype=np.float32)
            if arr.ndim != len(tail) + 1 or arr.shape[1:] != tail:
                raise FormatError(f"animation field '{name}': expected shape (T, {', '.join(map(str, tail))}), "
                                  f"got {tuple(arr.shape)}")
            if n_frames is None:
                n_frames = arr.shape[0]
            elif arr.shape[0] != n_frames:
                raise FormatError(f"animation field '{name}' has {arr.shape[0]} frames but 'lip' has {n_frames}; "
                                  "all streams need the same frame count")
            if not np.all(np.isfinite(arr)):
                raise FormatError(f"animation field '{name}' contains NaN or infinite values")
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)
        if self.arkit is not None:
            arr = np.asarray(self.arkit, dtype=np.float32)
            if arr.shape != (n_frames, N_ARKIT):
                raise FormatError(f"animation field 'arkit': expected shape ({n_frames}, {N_ARKIT}), got "
                                  f"{tuple(arr.shape)}")
            if not np.all(np.isfinite(arr)):
                raise FormatError("animation field 'arkit' contains NaN or infinite values")
            arr.setflags(write=False)
            object.__setattr__(self, "arkit", arr)
        if not (isinstance(self.fps, (int, float)) and math.isfinite(self.fps) and self.fps > 0):
            raise FormatError(f"animation fps must be a positive number, got {self.fps!r}")
        object.__setattr__(self, "fps", float(self.fps))
        try:
            json.dumps(self.meta)
        except TypeError as err:
            raise FormatError(f"animation meta must be JSON-serialisable: {err}") from None

    # ------------------------------------------------------------------ basics
    @property
    def n_frames(self) -> int:
        return int(self.lip.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds (frames / fps)."""
        return self.n_frames / self.fps

    def __len__(self) -> int:
        return self.n_frames

    def replace(self, **changes: Any) -> "Animation":
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dense(cls, dense: np.ndarray, head_pose: np.ndarray, torso: np.ndarray, fps: float = 25.0,
                   meta: dict | None = None) -> "Animation":
        """Build an animation whose lip/eye streams are the matching subsets of ``dense`` (T, 478, 3)."""
        dense = np.asarray(dense, dtype=np.float32)
        return cls(lip=dense[:, lip_index()], eye=dense[:, eye_index()], dense=dense,
                   head_pose=head_pose, torso=torso, fps=fps, meta=dict(meta or {}))

    @classmethod
    def still(cls, dense: np.ndarray, head_pose: np.ndarray, torso: np.ndarray, n_frames: int, fps: float = 25.0,
              meta: dict | None = None) -> "Animation":
        """A motionless animation: one face (478, 3), pose (6,) and torso (18, 3) held for ``n_frames``."""
        rep = lambda a: np.repeat(np.asarray(a, dtype=np.float32)[None], n_frames, axis=0)  # noqa: E731
        return cls.from_dense(rep(dense), rep(head_pose), rep(torso), fps=fps, meta=meta)

    # ------------------------------------------------------------ time editing
    def __getitem__(self, frames: slice) -> "Animation":
        """Frame slice, e.g. ``anim[10:60]`` (steps other than 1 are refused: use :meth:`resample`)."""
        if not isinstance(frames, slice) or frames.step not in (None, 1):
            raise TypeError("index an Animation with a frame slice like anim[10:60]")
        arkit = None if self.arkit is None else self.arkit[frames]
        return self.replace(arkit=arkit, **{k: getattr(self, k)[frames] for k in FRAME_ARRAYS})

    def clip(self, start: float = 0.0, end: float | None = None) -> "Animation":
        """The frames whose time ``i / fps`` lies in [start, end) seconds."""
        first = max(0, math.ceil(start * self.fps - 1e-9))
        last = self.n_frames if end is None else min(self.n_frames, math.ceil(end * self.fps - 1e-9))
        return self[first:last]

    def resample(self, fps: float) -> "Animation":
        """Same motion at another frame rate: linear in points, slerp in head rotation.

        Frame i of the result shows time ``i / fps``; the result covers the same duration.
        """
        if not (fps > 0 and math.isfinite(fps)):
            raise KpanimError(f"--fps must be a positive number, got {fps}")
        if fps == self.fps or self.n_frames < 2:
            return self.replace(fps=float(fps))
        n_out = max(1, int(round(self.duration * fps)))
        t_out = np.clip(np.arange(n_out) / fps * self.fps, 0, self.n_frames - 1)
        i0 = np.floor(t_out).astype(int)
        i1 = np.minimum(i0 + 1, self.n_frames - 1)
        w = (t_out - i0).astype(np.float32)

        def lerp(arr: np.ndarray) -> np.ndarray:
            wb = w.reshape((-1,) + (1,) * (arr.ndim - 1))
            return arr[i0] * (1 - wb) + arr[i1] * wb

        rot = Slerp(np.arange(self.n_frames), Rotation.from_rotvec(self.head_pose[:, :3].astype(np.float64)))
        pose = np.concatenate([rot(t_out).as_rotvec(), lerp(self.head_pose[:, 3:])], axis=1)
        fields = {k: lerp(getattr(self, k)) for k in ("lip", "eye", "dense", "torso")}
        arkit = None if self.arkit is None else lerp(self.arkit)
        return self.replace(head_pose=pose, fps=float(fps), arkit=arkit, **fields)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write the v1 ``.npz`` atomically (temp file in the same folder, then rename)."""
        return save_npz_atomic(path, self.arrays())

    def arrays(self) -> dict[str, np.ndarray]:
        """The members of the v1 ``.npz`` in file order (docs/FORMAT.md); writers of files that extend an
        animation (prepared clips) add their arrays after these."""
        arrays = {k: getattr(self, k) for k in FRAME_ARRAYS}
        if self.arkit is not None:
            arrays["arkit"] = self.arkit
        arrays.update(
            kind=np.array(KIND),
            format_version=np.array(FORMAT_VERSION, dtype=np.int32),
            fps=np.array(self.fps, dtype=np.float64),
            meta=np.array(json.dumps(self.meta, sort_keys=True)),
        )
        return arrays

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Animation":
        """Read a kpanim animation ``.npz``; every problem is a one-line :class:`FormatError`."""
        return cls.from_arrays(load_npz_checked(path, KIND), path)

    @classmethod
    def from_arrays(cls, z: dict[str, np.ndarray], path: str | os.PathLike) -> "Animation":
        """The animation in the arrays of a checked ``.npz`` (:func:`load_npz_checked`); ``path`` names the file
        in the one-line :class:`FormatError`."""
        missing = [k for k in (*FRAME_ARRAYS, "fps", "meta") if k not in z]
        if missing:
            raise FormatError(f"{path}: missing array(s) {', '.join(missing)}; the file is damaged or not "
                              "written by kpanim: re-create it with 'kpanim predict'")
        try:
            meta = json.loads(str(z["meta"]))
        except json.JSONDecodeError:
            raise FormatError(f"{path}: 'meta' is not valid JSON; re-create the file with 'kpanim predict'") from None
        if not isinstance(meta, dict):
            raise FormatError(f"{path}: 'meta' is not a JSON object; re-create the file with 'kpanim predict'")
        try:
            return cls(**{k: z[k] for k in FRAME_ARRAYS}, fps=float(z["fps"]), meta=meta, arkit=z.get("arkit"))
        except (TypeError, ValueError):
            raise FormatError(f"{path}: 'fps' or a stream is not numeric; re-create the file with 'kpanim predict'") from None
        except FormatError as err:
            raise FormatError(f"{path}: {err}; the file is damaged: re-create it with 'kpanim predict'") from None


FACE_WIDTH_RANGE_M = (0.03, 0.6)  # a human face is ~0.14 m wide; kpanim's coordinates are metres


def check_units(anim: Animation, name: str = "the animation") -> None:
    """Refuse an animation whose face is not metre-sized (e.g. points in millimetres or centimetres):
    every later step (morph-target error bounds, camera, renderer) assumes metres."""
    if anim.n_frames == 0:
        return
    sample = anim.dense[:: max(1, anim.n_frames // 50)]
    width = float(np.median(np.ptp(sample[..., 0], axis=1)))
    lo, hi = FACE_WIDTH_RANGE_M
    if lo <= width <= hi:
        return
    guess = next((u for u, f in (("millimetres", 1000), ("centimetres", 100)) if lo <= width / f <= hi), None)
    if guess is None and width < lo:
        guess = next((u for u, f in (("kilometres", 1e-3), ("decimetres", 10)) if lo <= width / f <= hi), None)
    looks = f"; its points look like {guess}" if guess else ""
    raise FormatError(f"{name}: the face is {width:.4g} units wide, not a face's ~0.14 m{looks}: kpanim animations "
                      "are in metres; rescale the points (e.g. /1000 from millimetres) or re-create the file")


def audio_meta(path: str | os.PathLike, duration: float) -> dict:
    """``meta["audio"]`` for the speech file ``path`` (docs/FORMAT.md): its name, sha256 and duration (s)."""
    from .fileio import file_sha256

    return {"path": Path(path).name, "sha256": file_sha256(path), "duration": round(float(duration), 6)}


def meta_audio_name(meta: dict) -> str | None:
    """The audio file an animation's meta names: ``audio`` as ``{"path", ...}`` or, in older files, a bare string."""
    entry = meta.get("audio")
    if isinstance(entry, dict):
        entry = entry.get("path")
    return entry if isinstance(entry, str) and entry else None


def meta_audio_path(meta: dict, folder: str | os.PathLike) -> Path | None:
    """The existing audio file the meta names, looked for as given and relative to ``folder``."""
    name = meta_audio_name(meta)
    if name is None:
        return None
    for candidate in (Path(folder) / name, Path(name)):
        if candidate.is_file():
            return candidate
    return None


def save_npz_atomic(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """``np.savez`` to a temp file next to ``path``, then an atomic rename."""
    # Uncompressed: zlib on float32 motion saves ~12 % of the size but costs ~0.7 s per minute of
    # animation (a third of predict's budget); np.load reads both kinds.
    with atomic_output(path) as tmp, open(tmp, "wb") as fh:
        zf = zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True)  # = np.savez's
        try:
            for name, value in arrays.items():
                with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
            zf.close()
        except BaseException:
            # the temp file is discarded: no second close at garbage collection (on a full disk it would
            # fail again and print an "Exception ignored" traceback)
            zf.fp = None
            raise
    return Path(path)


def npz_error(path: str | os.PathLike, err: Exception) -> FormatError:
    """The one-line error for an .npz numpy cannot read (damaged, or holding pickled objects)."""
    if "allow_pickle" in str(err):
        return FormatError(f"{path}: holds pickled Python objects, which kpanim never writes and will not load "
                           "(loading them can run code); use a file written by kpanim")
    first = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
    return FormatError(f"{path}: cannot read the .npz ({first}); the file is damaged: re-create it with kpanim")


_MAKERS = {"animation": "'kpanim predict'", "subject": "'kpanim subject'"}


def load_npz_checked(path: str | os.PathLike, kind: str, skip: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Open a kpanim ``.npz`` of the given kind and check its version; returns its arrays, except the members
    named in ``skip`` (never read: numpy reads an .npz member only when asked)."""
    path = Path(path)
    make = _MAKERS.get(kind, "kpanim")
    if not path.is_file():
        raise FormatError(f"{path}: no such file; check the name and folder ({make} writes a {kind} .npz)")
    if not zipfile.is_zipfile(path):
        raise FormatError(f"{path}: not a kpanim .npz file (not a zip archive); give a {kind} .npz written by {make}")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k not in skip}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, RuntimeError, KeyError) as err:
        raise npz_error(path, err) from None
    found = str(arrays.get("kind", "")) or "unknown"
    if found != kind:
        raise FormatError(f"{path}: this is a kpanim '{found}' file, expected a '{kind}' file; give the {kind} "
                          f".npz ({make} writes one)")
    try:
        version = int(arrays.get("format_version", -1))
    except (TypeError, ValueError):
        version = -1
    if version > FORMAT_VERSION:
        raise FormatError(f"{path}: format version {version} is newer than this kpanim reads "
                          f"({FORMAT_VERSION}); upgrade kpanim (pip install -U kpanim)")
    if version < 1:
        raise FormatError(f"{path}: missing or invalid format_version; not a kpanim file")
    return arrays
