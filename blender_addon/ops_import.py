"""Import a kpanim animation (.npz or .glb) into the scene, with its speech as a sound strip.

An .npz becomes a small rig under one root empty (named after the file):

    <stem>                 root empty (move it to place the whole clip)
    ├─ <stem>.head         empty carrying the head pose (location + quaternion keys)
    │  └─ <stem>.face      face mesh: mean shape + principal-component shape keys, keyed per frame
    ├─ <stem>.shoulder_*   18 empties for the torso points (camera frame)
    └─ <stem>.camera       kpanim's camera (at the origin, looking at the face)

A .glb goes through Blender's own glTF importer; the add-on sets the frame rate first and shifts
the keys so that both kinds of file start at frame 1, where the sound strip starts.
"""

# No `from __future__ import annotations` here: Blender reads bpy.props definitions from real
# (evaluated) class annotations.

import math
from pathlib import Path

import bpy
import numpy as np
from bpy.props import BoolProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import bl_scene
from .glb_reader import glb_timing
from .motion import head_pose_to_blender, shape_basis, to_blender
from .npz_reader import Clip, ReadError, face_topology, find_audio, read_clip

TORSO_NAMES = tuple(f"shoulder_{side}_{i}" for side in ("left", "right") for i in range(9))
# Shape-key compression: the bound and cap of kpanim's .glb export (docs/GLTF.md), so both imports
# carry the same motion; talking clips tracked from video need ~65 keys for 0.5 mm.
SHAPE_TOLERANCE_M = 5e-4
MAX_SHAPE_KEYS = 128
CAMERA_FOV = 2 * math.atan(0.5)  # kpanim's camera: focal length = the image's larger side


def _empty(name: str, collection, parent=None, size: float = 0.02, kind: str = "PLAIN_AXES"):
    obj = bpy.data.objects.new(name, None)
    obj.empty_display_type = kind
    obj.empty_display_size = size
    obj.parent = parent
    collection.objects.link(obj)
    return obj


def build_clip(context, clip: Clip, name: str | None = None, camera: bool = True) -> bpy.types.Object:
    """Create the rig for ``clip`` in a new collection; returns the root empty."""
    name = name or clip.path.stem
    collection = bpy.data.collections.new(name)
    context.scene.collection.children.link(collection)
    root = _empty(name, collection, size=0.05)
    root["kpanim_role"] = "root"
    root["kpanim_source"] = str(clip.path)

    head = _empty(f"{name}.head", collection, parent=root, size=0.03, kind="ARROWS")
    head["kpanim_role"] = "head"
    loc, quat = head_pose_to_blender(clip.head_pose)
    head.rotation_mode = "QUATERNION"
    for i in range(3):
        bl_scene.keyframe_curve(head, "location", loc[:, i], index=i, group="head")
    for i in range(4):
        bl_scene.keyframe_curve(head, "rotation_quaternion", quat[:, i], index=i, group="head")

    frames = to_blender(clip.dense)
    mean, keys, weights, error = shape_basis(frames, MAX_SHAPE_KEYS, SHAPE_TOLERANCE_M)
    face = bl_scene.mesh_object(f"{name}.face", mean, face_topology()["triangles"], collection)
    face.parent = head
    face["kpanim_role"] = "face"
    face["kpanim_max_error_m"] = error  # of the shape keys against the file's points
    bl_scene.add_shape_keys(face, keys, [f"kpanim_{k:02d}" for k in range(len(keys))], weights, slider_min=-1.0)

    torso = to_blender(clip.torso)
    for j, tname in enumerate(TORSO_NAMES):
        point = _empty(f"{name}.{tname}", collection, parent=root, size=0.01, kind="SPHERE")
        point["kpanim_role"] = "torso"
        for i in range(3):
            bl_scene.keyframe_curve(point, "location", torso[:, j, i], index=i, group="torso")

    if camera:
        cam = bpy.data.objects.new(f"{name}.camera", bpy.data.cameras.new(f"{name}.camera"))
        cam.data.sensor_fit = "AUTO"
        cam.data.angle = CAMERA_FOV
        cam.data.clip_start = 0.01
        cam.rotation_euler = (math.pi / 2, 0.0, 0.0)  # Blender cameras look down local -Z; this turns it to +Y
        cam.parent = root
        cam["kpanim_role"] = "camera"
        collection.objects.link(cam)
        if context.scene.camera is None:
            context.scene.camera = cam
    bl_scene.set_scene_timing(context.scene, clip.fps, clip.n_frames)
    return root


_GLB_ROLES = {"kpanim": "root", "head": "head", "face": "face", "camera": "camera"}


