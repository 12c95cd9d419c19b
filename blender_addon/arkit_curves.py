"""ARKit-52 blendshape curves for the add-on, with numpy only: read them, match shape keys, resample.

Sources (see docs/FORMAT.md and kpanim.animate.arkit):

* a kpanim animation ``.npz`` with the optional ``arkit`` (T, 52) array (MediaPipe's order,
  ``_neutral`` first; ``kpanim predict ... --arkit`` stores it);
* a Live Link Face CSV (``Timecode,BlendShapeCount,EyeBlinkLeft,...``; Epic's iPhone app, or
  ``kpanim ... -o name.arkit.csv``). Its timecodes ``HH:MM:SS:FF.sss`` count frames at a rate the
  file does not store (60 in the app's 60 fps takes and in kpanim's files, 30 in 30 fps takes): pass
  ``csv_fps``, or 0 to infer it (:func:`timecode_fps`);
* a kpanim ``.arkit.json`` (``fps`` + ``blendshapes``: name → per-frame values).

Each may also carry the head rotation as yaw, pitch, roll in radians (kpanim.animate.arkit.head_angles'
conventions: intrinsic Y-X-Z in the head frame; yaw + turns the face to the subject's left, pitch + looks
down, roll + tilts towards the subject's right shoulder): the CSV's ``HeadYaw,HeadPitch,HeadRoll``
columns, the JSON's ``head: {yaw, pitch, roll}``, and the .npz's ``head_pose`` through
:func:`.motion.head_angles`, exactly as kpanim's CSV writer computes them.

Shape keys match ARKit names in any case and spelling of separators (``jawOpen``, ``JawOpen``,
``jaw_open``, ``JAW-OPEN``), with ``Left``/``Right`` also accepted as ``_L``/``_R``/``.L``/``.R``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import re
import zipfile
from pathlib import Path

import numpy as np

from .motion import head_angles
from .npz_reader import ReadError

# kpanim.animate.arkit.NAMES: MediaPipe Blendshape V2's output order (the .npz 'arkit' array's columns).
MEDIAPIPE_NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight")
ARKIT_NAMES = tuple(sorted(set(MEDIAPIPE_NAMES[1:]) | {"tongueOut"}, key=str.lower))  # the 52 ARKit shapes
NOT_SHAPES = {"timecode", "blendshapecount", "headyaw", "headpitch", "headroll", "lefteyeyaw", "lefteyepitch",
              "lefteyeroll", "righteyeyaw", "righteyepitch", "righteyeroll"}
HEAD_COLUMNS = ("headyaw", "headpitch", "headroll")  # normalised names of the CSV's head rotation columns
LIVE_LINK_DEFAULT_FPS = 60.0


@dataclasses.dataclass(frozen=True)
class Curves:
    """ARKit curves sampled at ``times`` (seconds from the first sample).

    Attributes:
        names: the ARKit names (camelCase, as Apple writes them), one per column of ``values``.
        values: (T, K) float64 weights in [0, 1].
        times: (T,) seconds, increasing.
        fps: the source's frame rate.
        path: the file they came from.
        head: (T, 3) head yaw, pitch, roll in radians (see the module's docstring), or None when the
            source has no head rotation.
    """

    names: tuple
    values: np.ndarray
    times: np.ndarray
    fps: float
    path: Path
    head: np.ndarray | None = None

    def at_fps(self, fps: float) -> np.ndarray:
        """(N, K) values at frames i / fps covering the clip (linear interpolation), N = duration · fps + 1."""
        return resample(self.times, self.values, fps)

    def head_at_fps(self, fps: float) -> np.ndarray | None:
        """(N, 3) head yaw, pitch, roll at the frames of :meth:`at_fps` (unwrapped first, so an angle
        crossing ±π interpolates the short way), or None without head rotation."""
        return None if self.head is None else resample(self.times, np.unwrap(self.head, axis=0), fps)


def _canonical(name: str) -> str:
    return ARKIT_BY_KEY.get(normalise(name), name)


def normalise(name: str) -> str:
    """Matching key of a shape-key or curve name: lower case, letters and digits only, sides spelled out."""
    key = name.strip()
    key = re.sub(r"[._\-\s]([lr])$", lambda m: {"l": "left", "r": "right"}[m[1].lower()], key, flags=re.I)
    return re.sub(r"[^0-9a-z]", "", key.lower())


ARKIT_BY_KEY = {normalise(n): n for n in ARKIT_NAMES}


def read_curves(path: str | Path, csv_fps: float = 0.0) -> Curves:
    """Read ARKit curves from a kpanim .npz, a Live Link Face .csv or a kpanim .arkit.json."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return _read_npz(path)
    if suffix == ".csv":
        return _read_csv(path, csv_fps)
    if suffix == ".json":
        return _read_json(path)
    raise ReadError(f"{path.name}: unknown file type '{suffix}'; use a kpanim .npz, a Live Link Face .csv or "
                    "an .arkit.json")


def _read_npz(path: Path) -> Curves:
    if not zipfile.is_zipfile(path):
        raise ReadError(f"{path}: not a kpanim .npz file (not a zip archive)")
    try:
        with np.load(path, allow_pickle=False) as z:
            kind = str(z["kind"]) if "kind" in z.files else "unknown"
            values = z["arkit"].astype(np.float64) if "arkit" in z.files else None
            fps = float(z["fps"]) if "fps" in z.files else float("nan")
            pose = z["head_pose"].astype(np.float64) if "head_pose" in z.files else None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise ReadError(f"{path}: cannot read the .npz ({err}); the file is damaged") from None
    if kind != "animation":
        raise ReadError(f"{path}: this is a kpanim '{kind}' file, expected an animation (made by 'kpanim predict')")
    if values is None:
        raise ReadError(f"{path.name} has no ARKit curves: re-create it with 'kpanim predict ... --arkit', or write "
                        f"them with 'kpanim export {path.name} -o {path.stem}.arkit.csv' and use that file")
    if values.ndim != 2 or values.shape[1] != len(MEDIAPIPE_NAMES) or not len(values):
        raise ReadError(f"{path}: 'arkit' has shape {values.shape}, expected (T, 52) with T > 0")
    if not (math.isfinite(fps) and fps > 0) or not np.all(np.isfinite(values)):
        raise ReadError(f"{path}: invalid fps or values in the ARKit curves; re-create the file")
    head = None
    if pose is not None and pose.shape == (len(values), 6) and np.all(np.isfinite(pose)):
        head = head_angles(pose)
    return Curves(MEDIAPIPE_NAMES[1:], values[:, 1:], np.arange(len(values)) / fps, fps, path, head)


def parse_timecode(text: str) -> tuple[int, float]:
    """``HH:MM:SS:FF.sss`` (or ``HH:MM:SS:FF``) → (whole seconds, frames incl. the sub-frame fraction)."""
    parts = text.strip().split(":")
    if len(parts) != 4:
        raise ValueError(text)
    h, m, s = (int(p) for p in parts[:3])
    return h * 3600 + m * 60 + s, float(parts[3])


def timecode_fps(seconds: np.ndarray, frames: np.ndarray) -> float:
    """The rate a CSV's timecode frames count at, which the file does not store. A frame number of 30 or
    more means 60 (Live Link Face's 60 fps takes and every kpanim file: Unreal's importer decides the same
    way); else, over a clip of at least a second, the largest frame number + 1 (30 fps takes, files of
    older kpanim versions, which counted at the animation's rate); else Live Link Face's default 60."""
    if frames.max() >= 30:
        return LIVE_LINK_DEFAULT_FPS
    if seconds.max() - seconds.min() >= 1:
        return float(math.floor(frames.max()) + 1)
    return LIVE_LINK_DEFAULT_FPS


def _read_csv(path: Path, csv_fps: float) -> Curves:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            rows = [r for r in csv.reader(fh) if r]
    except (OSError, UnicodeDecodeError) as err:
        raise ReadError(f"{path}: cannot read the CSV ({err})") from None
    if len(rows) < 2 or rows[0][0].strip().lower() != "timecode":
        raise ReadError(f"{path.name}: not a Live Link Face CSV (the first column must be 'Timecode', with one "
                        "row per frame); export it from Live Link Face or with 'kpanim export ... -o x.arkit.csv'")
    header = [h.strip() for h in rows[0]]
    columns = [(j, _canonical(h)) for j, h in enumerate(header) if normalise(h) not in NOT_SHAPES]
    columns = [(j, n) for j, n in columns if n in ARKIT_NAMES]
    if not columns:
        raise ReadError(f"{path.name}: no ARKit blendshape columns (EyeBlinkLeft, JawOpen, ...) in the header")
    keys = [normalise(h) for h in header]
    head_columns = [keys.index(c) for c in HEAD_COLUMNS if c in keys]
    try:
        stamps = [parse_timecode(r[0]) for r in rows[1:]]
        values = np.array([[float(r[j]) for j, _ in columns] for r in rows[1:]], dtype=np.float64)
        head = (np.array([[float(r[j]) for j in head_columns] for r in rows[1:]], dtype=np.float64)
                if len(head_columns) == 3 else None)
    except (ValueError, IndexError):
        raise ReadError(f"{path.name}: a row has a bad timecode (HH:MM:SS:FF.sss) or value; the file is damaged") \
            from None
    seconds = np.array([s for s, _ in stamps], dtype=np.float64)
    frames = np.array([f for _, f in stamps], dtype=np.float64)
    fps = float(csv_fps)
    if not fps > 0:
        fps = timecode_fps(seconds, frames)
    times = seconds + frames / fps
    times = times - times[0]
    if len(times) > 1 and np.any(np.diff(times) <= 0):
        raise ReadError(f"{path.name}: the timecodes do not increase at {fps:g} fps; set the CSV's frame rate")
    _check_finite(path, values)
    if head is not None and not np.all(np.isfinite(head)):
        head = None
    return Curves(tuple(n for _, n in columns), np.clip(values, 0, 1), times, fps, path, head)


def _check_finite(path: Path, values: np.ndarray) -> None:
    """Keyframes of NaN or infinity break the shape keys: refuse the file instead."""
    if not np.all(np.isfinite(values)):
        raise ReadError(f"{path.name}: some blendshape values are not numbers (NaN or infinity); the file is damaged: "
                        "export it again")


def _read_json(path: Path) -> Curves:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        fps = float(doc["fps"])
        shapes = doc["blendshapes"]
        names = [n for n in shapes if _canonical(n) in ARKIT_NAMES]
        values = np.array([shapes[n] for n in names], dtype=np.float64).T
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ReadError(f"{path.name}: not a kpanim .arkit.json ({err}); write it with 'kpanim export ... -o "
                        "x.arkit.json'") from None
    if not names or values.ndim != 2 or not len(values) or not (math.isfinite(fps) and fps > 0):
        raise ReadError(f"{path.name}: no ARKit curves or no frames in the file")
    _check_finite(path, values)
    return Curves(tuple(_canonical(n) for n in names), np.clip(values, 0, 1), np.arange(len(values)) / fps, fps, path,
                  _json_head(doc.get("head"), len(values)))


def _json_head(head, n_frames: int) -> np.ndarray | None:
    """(T, 3) from the JSON's ``head: {yaw, pitch, roll}`` lists, or None when absent or unusable."""
    try:
        angles = np.array([head[k] for k in ("yaw", "pitch", "roll")], dtype=np.float64).T
    except (KeyError, TypeError, ValueError):
        return None
    return angles if angles.shape == (n_frames, 3) and np.all(np.isfinite(angles)) else None


def match_shape_keys(key_names, curve_names) -> tuple[dict, list]:
    """({curve name: shape-key name}, [curve names with no shape key]); keys match in any case/spelling.

    ``tongueOut`` is never predicted by kpanim, so it is not reported missing when the key is absent."""
    by_key = {}
    for name in key_names:
        by_key.setdefault(normalise(name), name)
    mapping, missing = {}, []
    for curve in curve_names:
        key = by_key.get(normalise(curve))
        if key is not None:
            mapping[curve] = key
        elif curve != "tongueOut":
            missing.append(curve)
    return mapping, missing


def resample(times: np.ndarray, values: np.ndarray, fps: float) -> np.ndarray:
    """Values at i / fps for i = 0 .. round(last time · fps), linearly interpolated per column."""
    if not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, got {fps}")
    times = np.asarray(times, dtype=np.float64)
    n_out = int(round(times[-1] * fps)) + 1
    grid = np.arange(n_out) / fps
    values = np.asarray(values, dtype=np.float64)
    return np.stack([np.interp(grid, times, values[:, k]) for k in range(values.shape[1])], axis=1)
