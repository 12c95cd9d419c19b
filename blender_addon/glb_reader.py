"""Read the timing of a binary glTF (.glb) without bpy: frame rate, duration, kpanim metadata.

Blender's glTF importer turns key times into frames with the scene's frame rate, so the add-on
has to know a clip's rate *before* importing it. The rate comes from ``extras`` written by kpanim
(``fps``) when present, otherwise from the spacing of the animation's key times.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from .npz_reader import ReadError

_MAGIC = 0x46546C67  # b"glTF"
_JSON = 0x4E4F534A
_BIN = 0x004E4942
_COMPONENT = {5126: np.float32, 5125: np.uint32, 5123: np.uint16, 5121: np.uint8}


def read_glb(path: str | Path) -> tuple[dict, bytes]:
    """(glTF JSON dict, binary chunk) of a .glb file; :class:`ReadError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise ReadError(f"{path}: no such file")
    data = path.read_bytes()
    if len(data) < 20 or struct.unpack_from("<I", data, 0)[0] != _MAGIC:
        raise ReadError(f"{path}: not a binary glTF (.glb) file")
    _, version, length = struct.unpack_from("<III", data, 0)
    if version != 2:
        raise ReadError(f"{path}: glTF version {version}; only glTF 2.0 is supported")
    damaged = f"{path.name}: the .glb is truncated or damaged"
    fix = "re-export it with 'kpanim export' or copy it again"
    if length != len(data):
        raise ReadError(f"{damaged} (its header says {length} bytes, the file has {len(data)}); {fix}")
    offset, doc, binary = 12, None, b""
    while offset + 8 <= min(length, len(data)):
        size, kind = struct.unpack_from("<II", data, offset)
        if offset + 8 + size > len(data):
            raise ReadError(f"{damaged} (a chunk runs past the end of the file); {fix}")
        chunk = data[offset + 8: offset + 8 + size]
        if kind == _JSON:
            try:
                doc = json.loads(chunk.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as err:
                raise ReadError(f"{path}: damaged glTF JSON chunk ({err})") from None
        elif kind == _BIN:
            binary = chunk
        offset += 8 + size + (-size % 4)
    if doc is None:
        raise ReadError(f"{path}: the .glb has no JSON chunk; the file is damaged")
    _check_ranges(doc, len(binary), damaged, fix)
    return doc, binary


def _check_ranges(doc: dict, bin_len: int, damaged: str, fix: str) -> None:
    """Every embedded buffer, bufferView and accessor inside what holds it (a truncated file fails here,
    with one line, instead of deep in a reader with a buffer offset)."""
    sizes = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
    widths = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}
    try:
        buffers = doc.get("buffers") or []
        if any("uri" not in b and b.get("byteLength", 0) > bin_len for b in buffers):
            raise ReadError(f"{damaged} (its buffer is longer than the binary chunk); {fix}")
        views = doc.get("bufferViews") or []
        for view in views:
            if view.get("byteOffset", 0) + view["byteLength"] > buffers[view.get("buffer", 0)].get("byteLength", 0):
                raise ReadError(f"{damaged} (a bufferView lies beyond its buffer); {fix}")
        for acc in doc.get("accessors") or []:
            if acc.get("bufferView") is None or not acc["count"]:
                continue
            view = views[acc["bufferView"]]
            elem = sizes[acc["componentType"]] * widths[acc["type"]]
            if acc.get("byteOffset", 0) + (view.get("byteStride") or elem) * (acc["count"] - 1) + elem > view["byteLength"]:
                raise ReadError(f"{damaged} (an accessor lies beyond its bufferView); {fix}")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ReadError(f"{damaged} (inconsistent buffers, views or accessors); {fix}") from None


def _accessor(doc: dict, binary: bytes, index: int) -> np.ndarray:
    acc = doc["accessors"][index]
    view = doc["bufferViews"][acc["bufferView"]]
    dtype = np.dtype(_COMPONENT[acc["componentType"]])
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc["type"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    stride = view.get("byteStride", dtype.itemsize * width)
    if stride == dtype.itemsize * width:  # tightly packed (kpanim's and most files)
        return np.frombuffer(binary, dtype, width * acc["count"], start).reshape(acc["count"], width)
    rows = [np.frombuffer(binary, dtype, width, start + i * stride) for i in range(acc["count"])]
    return np.array(rows).reshape(acc["count"], width)


def kpanim_extras(doc: dict) -> dict:
    """The kpanim metadata of a .glb (``asset``, scene or first animation ``extras``), merged."""
    found: dict = {}
    for holder in (doc.get("asset", {}), *doc.get("scenes", [])[:1], *doc.get("animations", [])[:1]):
        extras = holder.get("extras")
        if isinstance(extras, dict):
            found.update(extras.get("kpanim", extras) if isinstance(extras.get("kpanim"), dict) else extras)
    return found


def glb_timing(path: str | Path) -> tuple[float, float, dict]:
    """(fps, duration in seconds, kpanim extras) of a .glb's first animation.

    Raises :class:`ReadError` if the file has no animation.
    """
    doc, binary = read_glb(path)
    extras = kpanim_extras(doc)
    anims = doc.get("animations") or []
    if not anims:
        raise ReadError(f"{path}: the .glb has no animation; export it with 'kpanim export' or 'kpanim predict -o x.glb'")
    inputs = {s["input"] for s in anims[0].get("samplers", [])}
    if not inputs:
        raise ReadError(f"{path}: the .glb's animation has no samplers")
    times = max((_accessor(doc, binary, i)[:, 0].astype(np.float64) for i in inputs), key=len)
    duration = float(times.max() - times.min()) if len(times) else 0.0
    fps = extras.get("fps")
    if not (isinstance(fps, (int, float)) and fps > 0):
        steps = np.diff(np.unique(times))
        fps = 1.0 / float(np.median(steps)) if len(steps) else 25.0
        if abs(fps - round(fps)) < 1e-3:
            fps = float(round(fps))
    return float(fps), duration, extras
