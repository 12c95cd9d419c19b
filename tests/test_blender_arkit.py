"""*Drive ARKit Shape Keys* in real Blender: the mesh's ARKit-named shape keys from .npz, CSV and JSON curves,
and the rig's head bone by the files' head yaw, pitch and roll.

The expected directions are derived here from first principles, not from the add-on's maths: a
character faces -Y with +Z up in Blender, so its left is +X; yaw + turns the face to the subject's left
(the forward axis -Y towards +X), pitch + looks down (forward towards -Z), roll + tilts the head towards
the subject's right shoulder (its up axis +Z towards -X).
"""

from __future__ import annotations

import importlib
import math

import numpy as np
import pytest
from blender_fixtures import MODULE, arkit_head_mesh, key_values
from blender_test_data import talking_face

from kpanim.face import constants
from kpanim.face.geometry import apply_pose

pytestmark = pytest.mark.blender
N_FRAMES = 26
ANGLES = np.linspace(-0.6, 0.6, N_FRAMES)  # radians, one per frame at the scene's 25 fps
ROTVEC_AXIS = {"yaw": 1, "pitch": 0, "roll": 2}  # kpanim axes: +Y up, +X the subject's left, +Z forward


def write_sources(tmp_path, axis: str):
    """A kpanim animation whose head turns by ANGLES about one axis, as .npz, .arkit.csv and .arkit.json."""
    from kpanim.animate import arkit

    anim, _, _ = talking_face(n_frames=N_FRAMES, fps=25.0)
    pose = np.zeros((N_FRAMES, 6))
    pose[:, ROTVEC_AXIS[axis]] = ANGLES
    pose[:, 3:] = [0.0, 0.0, -0.5]
    anim = anim.replace(head_pose=pose, arkit=np.zeros((N_FRAMES, 52), np.float32))
    np.testing.assert_allclose(arkit.head_angles(anim.head_pose)[:, "yaw pitch roll".split().index(axis)], ANGLES,
                               atol=1e-6)
    anim.save(tmp_path / "talk.npz")
    arkit.write_curves(anim, tmp_path / "talk.arkit.csv")
    arkit.write_curves(anim, tmp_path / "talk.arkit.json")
    return tmp_path / "talk"


def make_rig(bpy, variant: str):  # noqa: F811
    """An armature with Neck → head bone, and the mesh it deforms (active). Variants differ in the head
    bone's name, rest direction and roll, the armature object's transform and the bone's rotation mode."""
    data = bpy.data.armatures.new("Rig")
    rig = bpy.data.objects.new("Rig", data)
    bpy.context.scene.collection.objects.link(rig)
    bpy.context.view_layer.objects.active = rig
    up = np.array([0.0, 0.0, 1.0])
    name, roll, tail = "Head", 0.0, np.array([0.0, 0.0, 0.2])
    if variant == "rolled":  # leaning forward and rolled: the bone's local axes are far from the world's
        name, roll, tail = "c_head.x", 0.9, np.array([0.05, -0.12, 0.15])
    elif variant == "fbx":  # Y-up bones in an armature object turned +90° about X and scaled, as FBX imports are
        rig.rotation_euler, rig.scale = (math.pi / 2, 0.0, 0.0), (0.01, 0.01, 0.01)
        up, name, roll, tail = np.array([0.0, 100.0, 0.0]), "mixamorig1:Head", 0.3, np.array([0.0, 20.0, 0.0])
    elif variant == "euler":
        name = "J_Bip_C_Head"
    bpy.ops.object.mode_set(mode="EDIT")
    neck = data.edit_bones.new("Neck")
    neck.head, neck.tail = (1.4 * up).tolist(), (1.5 * up).tolist()
    head = data.edit_bones.new(name)
    head.head, head.tail, head.roll, head.parent = (1.5 * up).tolist(), (1.5 * up + tail).tolist(), roll, neck
    bpy.ops.object.mode_set(mode="OBJECT")
    if variant == "euler":
        rig.pose.bones[name].rotation_mode = "YZX"
    mesh = arkit_head_mesh(bpy, ["jawOpen"])
    if variant in ("plain", "rolled"):
        mod = mesh.modifiers.new("Armature", "ARMATURE")
        mod.object = rig
    else:
        mesh.parent = rig
    return rig, rig.pose.bones[name], mesh


def turned(bpy, rig, pbone, frame: int) -> np.ndarray:  # noqa: F811
    """(3, 3) the head bone's world rotation at ``frame`` relative to its rest pose (scale removed)."""
    def rotation(m):
        u, _, vt = np.linalg.svd(np.array(m.to_3x3()))
        return u @ vt

    bpy.context.scene.frame_set(frame)
    return rotation(rig.matrix_world @ pbone.matrix) @ rotation(rig.matrix_world @ pbone.bone.matrix_local).T


