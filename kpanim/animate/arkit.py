"""ARKit-52 blendshape curves: a port of MediaPipe's Blendshape V2 network, and the files avatars read.

**The network.** MediaPipe's Face Landmarker computes its 52 ARKit-compatible blendshape scores with
Blendshape V2 (``face_blendshapes.tflite``, Apache-2.0): an MLP-Mixer over 146 of the 478 face-mesh
landmarks (:data:`LANDMARK_SUBSET`, ``kLandmarksSubsetIdxs`` of MediaPipe's
``face_blendshapes_graph.cc``), given as x, y in pixels. :class:`BlendshapeV2` is that graph in torch,
op for op: centre the points on their mean, divide by their mean distance from it, halve; mix the
146 points into 96 tokens, embed each token's (x, y) into 64 channels, prepend a learned output
token; four Mixer blocks (layer norm without offset, eps 1e-6; token MLP 97→384→97, channel MLP
64→256→64, ReLU, residuals); a sigmoid layer on the output token → 52 scores in [0, 1]. The weights
(``kpanim/data/arkit_blendshapes.npz``) are the tflite file's float16 values, unchanged, converted
by ``scripts/convert_blendshapes.py``; licence and notice next to them. Given FaceLandmarker's own
landmarks it reproduces FaceLandmarker's scores (tests/test_arkit.py). No TensorFlow Lite needed.

**Animations.** :func:`animation_curves` turns an :class:`~kpanim.formats.animation.Animation` into (T, 52)
curves: each frame's dense face in the canonical (head) frame, so without head rotation or
translation, is seen by a virtual pinhole camera straight in front of it (:data:`VIEW_DISTANCE_M`
from the head's pivot on the +Z axis), and the network runs on those projected points in one batch.
The head rotation goes to the head channels of the files instead (:func:`head_angles`), the iris
direction to the eye channels (:func:`eye_angles`).

**Files.** :func:`write_livelink_csv` writes Epic's Live Link Face CSV layout (``Timecode,
BlendShapeCount,EyeBlinkLeft,...,TongueOut,HeadYaw,...,RightEyeRoll``: 52 shapes + 9 rotations),
:func:`write_json` a JSON object with Apple's names → per-frame arrays. Both come from
``kpanim predict ... -o anim.arkit.csv|.arkit.json`` and ``kpanim export anim.npz -o ...``.
Order and names: :data:`NAMES` is MediaPipe's order (``_neutral`` first, as FaceLandmarker returns
them and as the ``arkit`` array of an animation .npz stores them); :data:`APPLE_NAMES` is Apple's
ARKit order (``ARFaceAnchor.BlendShapeLocation``, which Live Link Face's columns follow), where
``tongueOut`` (not predicted: always 0) takes the place of ``_neutral``.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import KpanimError

if TYPE_CHECKING:
    from ..formats.animation import Animation

# kLandmarksSubsetIdxs (mediapipe/tasks/cc/vision/face_landmarker/face_blendshapes_graph.cc).
LANDMARK_SUBSET = np.array([
    0, 1, 4, 5, 6, 7, 8, 10, 13, 14, 17, 21, 33, 37, 39, 40, 46, 52, 53, 54, 55, 58, 61, 63, 65, 66, 67, 70,
    78, 80, 81, 82, 84, 87, 88, 91, 93, 95, 103, 105, 107, 109, 127, 132, 133, 136, 144, 145, 146, 148, 149,
    150, 152, 153, 154, 155, 157, 158, 159, 160, 161, 162, 163, 168, 172, 173, 176, 178, 181, 185, 191, 195,
    197, 234, 246, 249, 251, 263, 267, 269, 270, 276, 282, 283, 284, 285, 288, 291, 293, 295, 296, 297, 300,
    308, 310, 311, 312, 314, 317, 318, 321, 323, 324, 332, 334, 336, 338, 356, 361, 362, 365, 373, 374, 375,
    377, 378, 379, 380, 381, 382, 384, 385, 386, 387, 388, 389, 390, 397, 398, 400, 402, 405, 409, 415, 454,
    466, 468, 469, 470, 471, 472, 473, 474, 475, 476, 477], dtype=np.int64)

# kBlendshapeNames: the network's output order (FaceLandmarker's category order).
NAMES = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft",
    "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft",
    "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthPressLeft",
    "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower",
    "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight",
    "mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight")
N_SHAPES = len(NAMES)  # 52

# Apple's ARKit order (ARFaceAnchor.BlendShapeLocation; Live Link Face's CSV columns, in PascalCase).
APPLE_NAMES = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft", "eyeSquintLeft",
    "eyeWideLeft", "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight", "jawForward", "jawRight", "jawLeft", "jawOpen", "mouthClose",
    "mouthFunnel", "mouthPucker", "mouthRight", "mouthLeft", "mouthSmileLeft", "mouthSmileRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthDimpleLeft", "mouthDimpleRight", "mouthStretchLeft",
    "mouthStretchRight", "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight", "tongueOut")
ROTATION_COLUMNS = ("HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
                    "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
LIVELINK_HEADER = ("Timecode", "BlendShapeCount", *(n[0].upper() + n[1:] for n in APPLE_NAMES), *ROTATION_COLUMNS)
BLENDSHAPE_COUNT = len(APPLE_NAMES) + len(ROTATION_COLUMNS)  # 61, as Live Link Face writes it
LIVELINK_TIMECODE_FPS = 60  # the rate Live Link Face counts its timecodes' frames at

VIEW_DISTANCE_M = 0.5  # virtual camera: this far in front of the head's pivot (a webcam / phone distance)
VIEW_FOCAL_PX = 1000.0  # its focal length; the network is scale-invariant, so only the distance matters
EYEBALL_RADIUS_M = 0.012
SUFFIXES = (".arkit.csv", ".arkit.json")
JSON_FORMAT = "kpanim-arkit"


def normalise_name(name: str) -> str:
    """Matching key of a shape-key, morph-target or curve name: lower case, letters and digits only, a
    ``_L``/``.L``/``-L``/`` L`` (or R) suffix spelled out, so ``jawOpen``, ``JawOpen``, ``jaw_open`` and
    ``eyeBlink_L`` = ``eyeBlinkLeft`` match. The Blender add-on's ``arkit_curves.normalise`` and the viewer's
    ``normaliseName`` (kpanim/data/viewer/common.js) are copies of this rule (tests pin them)."""
    key = re.sub(r"[._\-\s]([lr])$", lambda m: {"l": "left", "r": "right"}[m[1].lower()], name.strip(), flags=re.I)
    return re.sub(r"[^0-9a-z]", "", key.lower())


def weights_path() -> Path:
    return Path(str(resources.files("kpanim.data").joinpath("arkit_blendshapes.npz")))


# ------------------------------------------------------------------------------------- network
def _build_module():
    import torch
    from torch import nn

    class MixerBlock(nn.Module):
        def __init__(self, tokens: int = 97, channels: int = 64, token_hidden: int = 384, channel_hidden: int = 256):
            super().__init__()
            self.ln1 = nn.LayerNorm(channels, bias=False)
            self.token_fc1, self.token_fc2 = nn.Linear(tokens, token_hidden), nn.Linear(token_hidden, tokens)
            self.ln2 = nn.LayerNorm(channels, bias=False)
            self.channel_fc1, self.channel_fc2 = nn.Linear(channels, channel_hidden), nn.Linear(channel_hidden, channels)

        def forward(self, x):  # (B, tokens, channels) float32; the MLPs run in their weights' number type
            B, N, C = x.shape
            dt = self.token_fc1.weight.dtype
            # the token MLP on contiguous (B·C, tokens) rows: one matrix product per layer, ReLU in place
            y = self.ln1(x).transpose(1, 2).reshape(B * C, N).to(dt)
            y = self.token_fc2(torch.relu_(self.token_fc1(y))).float().view(B, C, N)
            x = x + y.transpose(1, 2)
            return x + self.channel_fc2(torch.relu_(self.channel_fc1(self.ln2(x).to(dt)))).float()

    class BlendshapeV2(nn.Module):
        """MediaPipe Blendshape V2: (B, 146, 2) pixel points → (B, 52) scores in [0, 1]."""

        def __init__(self):
            super().__init__()
            self.token_reduce = nn.Linear(len(LANDMARK_SUBSET), 96)
            self.embed = nn.Linear(2, 64)
            self.extra_token = nn.Parameter(torch.zeros(1, 1, 64))
            self.blocks = nn.ModuleList(MixerBlock() for _ in range(4))
            self.head = nn.Linear(64, N_SHAPES)
            self.input_scale = 0.5

        def forward(self, points):
            x = points - points.mean(dim=1, keepdim=True)
            x = x / x.norm(dim=-1).mean(dim=1)[:, None, None] * self.input_scale
            x = self.embed(self.token_reduce(x.transpose(1, 2)).transpose(1, 2))  # (B, 96, 64)
            x = torch.cat([self.extra_token.expand(len(x), -1, -1), x], dim=1)
            for block in self.blocks:
                x = block(x)
            return torch.sigmoid(self.head(x[:, 0]))

    return BlendshapeV2


@lru_cache(maxsize=1)
def load_model():
    """The port with its shipped weights (float16 in the file, float32 in use, like the tflite graph)."""
    import torch

    path = weights_path()
    if not path.is_file():
        raise KpanimError(f"{path}: the ARKit blendshape weights are missing; reinstall kpanim")
    model = _build_module()()
    with np.load(path, allow_pickle=False) as z:
        state = {k: torch.from_numpy(z[k].astype(np.float32)) for k in z.files
                 if k not in ("input_scale", "ln_eps", "source_sha256")}
        model.input_scale = float(z["input_scale"].reshape(-1)[0])
        eps = float(z["ln_eps"].reshape(-1)[0])
    model.load_state_dict(state)
    for block in model.blocks:
        block.ln1.eps = block.ln2.eps = eps
    return model.eval()


@lru_cache(maxsize=1)
def _bfloat16_model():
    """The port with its Mixer MLPs in bfloat16 (layer norms, residuals and the rest stay float32)."""
    import copy

    import torch

    model = copy.deepcopy(load_model())
    for block in model.blocks:
        for fc in (block.token_fc1, block.token_fc2, block.channel_fc1, block.channel_fc2):
            fc.to(torch.bfloat16)
    return model


def scores_from_points(points_px: np.ndarray, batch: int = 64, precision: str = "float32") -> np.ndarray:
    """(N, 478, ≥2) pixel landmarks (x right, y down) → (N, 52) float32 scores in :data:`NAMES` order.

    Runs in batches of ``batch`` faces: 64 keeps the Mixer's activations in the CPU caches (1500 frames:
    1.0 s in batches of 64 vs 2.8 s in one batch, float32 on one core; docs/BENCHMARKS.md). ``precision``
    "bfloat16" runs the Mixer MLPs (94 % of the work) in bfloat16: about 2× faster where the CPU has AMX
    / AVX512-BF16, scores within 0.03 of float32 (mean 0.001); "auto" picks it on such CPUs."""
    import torch

    from ..nets.precision import resolve_precision

    pts = np.asarray(points_px, dtype=np.float32)
    subset = np.ascontiguousarray(pts[:, LANDMARK_SUBSET, :2])
    model = load_model() if resolve_precision(precision) == "float32" else _bfloat16_model()
    out = np.empty((len(subset), N_SHAPES), np.float32)
    with torch.no_grad():
        for b0 in range(0, len(subset), batch):
            out[b0:b0 + batch] = model(torch.from_numpy(subset[b0:b0 + batch])).numpy()
    return out


def from_landmarks(landmarks_px, image_size) -> np.ndarray:
    """One face's 52 blendshape scores, as MediaPipe FaceLandmarker computes them.

    Args:
        landmarks_px: (478, 2) or (478, 3) face-mesh landmarks in pixels (x right, y down; z ignored),
            i.e. MediaPipe's normalised landmarks times (width, height).
        image_size: (width, height) of the image they were found in, in pixels.
    Returns:
        (52,) float32 in [0, 1], in MediaPipe's category order (:data:`NAMES`, ``_neutral`` first).
    """
    pts = np.asarray(landmarks_px, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] != 478 or pts.shape[1] not in (2, 3):
        raise KpanimError(f"landmarks must be a (478, 2) or (478, 3) array of pixel coordinates, got shape "
                          f"{pts.shape}; pass MediaPipe's 478 face-mesh points (refine_landmarks=True)")
    if not np.all(np.isfinite(pts)):
        raise KpanimError("landmarks contain NaN or infinite values; pass a face that was detected")
    try:
        width, height = (float(v) for v in image_size)
    except (TypeError, ValueError):
        raise KpanimError(f"image_size must be (width, height) in pixels, got {image_size!r}") from None
    if not (width > 0 and height > 0):
        raise KpanimError(f"image_size must be positive (width, height) in pixels, got {image_size!r}")
    xy = pts[:, :2]
    if np.ptp(xy[:, 0]) < 1e-6 or np.ptp(xy[:, 1]) < 1e-6:
        raise KpanimError("the landmarks are degenerate (all on one line); pass a detected face")
    if max(width, height) > 4 and xy.min() >= 0 and xy.max() <= 1.0:
        raise KpanimError("the landmarks look normalised (all within 0..1); multiply x by the image width and "
                          "y by its height first")
    return scores_from_points(xy[None])[0]


# --------------------------------------------------------------------------------- animations
def project_frontal(dense: np.ndarray, distance: float = VIEW_DISTANCE_M, focal: float = VIEW_FOCAL_PX) -> np.ndarray:
    """(T, 478, 3) canonical-frame faces → (T, 478, 2) pixels seen by a camera ``distance`` metres in front
    of the pivot on the +Z axis, looking at it (x right = the subject's left, y down)."""
    dense = np.asarray(dense, dtype=np.float32)
    depth = np.maximum(distance - dense[..., 2], 1e-3)
    return np.stack([focal * dense[..., 0] / depth, -focal * dense[..., 1] / depth], axis=-1)


def animation_curves(anim: Animation, distance: float = VIEW_DISTANCE_M, precision: str = "auto") -> np.ndarray:
    """(T, 52) float32 blendshape curves of an animation (:data:`NAMES` order), from its face in the head
    frame seen frontally (:func:`project_frontal`); head motion is not in them (see :func:`head_angles`).
    ``precision``: see :func:`scores_from_points` ("auto": bfloat16 MLPs where the CPU is fast at them)."""
    if anim.n_frames == 0:
        return np.zeros((0, N_SHAPES), np.float32)
    return scores_from_points(project_frontal(anim.dense, distance), precision=precision)


def curves_of(anim: Animation) -> np.ndarray:
    """The animation's stored ``arkit`` curves if it has them, else computed."""
    stored = getattr(anim, "arkit", None)
    return np.asarray(stored, np.float32) if stored is not None else animation_curves(anim)


def head_angles(head_pose: np.ndarray) -> np.ndarray:
    """(T, 3) yaw, pitch, roll in radians of the head rotation (canonical → camera frame).

    Intrinsic Y-X-Z Euler angles: yaw about the head's up axis (+: the face turns towards the subject's
    left), pitch about its left axis (+: the face looks down), roll about its forward axis (+: the head
    tilts towards the subject's right shoulder)."""
    from scipy.spatial.transform import Rotation

    pose = np.asarray(head_pose, dtype=np.float64).reshape(-1, 6)
    if len(pose) == 0:
        return np.zeros((0, 3))
    return Rotation.from_rotvec(pose[:, :3]).as_euler("YXZ")


# face-mesh points: iris centre, eye corners (subject's left eye, then right)
_EYES = {"left": (473, 362, 263), "right": (468, 33, 133)}


def eye_angles(dense: np.ndarray) -> np.ndarray:
    """(T, 6) LeftEyeYaw, LeftEyePitch, LeftEyeRoll, RightEyeYaw, ... in radians, in the head frame: the
    iris centre's offset from the middle of its eye corners over a 12 mm eyeball radius (roll is 0).
    Yaw + = looking towards the subject's left, pitch + = looking down (same senses as the head)."""
    dense = np.asarray(dense, dtype=np.float64)
    out = np.zeros((len(dense), 6))
    for k, (iris, c0, c1) in enumerate(_EYES.values()):
        offset = dense[:, iris] - 0.5 * (dense[:, c0] + dense[:, c1])
        out[:, 3 * k] = np.arcsin(np.clip(offset[:, 0] / EYEBALL_RADIUS_M, -1, 1))
        out[:, 3 * k + 1] = np.arcsin(np.clip(-offset[:, 1] / EYEBALL_RADIUS_M, -1, 1))
    return out


def to_apple(curves: np.ndarray) -> np.ndarray:
    """(T, 52) curves in :data:`NAMES` order → (T, 52) in :data:`APPLE_NAMES` order (tongueOut = 0)."""
    curves = np.asarray(curves, np.float32)
    index = {n: i for i, n in enumerate(NAMES)}
    out = np.zeros((len(curves), len(APPLE_NAMES)), np.float32)
    for j, name in enumerate(APPLE_NAMES):
        if name in index:
            out[:, j] = curves[:, index[name]]
    return out


# -------------------------------------------------------------------------------------- files
def output_kind(path: str | os.PathLike) -> str | None:
    """"csv" / "json" for a ``.arkit.csv`` / ``.arkit.json`` path, else None."""
    name = Path(path).name.lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix.rsplit(".", 1)[1]
    return None


def timecode(frame: int, fps: float) -> str:
    """Live Link Face's ``HH:MM:SS:FF.fff`` for frame ``frame`` of an animation at ``fps`` (from 0).

    As the iPhone app writes it, ``FF`` counts frames at :data:`LIVELINK_TIMECODE_FPS` (60) whatever the
    animation's rate, and ``.fff`` is the fraction of such a frame (frame 1 at 25 fps: ``00:00:00:02.400``).
    Unreal's Live Link Face importer reads the time as ``HH·3600 + MM·60 + SS + FF.fff / 60`` (60 once some
    ``FF`` exceeds 30, so in every clip longer than 0.52 s; it assumes 30 otherwise)."""
    milli = int(round(frame / fps * LIVELINK_TIMECODE_FPS * 1000))  # thousandths of a 60 fps frame
    frames60, sub = divmod(milli, 1000)
    seconds, ff = divmod(frames60, LIVELINK_TIMECODE_FPS)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}.{sub:03d}"


