"""Head rotation for *Drive ARKit Shape Keys*: find the head bone of the rig that deforms the mesh and key
its rotation from the curves' yaw, pitch and roll.

The character is assumed to face -Y with +Z up in world space (Blender's front view; glTF and FBX imports
end up so, the armature object's own rotation included). The rotation (:func:`.motion.head_rotation_to_blender`,
the same one the imported kpanim head gets) is applied to the bone about its own head, in world axes, as a
delta from its rest pose (:func:`.motion.bone_local_quaternions`), so a bone's roll or rest direction does
not change where the face turns. The bone keeps its rotation mode: quaternion keys, or Euler keys in the
bone's order (axis-angle bones are switched to quaternions, whose keys interpolate well).
"""

from __future__ import annotations

import bpy
import numpy as np

from . import bl_scene
from .motion import bone_local_quaternions, head_rotation_to_blender

# Head bones of common rigs, tried in this order (case-insensitive); a bone named "<namespace>:Head"
# (Mixamo's mixamorig1:Head, ...) matches too. Controls come before the deform bones they drive.
HEAD_BONE_NAMES = (
    "c_head.x",  # Auto-Rig Pro's head control (it drives the deform bone head.x)
    "head",  # Rigify's control, Ready Player Me / Mixamo without prefix, MetaHuman, Unreal mannequin
    "mixamorig:Head",  # Mixamo
    "CC_Base_Head",  # Character Creator / iClone
    "J_Bip_C_Head",  # VRoid / VRM
    "DEF-head",  # a Rigify deform bone, when the rig has no control
    "head.x",  # Auto-Rig Pro's deform bone
)
NO_HEAD_BONE = "head rotation not keyed: no head bone found (set Head Bone)"


def find_armature(mesh_obj):
    """The armature deforming ``mesh_obj``: its first Armature modifier's object, else its armature parent."""
    for mod in mesh_obj.modifiers:
        if mod.type == "ARMATURE" and mod.object is not None and mod.object.type == "ARMATURE":
            return mod.object
    parent = mesh_obj.parent
    return parent if parent is not None and parent.type == "ARMATURE" else None


def find_head_bone(armature_obj, name: str = ""):
    """The pose bone to turn: ``name`` exactly when given (None if the armature has no such bone), else
    the first of :data:`HEAD_BONE_NAMES` found (any case, ``namespace:Head`` too), else None."""
    bones = armature_obj.pose.bones
    if name:
        return bones.get(name)
    by_key = {}
    for bone in bones:
        by_key.setdefault(bone.name.lower(), bone)
    for wanted in HEAD_BONE_NAMES:
        if wanted.lower() in by_key:
            return by_key[wanted.lower()]
    return next((b for b in bones if ":" in b.name and b.name.rsplit(":", 1)[1].lower() == "head"), None)


def resolve_head(mesh_obj, bone_name: str = ""):
    """(armature, pose bone) to key, or (armature or None, None) with nothing to key.

    Raises ValueError when ``bone_name`` was given but the rig has no such bone (or there is no rig)."""
    armature = find_armature(mesh_obj)
    if bone_name and armature is None:
        raise ValueError(f"Head Bone '{bone_name}': {mesh_obj.name} has no armature (no Armature modifier or "
                         "armature parent); clear Head Bone or rig the mesh")
    if armature is None:
        return None, None
    bone = find_head_bone(armature, bone_name)
    if bone_name and bone is None:
        raise ValueError(f"Head Bone '{bone_name}' is not a bone of armature {armature.name}; pick one of its "
                         "bones or leave Head Bone empty to find it by name")
    return armature, bone


def key_head_rotation(armature_obj, pose_bone, angles: np.ndarray, group: str) -> str:
    """Key ``pose_bone``'s rotation at frames FIRST_FRAME + i from (N, 3) yaw, pitch, roll; returns the
    rotation property keyed."""
    import mathutils

    rest = bl_scene.matrix_np(armature_obj.matrix_world.to_3x3()) @ bl_scene.matrix_np(
        pose_bone.bone.matrix_local.to_3x3())
    quats = bone_local_quaternions(head_rotation_to_blender(angles), rest)
    if pose_bone.rotation_mode == "AXIS_ANGLE":
        pose_bone.rotation_mode = "QUATERNION"
    prefix = f'pose.bones["{bpy.utils.escape_identifier(pose_bone.name)}"]'
    if pose_bone.rotation_mode == "QUATERNION":
        path, values = f"{prefix}.rotation_quaternion", quats
    else:  # an Euler order: each frame's angles chosen closest to the previous frame's (no ±2π jumps)
        path, values, prev = f"{prefix}.rotation_euler", np.empty((len(quats), 3)), None
        for i, q in enumerate(quats):
            euler = mathutils.Quaternion(q).to_euler(pose_bone.rotation_mode, *(() if prev is None else (prev,)))
            values[i], prev = euler, euler
    for k in range(values.shape[1]):
        bl_scene.keyframe_curve(armature_obj, path, values[:, k], index=k, group=group)
    return path
