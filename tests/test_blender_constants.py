"""The Blender add-on's copies of kpanim constants (Blender's Python cannot import kpanim) stay equal to kpanim's.

Modules that import ``bpy`` cannot be imported here, so their constants are read from the source:
the right-hand side of the module-level assignment, evaluated with only ``math`` in scope.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
from kpanim.blender_addon import arkit_curves, npz_reader

from kpanim.animate import arkit
from kpanim.face import constants, morph_basis, topology
from kpanim.face.camera import Camera
from kpanim.formats import animation, gltf_export

ADDON = Path(npz_reader.__file__).parent


def addon_constant(module: str, name: str):
    """The value of ``name = ...`` at the top level of ``blender_addon/<module>.py``."""
    tree = ast.parse((ADDON / f"{module}.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return eval(compile(ast.Expression(node.value), module, "eval"), {"math": math})  # noqa: S307
    raise AssertionError(f"blender_addon/{module}.py: expected a module-level '{name} = ...', found none")


@pytest.mark.parametrize("module, name, expected", [
    ("ops_import", "TORSO_NAMES", constants.TORSO_NAMES),
    ("ops_import", "SHAPE_TOLERANCE_M", gltf_export.DEFAULT_MAX_ERROR_M),
    ("ops_import", "MAX_SHAPE_KEYS", morph_basis.MAX_MODES),
    ("ops_import", "CAMERA_FOV", gltf_export.DEFAULT_YFOV),
    ("ops_retarget", "INNER_LIP_MIDPOINTS", topology.INNER_LIP_MIDPOINTS),
])
def test_bpy_module_constants_match_kpanim(module, name, expected):
    assert addon_constant(module, name) == expected


def test_camera_fov_is_kpanims_camera():
    # focal = the longer side: a square image's field of view is the default one
    assert gltf_export.DEFAULT_YFOV == Camera.for_image(640, 640).yfov


def test_npz_reader_matches_the_animation_format():
    assert (npz_reader.FORMAT_VERSION, npz_reader.KIND) == (animation.FORMAT_VERSION, animation.KIND)
    assert (npz_reader.N_DENSE, npz_reader.N_TORSO) == (constants.N_DENSE, constants.N_TORSO)
    assert npz_reader.FRAME_ARRAYS == {k: animation.FRAME_ARRAYS[k] for k in npz_reader.FRAME_ARRAYS}


def test_arkit_curves_match_kpanims_arkit_columns():
    assert arkit_curves.MEDIAPIPE_NAMES == arkit.NAMES
    assert arkit_curves.NOT_SHAPES == {n.lower() for n in ("Timecode", "BlendShapeCount", *arkit.ROTATION_COLUMNS)}


def test_head_angles_are_kpanims():
    """The add-on's numpy head_angles (its .npz reader's HeadYaw/Pitch/Roll) is kpanim's scipy one, which the
    CSV and JSON writers use: random poses, large angles included."""
    from kpanim.blender_addon import motion

    rng = np.random.default_rng(0)
    pose = np.concatenate([rng.normal(0, 1.0, (500, 3)), rng.normal(0, 0.3, (500, 3))], axis=1)
    pose[:4, :3] = [[0, 0, 0], [0, math.pi - 1e-3, 0], [0.3, 0, 0], [0, 0, -0.4]]
    np.testing.assert_allclose(motion.head_angles(pose), arkit.head_angles(pose), atol=1e-9)
    np.testing.assert_allclose(motion.head_angles(pose.astype(np.float32)),
                               arkit.head_angles(pose.astype(np.float32)), atol=1e-9)


def test_name_matching_is_kpanims():
    """The add-on's normalise (its shape-key matching) is kpanim's normalise_name, which the viewer's
    normaliseName (common.js) copies: the same keys for the names rigs use."""
    names = [*arkit.APPLE_NAMES, *(n[0].upper() + n[1:] for n in arkit.APPLE_NAMES), "jaw_open", "eyeBlink_L",
             "Eye_Blink.R", "mouth-smile-l", "brow down r", " cheekPuff ", "MOUTH_FUNNEL", "viseme_aa", "Key 1",
             "head.L", "x_l", "_R", "jawLeft", "tongue_out"]
    assert [arkit_curves.normalise(n) for n in names] == [arkit.normalise_name(n) for n in names]


def test_viewer_head_bone_names_are_the_addons():
    """kpanim view --avatar looks for the head bone by the add-on's names, in the same order."""
    import re

    from kpanim.serving.viewer import viewer_root

    js = (viewer_root() / "common.js").read_text(encoding="utf-8")
    line = re.search(r"export const HEAD_BONE_NAMES = \[(.*?)\];", js)
    assert line, "common.js: expected 'export const HEAD_BONE_NAMES = [...];'"
    assert tuple(re.findall(r'"([^"]*)"', line[1])) == addon_constant("arkit_head", "HEAD_BONE_NAMES")