def _frames(anim: Animation, curves: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    curves = curves_of(anim) if curves is None else np.asarray(curves, np.float32)
    if curves.shape != (anim.n_frames, N_SHAPES):
        raise KpanimError(f"ARKit curves must be ({anim.n_frames}, {N_SHAPES}), got {curves.shape}")
    return np.clip(to_apple(curves), 0, 1), head_angles(anim.head_pose), eye_angles(anim.dense)


def livelink_csv_text(anim: Animation, curves: np.ndarray | None = None) -> str:
    """The Live Link Face CSV of ``anim`` (see :func:`write_livelink_csv`)."""
    shapes, head, eyes = _frames(anim, curves)
    lines = [",".join(LIVELINK_HEADER)]
    rot = np.concatenate([head, eyes], axis=1)
    for i in range(anim.n_frames):
        values = ",".join(f"{v:.6f}" for v in shapes[i]) + "," + ",".join(f"{v:.6f}" for v in rot[i])
        lines.append(f"{timecode(i, anim.fps)},{BLENDSHAPE_COUNT},{values}")
    return "\n".join(lines) + "\n"


def json_document(anim: Animation, curves: np.ndarray | None = None) -> dict:
    """The ``.arkit.json`` object of ``anim`` (see :func:`write_json`)."""
    shapes, head, eyes = _frames(anim, curves)
    rnd = lambda a: [round(float(v), 6) for v in a]  # noqa: E731
    return {
        "format": JSON_FORMAT, "format_version": 1, "fps": anim.fps, "n_frames": anim.n_frames,
        "duration_s": anim.duration, "names": list(APPLE_NAMES),
        "blendshapes": {name: rnd(shapes[:, j]) for j, name in enumerate(APPLE_NAMES)},
        "head": {"yaw": rnd(head[:, 0]), "pitch": rnd(head[:, 1]), "roll": rnd(head[:, 2])},
        "eyes": {col: rnd(eyes[:, k]) for k, col in enumerate(ROTATION_COLUMNS[3:])},
        "units": {"blendshapes": "0..1", "rotations": "radians"},
        "source": {"generator": "kpanim (MediaPipe Blendshape V2 port)", "meta": anim.meta},
    }


def _write_text(path: Path, text: str) -> Path:
    from ..formats.fileio import atomic_output

    try:
        with atomic_output(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as err:
        raise KpanimError(f"cannot write {path}: {err.strerror}; choose a writable path") from None
    return path


def write_livelink_csv(anim: Animation, path: str | os.PathLike, curves: np.ndarray | None = None) -> Path:
    """Write Live Link Face's CSV: ``Timecode`` (``HH:MM:SS:FF.fff``, 60 fps frames: :func:`timecode`), one row
    per animation frame,
    ``BlendShapeCount`` (61), the 52 shapes in Apple's order and PascalCase (values 0..1, TongueOut 0),
    then HeadYaw/Pitch/Roll and Left/RightEyeYaw/Pitch/Roll in radians. Atomic (no partial file).

    Warns when the last frame is at most 0.5 s in: no timecode frame then exceeds 30, from which Unreal's
    importer concludes 30 fps timecodes and plays the clip at half speed."""
    path = _write_text(Path(path), livelink_csv_text(anim, curves))
    if anim.n_frames > 1 and (anim.n_frames - 1) / anim.fps <= 0.5:
        warnings.warn(f"{path.name} lasts {(anim.n_frames - 1) / anim.fps:.2f} s: Unreal's Live Link Face importer "
                      "plays clips of 0.5 s or less at half speed (it guesses their timecodes' rate); other "
                      "importers are not affected", stacklevel=2)
    return path


def write_json(anim: Animation, path: str | os.PathLike, curves: np.ndarray | None = None) -> Path:
    """Write ``{"fps", "n_frames", "names", "blendshapes": {appleName: [per frame]}, "head", "eyes", ...}``."""
    return _write_text(Path(path), json.dumps(json_document(anim, curves), separators=(",", ":")) + "\n")


def write_curves(anim: Animation, path: str | os.PathLike, curves: np.ndarray | None = None) -> Path:
    """Write ``.arkit.csv`` or ``.arkit.json`` by the path's name."""
    kind = output_kind(path)
    if kind == "csv":
        return write_livelink_csv(anim, path, curves)
    if kind == "json":
        return write_json(anim, path, curves)
    raise KpanimError(f"{path}: ARKit curves are written to a name ending in .arkit.csv or .arkit.json")
