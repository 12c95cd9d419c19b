"""Read kpanim animation ``.npz`` files (format v1) with numpy only.

The add-on runs inside Blender's Python, which has numpy but neither kpanim nor scipy, so this
module mirrors the format that ``kpanim.formats.animation.Animation.save`` writes (see docs/FORMAT.md):
arrays ``lip`` (T,40,3), ``eye`` (T,60,3), ``dense`` (T,478,3) in the canonical face frame,
``head_pose`` (T,6) rotation vector + translation canonical → camera, ``torso`` (T,18,3) in the
camera frame, scalars ``kind`` = "animation", ``format_version`` = 1, ``fps`` and JSON ``meta``.
Every problem is a one-line :class:`ReadError` that the operators show as a Blender report.
"""

from __future__ import annotations

import dataclasses
import json
import math
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

FORMAT_VERSION = 1
KIND = "animation"
N_DENSE, N_TORSO = 478, 18
FRAME_ARRAYS = {"dense": (N_DENSE, 3), "head_pose": (6,), "torso": (N_TORSO, 3)}
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a", ".aac", ".aiff")


class ReadError(ValueError):
    """A file the add-on cannot use; ``str(err)`` is one line naming the problem and the fix."""


@dataclasses.dataclass(frozen=True)
class Clip:
    """One kpanim animation, as the add-on needs it.

    Attributes:
        dense: (T, 478, 3) float32 face points, canonical frame, metres.
        head_pose: (T, 6) float64 rotation vector (rad) + translation (m), canonical → camera.
        torso: (T, 18, 3) float32 shoulder points, camera frame.
        fps: frames per second.
        meta: the file's provenance dict (may name the audio).
        path: the file it came from.
    """

    dense: np.ndarray
    head_pose: np.ndarray
    torso: np.ndarray
    fps: float
    meta: dict
    path: Path

    @property
    def n_frames(self) -> int:
        return int(self.dense.shape[0])


def read_clip(path: str | Path) -> Clip:
    """Load and check a kpanim animation ``.npz``; raises :class:`ReadError` on any problem."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ReadError(f"{path}: not a kpanim .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise ReadError(f"{path}: cannot read the .npz ({err}); the file is damaged") from None
    kind = str(arrays.get("kind", "")) or "unknown"
    if kind != KIND:
        raise ReadError(f"{path}: this is a kpanim '{kind}' file, expected an 'animation' file "
                        "(made by 'kpanim predict')")
    version = int(arrays.get("format_version", -1))
    if version > FORMAT_VERSION:
        raise ReadError(f"{path}: format version {version} is newer than this add-on reads ({FORMAT_VERSION}); "
                        "update the kpanim add-on")
    if version < 1:
        raise ReadError(f"{path}: missing or invalid format_version; not a kpanim file")
    missing = [k for k in (*FRAME_ARRAYS, "fps") if k not in arrays]
    if missing:
        raise ReadError(f"{path}: missing array(s) {', '.join(missing)}; re-create it with 'kpanim predict'")
    n_frames = None
    for name, tail in FRAME_ARRAYS.items():
        arr = arrays[name]
        if arr.ndim != len(tail) + 1 or arr.shape[1:] != tail:
            raise ReadError(f"{path}: '{name}' has shape {tuple(arr.shape)}, expected (T, {', '.join(map(str, tail))})")
        if n_frames is None:
            n_frames = arr.shape[0]
        elif arr.shape[0] != n_frames:
            raise ReadError(f"{path}: '{name}' has {arr.shape[0]} frames, 'dense' has {n_frames}")
        if not np.all(np.isfinite(arr)):
            raise ReadError(f"{path}: '{name}' contains NaN or infinite values")
    if not n_frames:
        raise ReadError(f"{path}: the animation has no frames; nothing to import")
    fps = float(arrays["fps"])
    if not (math.isfinite(fps) and fps > 0):
        raise ReadError(f"{path}: fps must be a positive number, got {fps}")
    try:
        meta = json.loads(str(arrays["meta"])) if "meta" in arrays else {}
    except json.JSONDecodeError:
        raise ReadError(f"{path}: 'meta' is not valid JSON; re-create the file with 'kpanim predict'") from None
    return Clip(dense=arrays["dense"].astype(np.float32), head_pose=arrays["head_pose"].astype(np.float64),
                torso=arrays["torso"].astype(np.float32), fps=fps, meta=meta if isinstance(meta, dict) else {},
                path=path)


def find_audio(anim_path: str | Path, meta: dict | None = None) -> Path | None:
    """The speech belonging to an animation file, or None.

    Looked for in this order: the path the file's meta names (``meta["audio"]`` as a string or
    ``{"path": ...}``, absolute or relative to the file's folder), then an audio file next to it
    with the same stem (``talk.npz`` → ``talk.wav``, ``talk.flac``, ...).
    """
    anim_path = Path(anim_path)
    entry = (meta or {}).get("audio")
    if isinstance(entry, dict):
        entry = entry.get("path") or entry.get("file")
    if isinstance(entry, str) and entry:
        for cand in (Path(entry), anim_path.parent / entry, anim_path.parent / Path(entry).name):
            if cand.is_file():
                return cand
    for suffix in AUDIO_SUFFIXES:
        cand = anim_path.with_suffix(suffix)
        if cand.is_file():
            return cand
    return None


@lru_cache(maxsize=1)
def face_topology() -> dict[str, np.ndarray]:
    """The shipped face-mesh topology: ``triangles`` (860,3), ``template`` (478,3) and index sets.

    A copy of kpanim's face constants made by scripts/make_blender_face_topology.py.
    """
    with np.load(Path(__file__).with_name("face_topology.npz"), allow_pickle=False) as z:
        out = {k: z[k] for k in z.files}
    for arr in out.values():
        arr.setflags(write=False)
    return out
