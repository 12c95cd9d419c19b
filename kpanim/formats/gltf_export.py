"""glTF 2.0 binary (.glb) export of an :class:`~kpanim.formats.animation.Animation` (``kpanim export``).

Pure format code (pygltflib + numpy, no bpy), like glTF-Blender-IO's exporter core. The file holds:

* node ``kpanim`` (scene root = the camera frame: metres, +Y up, +Z towards the viewer, which is
  glTF's own convention, so no axis conversion) with children
  - ``camera``: a perspective camera at the origin looking down -Z, the photo's viewpoint;
  - ``head``: animated rotation (quaternion) + translation = the head pose, parent of
    ``face``: the 478-vertex MediaPipe face mesh in the canonical frame. Two primitives share the
    vertices: ``skin`` (852 triangles of the tessellation) and ``iris`` (the 8 fan triangles, two
    small discs around the iris centres 468/473, with a dark material). The base shape is the
    subject's neutral face (or the clip's mean), the motion is a weights animation of morph
    targets (``clip_offset`` + PCA modes ``mode_00`` ..., see :mod:`kpanim.face.morph_basis`), named in
    ``mesh.extras.targetNames`` (read by Blender and three.js);
  - ``torso``: 18 child nodes ``shoulder_left_0`` ... ``shoulder_right_8`` with animated
    translations (camera frame), to drive a rig.
* ``asset.extras`` (copied to ``scenes[0].extras`` so Blender shows it as scene properties): see
  docs/GLTF.md. All samplers use LINEAR interpolation and share one time accessor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pygltflib as gl
from scipy.spatial.transform import Rotation

from .. import __version__
from ..errors import KpanimError
from ..face.constants import TORSO_NAMES, triangles
from ..face.morph_basis import MorphBasis, fit_morph_basis
from .animation import FRAME_ARRAYS, Animation, check_units
from .fileio import atomic_output, check_writable

if TYPE_CHECKING:
    from ..tracking.subject import Subject

GLB_FORMAT = "kpanim-glb"
GLB_FORMAT_VERSION = 1
DEFAULT_MAX_ERROR_M = 0.0005
N_IRIS_TRIANGLES = 8  # constants.triangles() ends with the two 4-triangle iris fans
DEFAULT_YFOV = 2 * math.atan(0.5)  # kpanim's Camera: focal = max(W, H) → 53.13° across the longer side
SKIN_RGBA = [0.80, 0.62, 0.52, 1.0]
IRIS_RGBA = [0.06, 0.05, 0.05, 1.0]


@dataclasses.dataclass(frozen=True)
class ExportReport:
    """What :func:`export_glb` wrote (``path`` is None for in-memory exports)."""

    path: Path | None
    n_frames: int
    fps: float
    n_targets: int
    max_error_m: float
    error_bound_m: float
    n_bytes: int
    seconds: float

    @property
    def within_bound(self) -> bool:
        return self.max_error_m <= self.error_bound_m

    def summary(self) -> str:
        return (f"{self.n_frames} frames at {self.fps:g} fps, {self.n_targets} morph targets, max vertex error "
                f"{self.max_error_m * 1000:.3f} mm (bound {self.error_bound_m * 1000:g} mm), "
                f"{self.n_bytes / 1024:.0f} KiB in {self.seconds:.2f} s")


class _Buffers:
    """Packs arrays into the single GLB buffer: one 4-byte aligned bufferView and accessor each."""

    TYPES = {1: "SCALAR", 3: "VEC3", 4: "VEC4"}
    COMPONENTS = {np.dtype(np.float32): gl.FLOAT, np.dtype(np.uint16): gl.UNSIGNED_SHORT}

    def __init__(self, gltf: gl.GLTF2) -> None:
        self.gltf, self.chunks, self.offset = gltf, [], 0

    def add(self, array: np.ndarray, width: int, target: int | None = None, bounds: bool = False) -> int:
        """Store ``array`` as ``count`` elements of ``width`` components; returns the accessor index."""
        array = np.ascontiguousarray(array)
        data = array.tobytes()
        self.gltf.bufferViews.append(gl.BufferView(buffer=0, byteOffset=self.offset, byteLength=len(data),
                                                   target=target))
        pad = -len(data) % 4
        self.chunks += [data, b"\0" * pad]
        self.offset += len(data) + pad
        flat = array.reshape(-1, width)
        acc = gl.Accessor(bufferView=len(self.gltf.bufferViews) - 1, componentType=self.COMPONENTS[array.dtype],
                          count=len(flat), type=self.TYPES[width])
        if bounds:  # exact float32 values, as the validator checks them against the data
            acc.min, acc.max = flat.min(0).tolist(), flat.max(0).tolist()
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1

    def finish(self) -> None:
        self.gltf.buffers = [gl.Buffer(byteLength=self.offset)]
        self.gltf.set_binary_blob(b"".join(self.chunks))


def vertex_normals(points: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(N, 3) unit area-weighted vertex normals of a triangle mesh (counter-clockwise = front)."""
    p = np.asarray(points, dtype=np.float64)
    face = np.cross(p[tris[:, 1]] - p[tris[:, 0]], p[tris[:, 2]] - p[tris[:, 0]])
    normals = np.zeros_like(p)
    for corner in range(3):
        np.add.at(normals, tris[:, corner], face)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    normals = np.where(length > 0, normals / np.maximum(length, 1e-30), [0.0, 0.0, 1.0])
    return normals.astype(np.float32)