def expected_directions(axis: str, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """World (forward, up) of a head facing -Y, +Z up, after the ARKit rotation (first principles)."""
    s, c = math.sin(angle), math.cos(angle)
    return {"yaw": ((s, -c, 0), (0, 0, 1)),  # + : the face towards +X, the subject's left
            "pitch": ((0, -c, -s), (0, -s, c)),  # + : the face down, the top of the head forward
            "roll": ((0, -1, 0), (-s, 0, c))}[axis]  # + : the top of the head towards -X, the right shoulder


@pytest.mark.parametrize("variant", ["plain", "rolled", "fbx", "euler"])
@pytest.mark.parametrize("axis", ["yaw", "pitch", "roll"])
def test_head_bone_turns_the_way_the_face_turns(addon, bpy, tmp_path, axis, variant):  # noqa: F811
    stem = write_sources(tmp_path, axis)
    rig, pbone, mesh = make_rig(bpy, variant)
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 25, 1.0
    assert bpy.ops.kpanim.drive_arkit(filepath=f"{stem}.arkit.csv") == {"FINISHED"}
    assert mesh.data.shape_keys.animation_data is not None  # the shapes are keyed as before
    for i in (0, 5, 13, 20, N_FRAMES - 1):
        delta = turned(bpy, rig, pbone, 1 + i)
        forward, up = expected_directions(axis, ANGLES[i])
        np.testing.assert_allclose(delta @ [0, -1, 0], forward, atol=2e-5, err_msg=f"{variant} {axis} frame {i}")
        np.testing.assert_allclose(delta @ [0, 0, 1], up, atol=2e-5, err_msg=f"{variant} {axis} frame {i}")
    paths = {fc.data_path for fc in addon.bl_scene.action_fcurves(rig.animation_data.action)}
    prop = "rotation_euler" if variant == "euler" else "rotation_quaternion"
    assert paths == {f'pose.bones["{pbone.name}"].{prop}'}
    assert pbone.rotation_mode == ("YZX" if variant == "euler" else "QUATERNION")


def test_yaw_means_the_subjects_left_in_kpanims_face_too():
    # the convention the test above checks in Blender, seen on kpanim's own face: + yaw about +Y moves the
    # nose tip towards +X, which is the subject's left (kpanim.animate.arkit.project_frontal)
    nose = constants.template()[1]
    assert apply_pose(np.array([0, 0.3, 0, 0, 0, 0]), nose[None])[0, 0] > nose[0] + 0.005


def test_npz_json_and_csv_turn_the_head_alike(addon, bpy, tmp_path):  # noqa: F811
    stem = write_sources(tmp_path, "yaw")
    got = {}
    for suffix in (".npz", ".arkit.json", ".arkit.csv"):
        bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
        rig, pbone, _ = make_rig(bpy, "plain")
        assert bpy.ops.kpanim.drive_arkit(filepath=f"{stem}{suffix}") == {"FINISHED"}
        got[suffix] = np.array([turned(bpy, rig, pbone, f) for f in range(1, N_FRAMES + 1)])
    np.testing.assert_allclose(got[".npz"], got[".arkit.csv"], atol=1e-5)
    np.testing.assert_allclose(got[".arkit.json"], got[".arkit.csv"], atol=1e-5)


def test_a_named_bone_that_does_not_exist_is_an_error_and_keys_nothing(addon, bpy, tmp_path):  # noqa: F811
    stem = write_sources(tmp_path, "yaw")
    rig, _, mesh = make_rig(bpy, "plain")
    with pytest.raises(RuntimeError, match="Head Bone 'Skull' is not a bone of armature Rig"):
        bpy.ops.kpanim.drive_arkit(filepath=f"{stem}.arkit.csv", head_bone="Skull")
    assert mesh.data.shape_keys.animation_data is None and rig.animation_data is None
    assert bpy.ops.kpanim.drive_arkit(filepath=f"{stem}.arkit.csv", head_bone="Neck") == {"FINISHED"}
    paths = {fc.data_path for fc in addon.bl_scene.action_fcurves(rig.animation_data.action)}
    assert paths == {'pose.bones["Neck"].rotation_quaternion'}


def test_without_a_head_bone_the_shapes_are_still_keyed(addon, bpy, tmp_path):  # noqa: F811
    ops = importlib.import_module(f"{MODULE}.ops_arkit")
    stem = write_sources(tmp_path, "yaw")
    mesh = arkit_head_mesh(bpy, ["jawOpen"])  # no armature at all
    info = ops.drive_shape_keys(bpy.context, mesh, f"{stem}.arkit.csv")
    assert info["keyed"] == ["jawOpen"] and info["head"] is None
    assert info["head_note"] == "head rotation not keyed: no head bone found (set Head Bone)"
    assert bpy.ops.kpanim.drive_arkit(filepath=f"{stem}.arkit.csv") == {"FINISHED"}
    with pytest.raises(RuntimeError, match="Head Bone 'Head': avatar has no armature"):
        bpy.ops.kpanim.drive_arkit(filepath=f"{stem}.arkit.csv", head_bone="Head")
    # a rig whose bones have no head-like name: the same note; Head Rotation off: no note, no bone keys
    rig, _, mesh = make_rig(bpy, "plain")
    rig.pose.bones["Head"].name = "Bone.001"
    assert ops.drive_shape_keys(bpy.context, mesh, f"{stem}.arkit.csv")["head_note"].startswith("head rotation not")
    info = ops.drive_shape_keys(bpy.context, mesh, f"{stem}.arkit.csv", head_rotation=False)
    assert info["head"] is None and info["head_note"] is None and rig.animation_data is None
    # a file without head channels: skipped silently
    (tmp_path / "nohead.csv").write_text("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,61,0.5\n")
    assert ops.drive_shape_keys(bpy.context, mesh, tmp_path / "nohead.csv")["head_note"] is None


# ------------------------------------------------------------------------------------ shape keys
def test_drive_arkit_keys_from_npz_and_csv_at_scene_fps(addon, bpy, tmp_path):
    from kpanim.animate import arkit

    anim, _, _ = talking_face(n_frames=50, fps=25.0)
    curves = np.zeros((50, 52), np.float32)
    curves[:, arkit.NAMES.index("jawOpen")] = np.linspace(0, 1, 50)
    curves[:, arkit.NAMES.index("eyeBlinkLeft")] = 0.5
    anim = anim.replace(arkit=curves)
    anim.save(tmp_path / "talk.npz")
    arkit.write_curves(anim, tmp_path / "talk.arkit.csv")
    # an avatar with a few ARKit keys, in other spellings, and one unrelated key
    head = arkit_head_mesh(bpy, ["JawOpen", "eye_blink_L", "MOUTHFUNNEL", "Smile"])
    bpy.context.scene.render.fps, bpy.context.scene.render.fps_base = 50, 1.0
    assert bpy.ops.kpanim.drive_arkit(filepath=str(tmp_path / "talk.npz")) == {"FINISHED"}
    key = head.data.shape_keys
    frames = np.arange(1, 99)
    jaw = key_values(addon, key, "JawOpen", frames)
    np.testing.assert_allclose(jaw, np.interp((frames - 1) / 50, np.arange(50) / 25, curves[:, 25]), atol=1e-5)
    np.testing.assert_allclose(key_values(addon, key, "eye_blink_L", frames), 0.5, atol=1e-6)
    paths = {fc.data_path for fc in addon.bl_scene.action_fcurves(key.animation_data.action)}
    assert paths == {f'key_blocks["{n}"].value' for n in ("JawOpen", "eye_blink_L", "MOUTHFUNNEL")}  # not "Smile"
    missing = list(bpy.context.scene["kpanim_arkit_missing"])
    assert len(missing) == 51 - 3 and "jawOpen" not in missing and "tongueOut" not in missing
    assert bpy.context.scene.frame_end >= 98
    # the same curves from the Live Link Face CSV (25 fps rows, timecodes counting 60 fps frames as the app's)
    head2 = arkit_head_mesh(bpy, ["jawOpen"])
    assert bpy.ops.kpanim.drive_arkit(filepath=str(tmp_path / "talk.arkit.csv")) == {"FINISHED"}
    np.testing.assert_allclose(key_values(addon, head2.data.shape_keys, "jawOpen", frames), jaw, atol=1e-5)


def test_drive_arkit_errors_reach_the_user(addon, bpy, tmp_path):
    anim, _, _ = talking_face(n_frames=10)
    anim.save(tmp_path / "plain.npz")  # no curves
    arkit_head_mesh(bpy, ["jawOpen"])
    with pytest.raises(RuntimeError, match="no ARKit curves"):
        bpy.ops.kpanim.drive_arkit(filepath=str(tmp_path / "plain.npz"))
    anim.replace(arkit=np.zeros((10, 52), np.float32)).save(tmp_path / "curves.npz")
    arkit_head_mesh(bpy, ["Smile"])
    with pytest.raises(RuntimeError, match="none of the 52 ARKit shape keys"):
        bpy.ops.kpanim.drive_arkit(filepath=str(tmp_path / "curves.npz"))