def import_glb(context, path: Path) -> tuple[float, int, dict]:
    """Import a .glb with Blender's importer at the clip's frame rate; returns (fps, frames, extras)."""
    fps, duration, extras = glb_timing(path)
    scene = context.scene
    scene.render.fps, scene.render.fps_base = bl_scene.blender_fps(fps)
    before, objects_before = set(bpy.data.actions), set(bpy.data.objects)
    result = bpy.ops.import_scene.gltf(filepath=str(path))
    if "FINISHED" not in result:
        raise ReadError(f"{path}: Blender's glTF importer failed; check the file with 'kpanim info {path.name}'")
    # The importer maps time t to frame t * fps (frame 0, and fps * fps_base where the rate is
    # fps / fps_base): remap every new key so that time t lands on FIRST_FRAME + t * fps.
    used = scene.render.fps * scene.render.fps_base
    for action in set(bpy.data.actions) - before:
        for fcurve in bl_scene.action_fcurves(action):
            for attr in ("co", "handle_left", "handle_right"):
                co = np.empty(2 * len(fcurve.keyframe_points))
                fcurve.keyframe_points.foreach_get(attr, co)
                co[0::2] = co[0::2] / used * fps + bl_scene.FIRST_FRAME
                fcurve.keyframe_points.foreach_set(attr, co)
            fcurve.update()
    for obj in set(bpy.data.objects) - objects_before:
        role = _GLB_ROLES.get(obj.name.split(".")[0]) or ("torso" if obj.name.startswith("shoulder_") else None)
        if role:  # kpanim's node names (docs/GLTF.md): lets Retarget find the face of a .glb too
            obj["kpanim_role"] = role
            if role == "camera" and scene.camera is None:
                scene.camera = obj
    n_frames = extras.get("n_frames")
    if not (isinstance(n_frames, int) and n_frames > 0):
        n_frames = int(round(duration * fps)) + 1
    bl_scene.set_scene_timing(scene, fps, n_frames)
    return fps, n_frames, extras


def import_animation(context, path: str | Path, sound: str | Path | None = None, use_sound: bool = True) -> dict:
    """Import ``path`` (.npz/.glb) and its speech; returns a summary for reports and tests.

    The speech is ``sound`` if given, else the file its meta names or one next to it (see
    :func:`~.npz_reader.find_audio`); none with ``use_sound=False``.
    """
    path = Path(bpy.path.abspath(str(path)))
    suffix = path.suffix.lower()
    if suffix == ".npz":
        clip = read_clip(path)
        root = build_clip(context, clip)
        face = next(o for o in root.children_recursive if o.get("kpanim_role") == "face")
        info = {"root": root, "fps": clip.fps, "frames": clip.n_frames, "meta": clip.meta,
                "error_m": face["kpanim_max_error_m"], "keys": len(face.data.shape_keys.key_blocks) - 1}
    elif suffix in (".glb", ".gltf"):
        fps, n_frames, extras = import_glb(context, path)
        meta = extras.get("meta")  # kpanim's .glb keeps the animation's meta (with the audio) here
        info = {"root": None, "fps": fps, "frames": n_frames, "meta": meta if isinstance(meta, dict) else extras}
    else:
        raise ReadError(f"{path.name}: unknown file type '{suffix}'; import a kpanim .npz or .glb")
    sound_path = None
    if use_sound:
        sound_path = Path(bpy.path.abspath(str(sound))) if sound else find_audio(path, info["meta"])
    info["sound"] = bl_scene.add_sound_strip(context.scene, sound_path) if sound_path else None
    return info


class KPANIM_OT_import_animation(bpy.types.Operator, ImportHelper):
    """Import a kpanim animation (.npz or .glb) with its speech as a sound strip"""

    bl_idname = "kpanim.import_animation"
    bl_label = "Import kpanim Animation"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz;*.glb", options={"HIDDEN"})
    sound_path: StringProperty(name="Sound", subtype="FILE_PATH",
                               description="Speech to play along (default: the one named in, or next to, the file)")
    use_sound: BoolProperty(name="Add Sound", default=True, description="Add the speech as a sound strip")

    def execute(self, context):
        try:
            info = import_animation(context, self.filepath, self.sound_path or None, self.use_sound)
        except (ReadError, FileNotFoundError, ValueError) as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        if info.get("error_m", 0.0) > SHAPE_TOLERANCE_M:
            self.report({"WARNING"}, f"The face's {info['keys']} shape keys reproduce the file within "
                                     f"{1000 * info['error_m']:.2f} mm (cap reached; bound {1000 * SHAPE_TOLERANCE_M:g} mm)")
        if self.use_sound and info["sound"] is None:
            self.report({"WARNING"}, f"Imported {info['frames']} frames at {info['fps']:g} fps; no speech found next "
                                     "to the file: set Sound to play it along")
        else:
            self.report({"INFO"}, f"Imported {info['frames']} frames at {info['fps']:g} fps")
        context.scene["kpanim_last_import"] = str(self.filepath)
        return {"FINISHED"}


def menu_import(self, context):
    """File > Import > kpanim Animation: where users look (a plain glTF import leaves the scene at 24 fps
    and 250 frames, as glTF has no frame rate; this one sets the clip's rate, range and sound)."""
    self.layout.operator(KPANIM_OT_import_animation.bl_idname, text="kpanim Animation (.npz/.glb)")


def register_extra() -> None:
    bpy.types.TOPBAR_MT_file_import.append(menu_import)


def unregister_extra() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)


CLASSES = (KPANIM_OT_import_animation,)
