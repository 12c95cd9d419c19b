"""Small bpy helpers shared by the operators: bulk keyframes, scene timing, the sound strip, meshes.

Keyframes are written with ``foreach_set`` (one call per curve, not one per key), through
``Action.fcurve_ensure_for_datablock``: Blender 4.4+ layered actions have no ``Action.fcurves``.
"""

from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np

from .motion import blender_fps

FIRST_FRAME = 1  # kpanim frame i (time i / fps) is Blender frame FIRST_FRAME + i; the sound starts here too


def keyframe_curve(id_block, data_path: str, values: np.ndarray, index: int = 0, group: str = "",
                   first_frame: int = FIRST_FRAME) -> bpy.types.FCurve:
    """Key ``id_block.<data_path>[index]`` to ``values[i]`` at frame ``first_frame + i`` (linear)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    anim = id_block.animation_data or id_block.animation_data_create()
    if anim.action is None:
        anim.action = bpy.data.actions.new(f"{id_block.name}_kpanim")
    if hasattr(anim.action, "fcurve_ensure_for_datablock"):  # Blender 4.4+: layered actions
        fcurve = anim.action.fcurve_ensure_for_datablock(id_block, data_path, index=index, group_name=group)
    else:  # Blender 4.2/4.3
        fcurve = (anim.action.fcurves.find(data_path, index=index)
                  or anim.action.fcurves.new(data_path, index=index, action_group=group))
    points = fcurve.keyframe_points
    if len(points):
        points.clear()
    points.add(len(values))
    co = np.empty(2 * len(values))
    co[0::2] = first_frame + np.arange(len(values))
    co[1::2] = values
    points.foreach_set("co", co)
    points.foreach_set("interpolation", [bpy.types.Keyframe.bl_rna.properties["interpolation"]
                                         .enum_items["LINEAR"].value] * len(values))
    fcurve.update()
    return fcurve


def fcurve_values(id_block, data_path: str, index: int, frames: np.ndarray) -> np.ndarray:
    """The animated value of ``data_path[index]`` at each frame (its static value if not animated)."""
    anim = id_block.animation_data
    fcurve = None
    if anim is not None and anim.action is not None:
        fcurve = next((fc for fc in action_fcurves(anim.action) if fc.data_path == data_path and fc.array_index == index),
                      None)
    if fcurve is None:
        value = id_block.path_resolve(data_path)
        return np.full(len(frames), value[index] if hasattr(value, "__len__") else value, dtype=np.float64)
    return np.array([fcurve.evaluate(float(f)) for f in frames], dtype=np.float64)


def action_fcurves(action):
    """All F-curves of an action: its layers' channelbags (Blender 4.4+) or ``action.fcurves`` (4.2/4.3).

    kpanim's actions have one slot each, so the channelbags of every slot are searched.
    """
    if not hasattr(action, "layers"):
        yield from action.fcurves
        return
    for layer in action.layers:
        for strip in layer.strips:
            for bag in getattr(strip, "channelbags", []):
                yield from bag.fcurves


def set_scene_timing(scene: bpy.types.Scene, fps: float, n_frames: int) -> None:
    """Scene frame rate = ``fps``, frame range = the clip (FIRST_FRAME .. FIRST_FRAME + n - 1)."""
    scene.render.fps, scene.render.fps_base = blender_fps(fps)
    scene.frame_start = FIRST_FRAME
    scene.frame_end = FIRST_FRAME + max(n_frames, 1) - 1
    scene.frame_set(FIRST_FRAME)


def add_sound_strip(scene: bpy.types.Scene, path: str | Path, name: str = "kpanim_speech"):
    """Put the speech in the sequencer at FIRST_FRAME, replacing an earlier kpanim strip of that name.

    Blender 4.4+ calls them ``strips`` (``sequences`` before); playback syncs to the audio.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"sound file {path} does not exist; pick the speech file of this animation")
    editor = scene.sequence_editor or scene.sequence_editor_create()
    strips = editor.strips if hasattr(editor, "strips") else editor.sequences
    old = strips.get(name)
    if old is not None:
        strips.remove(old)
    strip = strips.new_sound(name, str(path), 1, FIRST_FRAME)
    scene.sync_mode = "AUDIO_SYNC"
    return strip


def mesh_object(name: str, verts: np.ndarray, faces: np.ndarray, collection) -> bpy.types.Object:
    """A new mesh object from (N, 3) vertices and (F, 3) triangles, linked into ``collection``."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(np.asarray(verts, dtype=np.float64).tolist(), [], np.asarray(faces).tolist())
    mesh.update()
    mesh.polygons.foreach_set("use_smooth", [True] * len(mesh.polygons))
    obj = bpy.data.objects.new(name, mesh)
    collection.objects.link(obj)
    return obj


def add_shape_keys(obj: bpy.types.Object, offsets: np.ndarray, names: list[str], weights: np.ndarray | None = None,
                   slider_min: float = 0.0) -> list:
    """Add shape keys ``basis + offsets[k]`` (K, N, 3) and key their values to ``weights`` (T, K)."""
    if obj.data.shape_keys is None:
        obj.shape_key_add(name="Basis", from_mix=False)
    basis = np.empty(3 * len(obj.data.vertices))
    obj.data.vertices.foreach_get("co", basis)
    blocks = []
    for k, name in enumerate(names):
        block = obj.shape_key_add(name=name, from_mix=False)
        block.data.foreach_set("co", basis + np.asarray(offsets[k], dtype=np.float64).ravel())
        block.slider_min = min(slider_min, block.slider_min)
        blocks.append(block)
    if weights is not None:
        key = obj.data.shape_keys
        for k, block in enumerate(blocks):
            keyframe_curve(key, f'key_blocks["{block.name}"].value', weights[:, k], group="kpanim")
    obj.data.update()
    return blocks


def evaluated_vertices(obj: bpy.types.Object, depsgraph=None) -> np.ndarray:
    """(N, 3) vertex positions of ``obj`` after shape keys and modifiers, in its local space."""
    depsgraph = depsgraph or bpy.context.evaluated_depsgraph_get()
    ev = obj.evaluated_get(depsgraph)
    mesh = ev.to_mesh()
    try:
        co = np.empty(3 * len(mesh.vertices))
        mesh.vertices.foreach_get("co", co)
    finally:
        ev.to_mesh_clear()
    return co.reshape(-1, 3)


def mesh_vertices(obj: bpy.types.Object) -> np.ndarray:
    """(N, 3) rest (basis) vertex positions of a mesh object, local space."""
    co = np.empty(3 * len(obj.data.vertices))
    obj.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)


def matrix_np(matrix) -> np.ndarray:
    return np.array([list(row) for row in matrix], dtype=np.float64)
