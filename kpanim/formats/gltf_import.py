"""Reading kpanim .glb files back: ``kpanim info x.glb`` and the round trip to an Animation.

The layout is the one :mod:`kpanim.formats.gltf_export` writes (nodes found by name, not index, so files
edited in other tools still read as long as the names survive).
"""

from __future__ import annotations

import dataclasses
import json
import struct
from pathlib import Path

import numpy as np
import pygltflib as gl

from ..errors import FormatError
from ..face.constants import TORSO_NAMES

_DTYPES = {gl.FLOAT: np.float32, gl.UNSIGNED_SHORT: np.uint16, gl.UNSIGNED_INT: np.uint32,
           gl.UNSIGNED_BYTE: np.uint8}
_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}


def read_glb(path: str | Path) -> gl.GLTF2:
    """Parse a binary glTF file; a one-line :class:`FormatError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: no such file; check the name and folder")
    with open(path, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or head[:4] != b"glTF":
        raise FormatError(f"{path}: not a binary glTF (.glb) file; create one with 'kpanim export ANIM.npz'")
    if struct.unpack("<I", head[4:8])[0] != 2:
        raise FormatError(f"{path}: glTF container version {struct.unpack('<I', head[4:8])[0]}, expected 2; "
                          "re-export it as glTF 2.0")
    check_glb_layout(path, path.read_bytes())
    try:
        return gl.GLTF2.load_binary(str(path))
    except Exception as err:  # pygltflib raises assorted errors for damaged files
        raise FormatError(f"{path}: damaged .glb ({type(err).__name__}: {str(err)[:120]}); re-export it") from None


_COMPONENT_BYTES = {5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}
_TYPE_WIDTH = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}


def check_glb_layout(path: str | Path, data: bytes) -> dict:
    """Check a .glb's container against its own lengths; returns the JSON document.

    A truncated or damaged file fails here with one line, before any reader (pygltflib, a browser,
    Blender) meets a buffer offset beyond the end: the header's total length, each chunk's length,
    the buffer's length against the binary chunk, every bufferView inside its buffer and every
    accessor inside its bufferView."""
    damaged = f"{path}: the .glb is truncated or damaged"
    fix = "re-export it (kpanim export ANIM.npz -o FILE.glb) or copy it again"
    if len(data) < 20:
        raise FormatError(f"{damaged} (only {len(data)} bytes); {fix}")
    total = struct.unpack_from("<I", data, 8)[0]
    if total != len(data):
        raise FormatError(f"{damaged}: its header says {total} bytes, the file has {len(data)}; {fix}")
    offset, doc, bin_len = 12, None, 0
    while offset < len(data):
        if offset + 8 > len(data):
            raise FormatError(f"{damaged}: a chunk header is cut off; {fix}")
        size, kind = struct.unpack_from("<II", data, offset)
        if offset + 8 + size > len(data):
            raise FormatError(f"{damaged}: a chunk of {size} bytes runs past the end of the file; {fix}")
        if kind == 0x4E4F534A and doc is None:
            try:
                doc = json.loads(data[offset + 8:offset + 8 + size].decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise FormatError(f"{damaged}: its JSON chunk does not parse; {fix}") from None
        elif kind == 0x004E4942 and bin_len == 0:
            bin_len = size
        offset += 8 + size
    if not isinstance(doc, dict):
        raise FormatError(f"{damaged}: it has no JSON chunk; {fix}")
    try:
        buffers = doc.get("buffers") or []
        for i, buf in enumerate(buffers):
            if _is_meshopt_fallback(buf):  # holds no bytes: meshopt-compressed views are decoded into it
                continue
            if "uri" not in buf and buf.get("byteLength", 0) > bin_len:
                raise FormatError(f"{damaged}: buffer {i} needs {buf['byteLength']} bytes, the binary chunk holds "
                                  f"{bin_len}; {fix}")
        views = doc.get("bufferViews") or []
        for i, view in enumerate(views):
            buf = buffers[view.get("buffer", 0)]
            if view.get("byteOffset", 0) + view["byteLength"] > buf.get("byteLength", 0):
                raise FormatError(f"{damaged}: bufferView {i} lies beyond its buffer; {fix}")
        for i, acc in enumerate(doc.get("accessors") or []):
            if acc.get("bufferView") is None:
                continue
            view = views[acc["bufferView"]]
            elem = _COMPONENT_BYTES[acc["componentType"]] * _TYPE_WIDTH[acc["type"]]
            stride = view.get("byteStride") or elem
            need = acc.get("byteOffset", 0) + (stride * (acc["count"] - 1) + elem if acc["count"] else 0)
            if need > view["byteLength"]:
                raise FormatError(f"{damaged}: accessor {i} lies beyond its bufferView; {fix}")
    except (KeyError, IndexError, TypeError, AttributeError):
        raise FormatError(f"{damaged}: its buffers, views or accessors are inconsistent; {fix}") from None
    return doc


def _is_meshopt_fallback(buffer: dict) -> bool:
    """A meshopt "fallback" buffer (EXT_/KHR_meshopt_compression): declared size, no data in the file."""
    ext = buffer.get("extensions") or {}
    return any((ext.get(name) or {}).get("fallback") for name in ("EXT_meshopt_compression",
                                                                  "KHR_meshopt_compression"))


def accessor_array(gltf: gl.GLTF2, index: int) -> np.ndarray:
    """Accessor → (count, width) array (tightly packed bufferViews, as kpanim writes them)."""
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    dtype = np.dtype(_DTYPES[acc.componentType])
    width = _WIDTH[acc.type]
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    flat = np.frombuffer(gltf.binary_blob(), dtype=dtype, count=acc.count * width, offset=start)
    return flat.reshape(acc.count, width)


def kpanim_extras(gltf: gl.GLTF2) -> dict:
    extras = gltf.asset.extras if isinstance(gltf.asset.extras, dict) else {}
    return extras if extras.get("format") == "kpanim-glb" else {}


@dataclasses.dataclass(frozen=True)
class GlbMotion:
    """The motion stored in a kpanim .glb, as arrays.

    Attributes:
        times: (T,) keyframe times in seconds.
        base: (N, 3) mesh rest shape (canonical frame).
        targets: (K, N, 3) morph-target displacements.
        target_names: K names.
        weights: (T, K) morph weights per keyframe.
        head_rotation: (T, 4) quaternions (x, y, z, w); head_translation: (T, 3) metres.
        torso: (T, 18, 3) shoulder points, camera frame.
        extras: ``asset.extras`` (fps, hashes, morph error, meta).
    """

    times: np.ndarray
    base: np.ndarray
    targets: np.ndarray
    target_names: tuple[str, ...]
    weights: np.ndarray
    head_rotation: np.ndarray
    head_translation: np.ndarray
    torso: np.ndarray
    extras: dict

    def dense(self) -> np.ndarray:
        """(T, N, 3) canonical mesh at every keyframe."""
        from ..face.morph_basis import reconstruct

        return reconstruct(self.base, self.targets, self.weights)

    def to_animation(self):
        """The :class:`~kpanim.formats.animation.Animation` the file shows (dense from the morph targets)."""
        from scipy.spatial.transform import Rotation

        from .animation import Animation

        rotvec = Rotation.from_quat(self.head_rotation.astype(np.float64)).as_rotvec()
        pose = np.concatenate([rotvec, self.head_translation], axis=1)
        fps = float(self.extras.get("fps") or (1.0 / np.diff(self.times).mean() if len(self.times) > 1 else 25.0))
        return Animation.from_dense(self.dense(), pose, self.torso, fps, self.extras.get("meta", {}))


def read_glb_motion(path: str | Path) -> GlbMotion:
    """Read the face, head and torso motion of a kpanim .glb."""
    gltf = read_glb(path)
    nodes = {n.name: i for i, n in enumerate(gltf.nodes)}
    missing = [n for n in ("head", "face", *TORSO_NAMES) if n not in nodes]
    if missing or not gltf.animations:
        raise FormatError(f"{path}: not a kpanim animation .glb (missing {', '.join(missing) or 'animation'}); "
                          "write one with 'kpanim export'")
    anim = gltf.animations[0]
    tracks, times = {}, None
    for ch in anim.channels:
        sampler = anim.samplers[ch.sampler]
        times = accessor_array(gltf, sampler.input)[:, 0] if times is None else times
        tracks[(ch.target.node, ch.target.path)] = accessor_array(gltf, sampler.output)
    mesh = gltf.meshes[gltf.nodes[nodes["face"]].mesh]
    prim = mesh.primitives[0]
    base = accessor_array(gltf, prim.attributes.POSITION)
    # pygltflib reads morph targets back as plain dicts
    ids = [t["POSITION"] if isinstance(t, dict) else t.POSITION for t in prim.targets or []]
    targets = np.array([accessor_array(gltf, i) for i in ids], dtype=np.float32).reshape(len(ids), len(base), 3)
    n_frames = len(times)
    return GlbMotion(
        times=times,
        base=base,
        targets=targets,
        target_names=tuple((mesh.extras or {}).get("targetNames", [])),
        weights=tracks[(nodes["face"], "weights")].reshape(n_frames, -1),
        head_rotation=tracks[(nodes["head"], "rotation")],
        head_translation=tracks[(nodes["head"], "translation")],
        torso=np.stack([tracks[(nodes[name], "translation")] for name in TORSO_NAMES], axis=1),
        extras=kpanim_extras(gltf),
    )


def describe_glb(path: str | Path) -> str:
    """Human-readable summary of a .glb (frames, fps, morph targets and their error, nodes, extras)."""
    path = Path(path)
    gltf = read_glb(path)
    ex = kpanim_extras(gltf)
    n_tris = sum(gltf.accessors[p.indices].count // 3 for m in gltf.meshes for p in m.primitives
                 if p.indices is not None)
    if not ex:
        gen = gltf.asset.generator or "unknown generator"
        return (f"{path}: glTF binary not written by kpanim ({gen}): {len(gltf.nodes)} nodes, "
                f"{len(gltf.meshes)} meshes ({n_tris} triangles), {len(gltf.animations)} animations")
    morph = ex.get("morph", {})
    lines = [
        f"{path}: kpanim glTF animation (glb format v{ex.get('format_version')}, "
        f"written by kpanim {ex.get('kpanim_version')})",
        f"  frames {ex.get('n_frames')} at {ex.get('fps'):g} fps = {ex.get('duration_s'):.2f} s",
        f"  morph targets {morph.get('targets')} (clip_offset + {morph.get('modes')} PCA modes), base shape "
        f"{morph.get('base')}, reconstruction max error {morph.get('max_error_m', float('nan')) * 1000:.3f} mm "
        f"(bound {morph.get('error_bound_m', float('nan')) * 1000:g} mm)",
    ]
    mesh_desc = ", ".join(f"{m.name}: {gltf.accessors[m.primitives[0].attributes.POSITION].count} vertices"
                          for m in gltf.meshes)
    lines.append(f"  mesh {mesh_desc}, {n_tris} triangles in {sum(len(m.primitives) for m in gltf.meshes)} "
                 "primitives")
    lines.append("  nodes " + _node_tree(gltf))
    for a in gltf.animations:
        paths = sorted({c.target.path for c in a.channels})
        lines.append(f"  animation '{a.name}': {len(a.channels)} channels ({', '.join(paths)}), "
                     f"{min({s.interpolation for s in a.samplers})} interpolation")
    lines.append("  sources " + json.dumps(ex.get("sources", {}), sort_keys=True))
    lines.append("  meta " + json.dumps(ex.get("meta", {}), sort_keys=True))
    return "\n".join(lines)


def _node_tree(gltf: gl.GLTF2) -> str:
    """``kpanim > [camera, head > [face], torso > [18 nodes: shoulder_left_0 ...]]``."""

    def walk(i: int) -> str:
        node = gltf.nodes[i]
        kids = node.children or []
        if not kids:
            return node.name or f"node{i}"
        if len(kids) > 4 and all(not gltf.nodes[k].children for k in kids):
            inner = f"{len(kids)} nodes: {gltf.nodes[kids[0]].name} ... {gltf.nodes[kids[-1]].name}"
        else:
            inner = ", ".join(walk(k) for k in kids)
        return f"{node.name or f'node{i}'} > [{inner}]"

    roots = gltf.scenes[gltf.scene or 0].nodes if gltf.scenes else []
    return "; ".join(walk(r) for r in roots)
