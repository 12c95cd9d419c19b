"""Data the Blender add-on tests make (no bpy import here: the stand-in kpanim executable uses it too)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kpanim import Animation
from kpanim.face import constants


def talking_face(n_frames: int = 40, fps: float = 25.0) -> tuple[Animation, np.ndarray, np.ndarray]:
    """An animation whose face is the template plus weighted jaw/smile fields; returns (anim, fields, weights)."""
    tmpl = constants.template().astype(np.float64)
    t = np.arange(n_frames) / fps
    jaw_region = np.clip((tmpl[14, 1] + 0.004 - tmpl[:, 1]) / 0.01, 0, 1)
    jaw = np.zeros_like(tmpl)
    jaw[:, 1], jaw[:, 2] = -0.01 * jaw_region, -0.003 * jaw_region
    corners = np.clip(np.abs(tmpl[:, 0]) / 0.03, 0, 1) * np.exp(-((tmpl[:, 1] - tmpl[14, 1]) / 0.02) ** 2)
    smile = np.zeros_like(tmpl)
    smile[:, 0], smile[:, 1] = 0.005 * corners * np.sign(tmpl[:, 0]), 0.003 * corners
    weights = np.stack([np.abs(np.sin(2 * np.pi * 1.5 * t)), 0.5 + 0.5 * np.sin(2 * np.pi * 0.7 * t)], 1)
    weights[0] = 0  # a neutral first frame: the retarget's rest pose
    dense = tmpl + np.einsum("tk,knc->tnc", weights, np.stack([jaw, smile]))
    pose = np.zeros((n_frames, 6))
    pose[:, 1] = 0.3 * np.sin(2 * np.pi * 0.5 * t)  # turning the head
    pose[:, 3:] = [0.0, 0.02, -0.5]
    torso = np.random.default_rng(0).normal([0, -0.2, -0.5], 0.01, (n_frames, 18, 3))
    return Animation.from_dense(dense, pose, torso, fps=fps, meta={"audio": "speech.wav"}), np.stack([jaw, smile]), weights


def write_wav(path: Path, seconds: float) -> Path:
    import soundfile

    sr = 16000
    soundfile.write(path, 0.1 * np.sin(2 * np.pi * 220 * np.arange(int(sr * seconds)) / sr), sr)
    return path


def remeshed_face(scale: float, offset) -> tuple[np.ndarray, list, callable]:
    """The kpanim face split 1→4 (new vertices on edge midpoints: a different topology lying on the
    same surface), in Blender axes, scaled and moved. Returns verts, faces, and a function mapping a
    per-template-vertex field to the new vertices."""
    from kpanim.blender_addon.motion import to_blender

    tmpl = constants.template().astype(np.float64)
    edges: dict[tuple[int, int], int] = {}
    faces = []

    def mid(a, b):
        return edges.setdefault((min(a, b), max(a, b)), 478 + len(edges))

    for a, b, c in constants.triangles().tolist():
        ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
        faces += [(a, ab, ca), (ab, b, bc), (ca, bc, c), (ab, bc, ca)]
    pairs = np.array(list(edges))

    def on_remesh(field):
        field = np.asarray(field, dtype=np.float64)
        return np.concatenate([field, (field[..., pairs[:, 0], :] + field[..., pairs[:, 1], :]) / 2], axis=-2)

    verts = to_blender(on_remesh(tmpl)) * scale + np.asarray(offset)
    return verts, faces, on_remesh


def mesh_from(bpy, name, verts, faces):
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(np.asarray(verts).tolist(), [], faces)
    mesh.update()
    obj = bpy.data.objects.new(name, mesh)
    bpy.context.scene.collection.objects.link(obj)
    bpy.context.view_layer.objects.active = obj
    return obj