def head_quaternions(rotvec: np.ndarray) -> np.ndarray:
    """(T, 3) rotation vectors → (T, 4) unit quaternions (x, y, z, w), sign-continuous for slerp."""
    quat = Rotation.from_rotvec(np.asarray(rotvec, dtype=np.float64)).as_quat()
    # q and -q are the same rotation; flip so consecutive keys are in one hemisphere (dot >= 0).
    flips = np.cumprod(np.where(np.sum(quat[1:] * quat[:-1], axis=1) < 0, -1.0, 1.0))
    quat[1:] *= flips[:, None]
    return quat.astype(np.float32)


def animation_sha256(anim: Animation) -> str:
    """Content hash of an animation's streams and frame rate (stable across file re-writes)."""
    h = hashlib.sha256(np.float64(anim.fps).tobytes())
    for name in FRAME_ARRAYS:
        h.update(np.ascontiguousarray(getattr(anim, name), dtype=np.float32).tobytes())
    return h.hexdigest()


def _camera(subject: Subject | None) -> gl.Camera:
    if subject is None:
        persp = gl.Perspective(yfov=DEFAULT_YFOV, znear=0.01, zfar=100.0)
    else:
        c = subject.camera
        persp = gl.Perspective(yfov=c.yfov, aspectRatio=c.width / c.height,
                               znear=0.01, zfar=100.0)
    return gl.Camera(type="perspective", perspective=persp, name="photo_camera")


def build_gltf(anim: Animation, fps: float | None = None, subject: Subject | None = None,
               max_error_m: float = DEFAULT_MAX_ERROR_M, sources: dict[str, str] | None = None,
               ) -> tuple[gl.GLTF2, MorphBasis, Animation]:
    """Assemble the glTF document (with its binary blob) for ``anim``.

    Returns the document, the fitted morph basis and the (possibly resampled) animation it shows.
    """
    if fps is not None:
        from ..commands.checks import check_fps

        check_fps(fps)
        anim = anim.resample(float(fps))
    if anim.n_frames == 0:
        raise KpanimError("the animation has no frames; nothing to export: predict a longer one")
    check_units(anim)
    base = subject.neutral if subject is not None else anim.dense.mean(0)
    basis = fit_morph_basis(anim.dense, base, max_error_m)
    tris = np.asarray(triangles(), dtype=np.uint16)

    gltf = gl.GLTF2(asset=gl.Asset(generator=f"kpanim {__version__}", version="2.0"))
    buf = _Buffers(gltf)
    position = buf.add(basis.base, 3, gl.ARRAY_BUFFER, bounds=True)
    normal = buf.add(vertex_normals(basis.base, tris), 3, gl.ARRAY_BUFFER)
    targets = [gl.Attributes(POSITION=buf.add(t, 3, gl.ARRAY_BUFFER, bounds=True)) for t in basis.targets]
    gltf.materials = [
        gl.Material(name="skin", pbrMetallicRoughness=gl.PbrMetallicRoughness(
            baseColorFactor=SKIN_RGBA, metallicFactor=0.0, roughnessFactor=0.7)),
        gl.Material(name="iris", pbrMetallicRoughness=gl.PbrMetallicRoughness(
            baseColorFactor=IRIS_RGBA, metallicFactor=0.0, roughnessFactor=0.3)),
    ]
    primitives = [gl.Primitive(attributes=gl.Attributes(POSITION=position, NORMAL=normal), material=m,
                               indices=buf.add(part, 1, gl.ELEMENT_ARRAY_BUFFER), targets=targets)
                  for m, part in enumerate((tris[:-N_IRIS_TRIANGLES], tris[-N_IRIS_TRIANGLES:]))]
    gltf.meshes = [gl.Mesh(name="face", primitives=primitives, weights=basis.weights[0].tolist(),
                           extras={"targetNames": list(basis.names)})]
    gltf.cameras = [_camera(subject)]

    quat = head_quaternions(anim.head_pose[:, :3])
    head_t = anim.head_pose[:, 3:].astype(np.float32)
    torso = anim.torso.astype(np.float32)
    # Node order: 0 root, 1 camera, 2 head, 3 face, 4 torso, 5.. shoulder points.
    gltf.nodes = [
        gl.Node(name="kpanim", children=[1, 2, 4]),
        gl.Node(name="camera", camera=0),
        gl.Node(name="head", children=[3], rotation=quat[0].tolist(), translation=head_t[0].tolist()),
        gl.Node(name="face", mesh=0),
        gl.Node(name="torso", children=list(range(5, 5 + len(TORSO_NAMES)))),
        *(gl.Node(name=name, translation=torso[0, i].tolist()) for i, name in enumerate(TORSO_NAMES)),
    ]
    extras = _extras(anim, basis, subject, sources)
    gltf.asset.extras = extras
    gltf.scenes = [gl.Scene(name="kpanim", nodes=[0], extras=extras)]
    gltf.scene = 0

    times = buf.add((np.arange(anim.n_frames) / anim.fps).astype(np.float32), 1, bounds=True)
    channels = [(3, "weights", buf.add(basis.weights, 1)), (2, "rotation", buf.add(quat, 4)),
                (2, "translation", buf.add(head_t, 3))]
    channels += [(5 + i, "translation", buf.add(torso[:, i], 3)) for i in range(len(TORSO_NAMES))]
    gltf.animations = [gl.Animation(
        name="kpanim",
        samplers=[gl.AnimationSampler(input=times, output=out, interpolation="LINEAR") for _, _, out in channels],
        channels=[gl.AnimationChannel(sampler=i, target=gl.AnimationChannelTarget(node=node, path=path))
                  for i, (node, path, _) in enumerate(channels)])]
    buf.finish()
    return gltf, basis, anim


