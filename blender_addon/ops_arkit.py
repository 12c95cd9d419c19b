"""Drive the selected mesh's ARKit-named shape keys from ARKit-52 curves (kpanim .npz, Live Link Face CSV,
.arkit.json): one linear key per scene frame, at the scene's frame rate, from frame 1 (where kpanim's
sound strip starts). When the file has the head rotation and the mesh is rigged, the rig's head bone
turns too (:mod:`.arkit_head`). Reading, name matching and resampling are numpy code in :mod:`.arkit_curves`."""

# No `from __future__ import annotations` here: Blender reads bpy.props definitions from real
# (evaluated) class annotations.

from pathlib import Path

import bpy
from bpy.props import BoolProperty, FloatProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from . import arkit_head, bl_scene
from .arkit_curves import match_shape_keys, read_curves
from .npz_reader import ReadError

GROUP = "kpanim_arkit"


def scene_fps(scene) -> float:
    return scene.render.fps / scene.render.fps_base


def drive_shape_keys(context, target, path, csv_fps: float = 0.0, set_range: bool = True,
                     head_rotation: bool = True, head_bone: str = "") -> dict:
    """Key ``target``'s ARKit shape keys from the curves in ``path``, and with ``head_rotation`` its rig's
    head bone (``head_bone``, or found by name) from the file's head yaw/pitch/roll; returns a summary
    (``head``: "armature/bone" keyed, or None; ``head_note``: why not, or None).

    Raises ReadError for unusable files and ValueError when the mesh has none of the shape keys or
    ``head_bone`` names no bone of its rig; nothing is keyed then."""
    if target is None or target.type != "MESH":
        raise ValueError("Select the mesh whose ARKit shape keys (jawOpen, eyeBlinkLeft, ...) should move")
    curves = read_curves(Path(bpy.path.abspath(str(path))), csv_fps)
    key = target.data.shape_keys
    names = [b.name for b in key.key_blocks[1:]] if key is not None else []
    mapping, missing = match_shape_keys(names, curves.names)
    if not mapping:
        raise ValueError(f"{target.name} has none of the 52 ARKit shape keys (jawOpen, eyeBlinkLeft, ...); add "
                         "them (e.g. Faceit, or an ARKit-ready character) and run this again")
    armature, bone = (None, None)
    if head_rotation and curves.head is not None:  # no head channels in the file: nothing to say
        armature, bone = arkit_head.resolve_head(target, head_bone.strip())
    fps = scene_fps(context.scene)
    values = curves.at_fps(fps)
    column = {n: k for k, n in enumerate(curves.names)}
    for curve, block in mapping.items():
        bl_scene.keyframe_curve(key, f'key_blocks["{block}"].value', values[:, column[curve]], group=GROUP)
    head, head_note = None, None
    if bone is not None:
        arkit_head.key_head_rotation(armature, bone, curves.head_at_fps(fps), GROUP)
        head = f"{armature.name}/{bone.name}"
    elif head_rotation and curves.head is not None:
        head_note = arkit_head.NO_HEAD_BONE
    if set_range:
        context.scene.frame_start = bl_scene.FIRST_FRAME
        context.scene.frame_end = max(context.scene.frame_end, bl_scene.FIRST_FRAME + len(values) - 1)
    return {"keyed": sorted(mapping.values()), "missing": missing, "frames": len(values), "fps": fps,
            "source_fps": curves.fps, "head": head, "head_note": head_note}


class KPANIM_OT_drive_arkit(bpy.types.Operator, ImportHelper):
    """Key the selected mesh's ARKit-named shape keys from ARKit curves (kpanim .npz, Live Link Face .csv, .arkit.json)"""

    bl_idname = "kpanim.drive_arkit"
    bl_label = "Drive ARKit Shape Keys"
    bl_options = {"REGISTER", "UNDO"}

    filename_ext = ".npz"
    filter_glob: StringProperty(default="*.npz;*.csv;*.json", options={"HIDDEN"})
    csv_fps: FloatProperty(name="CSV Frame Rate", default=0.0, min=0.0, max=240.0,
                           description="Frame rate of a Live Link Face CSV's timecodes (0: from the file, else 60)")
    set_range: BoolProperty(name="Extend Frame Range", default=True,
                            description="Make the scene's frame range cover the curves")
    head_rotation: BoolProperty(name="Head Rotation", default=True,
                                description="Also turn the head bone of the mesh's armature by the file's head "
                                            "yaw, pitch and roll (character facing -Y, +Z up)")
    head_bone: StringProperty(name="Head Bone", default="",
                              description="The bone to turn; empty: found by name (head, c_head.x, "
                                          "mixamorig:Head, CC_Base_Head, J_Bip_C_Head, DEF-head, ...)")

    def execute(self, context):
        try:
            info = drive_shape_keys(context, context.active_object, self.filepath, self.csv_fps, self.set_range,
                                    self.head_rotation, self.head_bone)
        except (ReadError, ValueError) as err:
            self.report({"ERROR"}, str(err))
            return {"CANCELLED"}
        summary = (f"Keyed {len(info['keyed'])} ARKit shape keys over {info['frames']} frames at {info['fps']:g} fps")
        if info["head"]:
            summary += f" and the head ({info['head']})"
        notes = [info["head_note"]] if info["head_note"] else []
        if info["missing"]:
            shown = ", ".join(info["missing"][:8]) + (", ..." if len(info["missing"]) > 8 else "")
            notes.append(f"{len(info['missing'])} missing on {context.active_object.name}: {shown}")
        if notes:
            self.report({"WARNING"}, "; ".join([summary, *notes]))
        else:
            self.report({"INFO"}, summary)
        context.scene["kpanim_arkit_missing"] = info["missing"]
        return {"FINISHED"}


CLASSES = (KPANIM_OT_drive_arkit,)