def _extras(anim: Animation, basis: MorphBasis, subject: Subject | None, sources: dict[str, str] | None) -> dict:
    hashes = {"animation_sha256": animation_sha256(anim)}
    if subject is not None:
        hashes["subject_id"] = subject.subject_id
        hashes["image_sha256"] = subject.image_sha256
    hashes.update(sources or {})
    return {
        "format": GLB_FORMAT, "format_version": GLB_FORMAT_VERSION, "kpanim_version": __version__,
        "fps": anim.fps, "n_frames": anim.n_frames, "duration_s": anim.duration,
        "morph": {"basis": "pca", "targets": len(basis.names), "modes": basis.n_modes,
                  "base": "subject_neutral" if subject is not None else "clip_mean",
                  "max_error_m": basis.max_error_m, "error_bound_m": basis.error_bound_m},
        "sources": hashes,
        "meta": anim.meta,
    }


def glb_bytes(anim: Animation, fps: float | None = None, subject: Subject | None = None,
              max_error_m: float = DEFAULT_MAX_ERROR_M,
              sources: dict[str, str] | None = None) -> tuple[bytes, ExportReport]:
    """The .glb file's bytes, in memory (what ``kpanim view`` serves for an .npz)."""
    start = time.perf_counter()
    gltf, basis, shown = build_gltf(anim, fps, subject, max_error_m, sources)
    data = b"".join(gltf.save_to_bytes())
    return data, ExportReport(None, shown.n_frames, shown.fps, len(basis.names), basis.max_error_m,
                              basis.error_bound_m, len(data), time.perf_counter() - start)


def export_glb(anim: Animation, path: str | os.PathLike, fps: float | None = None, subject: Subject | None = None,
               max_error_m: float = DEFAULT_MAX_ERROR_M, sources: dict[str, str] | None = None) -> ExportReport:
    """Write ``anim`` as a glTF binary to ``path`` atomically (temp file + rename).

    Args:
        anim: the animation (canonical dense mesh, head pose, torso, fps).
        path: output ``.glb`` path.
        fps: resample to this frame rate first (None: keep the animation's).
        subject: a :class:`~kpanim.tracking.subject.Subject` whose neutral face is the base shape and whose
            photo camera becomes the glTF camera (None: the clip's mean shape, a 53° camera).
        max_error_m: bound on the morph targets' largest vertex error over all frames (metres).
        sources: extra provenance hashes for ``asset.extras.sources`` (e.g. the input file's sha256).
    """
    start = time.perf_counter()
    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise KpanimError(f"{path}: the output must be a .glb file (e.g. -o {path.with_suffix('.glb').name})")
    check_writable(path)  # before the (slower) basis fit
    data, report = glb_bytes(anim, fps, subject, max_error_m, sources)
    try:
        with atomic_output(path) as tmp:
            tmp.write_bytes(data)
    except OSError as err:
        raise KpanimError(f"cannot write {path}: {err.strerror}; choose a writable path") from None
    return dataclasses.replace(report, path=path, seconds=time.perf_counter() - start)
