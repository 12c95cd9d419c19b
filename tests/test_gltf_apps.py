"""kpanim .glb files in the applications that use them: Blender (bpy 5.0.1's bundled glTF importer,
headless) and three.js (kpanim's viewer page in headless Chromium).

Tools that are missing skip these tests locally and fail them in CI (env CI set); install them with
``pip install -e '.[blender]'`` and ``bash scripts/install_test_tools.sh``.
"""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
from gltf_testlib import BOUND, require_tool, synthetic_animation
from PIL import Image
from scipy.spatial import cKDTree

from kpanim.formats.gltf_export import export_glb
from kpanim.formats.gltf_import import read_glb_motion

# glTF (+Y up) → Blender (+Z up): x stays, glTF y becomes Blender z, glTF z becomes Blender -y.
Y_UP_TO_Z_UP = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
SAMPLE_FRAMES = (0, 7, 31, 52, 74)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    anim = synthetic_animation()
    path = tmp_path_factory.mktemp("apps") / "anim.glb"
    export_glb(anim, path)
    return anim, path, read_glb_motion(path)


# ---------------------------------------------------------------------------------- Blender
@pytest.fixture(scope="module")
def blender_scene(exported):
    """Imports the .glb once into a fresh headless Blender (a few seconds)."""
    require_tool(importlib.util.find_spec("bpy") is not None, "bpy 5.0.1",
                 "run: pip install -e '.[blender]'")
    import bpy

    anim, path, _ = exported
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.fps, scene.render.fps_base = int(anim.fps), 1.0  # what the add-on does: 1 keyframe = 1 frame
    assert bpy.ops.import_scene.gltf(filepath=str(path)) == {"FINISHED"}
    return bpy


def channelbag(bpy, id_data):
    from bpy_extras import anim_utils

    ad = id_data.animation_data
    assert ad is not None and ad.action is not None, f"{id_data.name} has no animation"
    return ad.action, anim_utils.action_get_channelbag_for_slot(ad.action, ad.action_slot)


@pytest.mark.blender
def test_blender_shape_keys_and_their_keyframes(blender_scene, exported):
    bpy = blender_scene
    anim, _, motion = exported
    face = bpy.data.objects["face"]
    assert face.type == "MESH" and face.parent.name == "head" and face.parent.parent.name == "kpanim"
    keys = face.data.shape_keys.key_blocks
    assert [k.name for k in keys] == ["Basis", *motion.target_names]
    action, bag = channelbag(bpy, face.data.shape_keys)
    curves = {fc.data_path: fc for fc in bag.fcurves}
    assert len(curves) == len(motion.target_names)
    for k, name in enumerate(motion.target_names):
        fc = curves[f'key_blocks["{name}"].value']
        assert len(fc.keyframe_points) == anim.n_frames
        assert {kp.interpolation for kp in fc.keyframe_points} == {"LINEAR"}
        for f in SAMPLE_FRAMES:
            assert fc.evaluate(f) == pytest.approx(float(motion.weights[f, k]), abs=1e-6)
    # The clip spans the scene's frames 0 .. T-1 at the clip's fps; its length is in the scene's extras.
    assert tuple(action.frame_range) == pytest.approx((0, anim.n_frames - 1))
    scene = bpy.context.scene
    assert scene["n_frames"] == anim.n_frames and scene["fps"] == anim.fps
    assert (action.frame_range[1] + 1) / scene.render.fps == pytest.approx(anim.duration)


@pytest.mark.blender
def test_blender_evaluated_face_matches_the_clip(blender_scene, exported):
    """Shape keys + fcurves in Blender reproduce the dense points within the bound."""
    bpy = blender_scene
    anim, _, motion = exported
    face = bpy.data.objects["face"]
    basis = np.array([v.co for v in face.data.shape_keys.key_blocks["Basis"].data])
    # The importer may reorder vertices (one primitive at a time): match them by rest position.
    dist, order = cKDTree(motion.base @ Y_UP_TO_Z_UP.T).query(basis)
    assert dist.max() < 1e-6 and len(set(order)) == 478
    for f in SAMPLE_FRAMES:
        bpy.context.scene.frame_set(f)
        mesh = face.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh()
        got = np.array([v.co for v in mesh.vertices])
        face.evaluated_get(bpy.context.evaluated_depsgraph_get()).to_mesh_clear()
        want = anim.dense[f][order] @ Y_UP_TO_Z_UP.T
        assert np.sqrt(((got - want) ** 2).sum(1)).max() <= BOUND * 1.001


@pytest.mark.blender
def test_blender_head_and_torso_animation(blender_scene, exported):
    from scipy.spatial.transform import Rotation

    bpy = blender_scene
    anim, _, _ = exported
    head = bpy.data.objects["head"]
    _, bag = channelbag(bpy, head)
    assert sorted({fc.data_path for fc in bag.fcurves}) == ["location", "rotation_quaternion"]
    shoulder = bpy.data.objects["shoulder_right_8"]
    assert shoulder.parent.name == "torso" and channelbag(bpy, shoulder)[1].fcurves
    for f in SAMPLE_FRAMES:
        bpy.context.scene.frame_set(f)
        world = np.array(head.matrix_world)
        np.testing.assert_allclose(world[:3, 3], Y_UP_TO_Z_UP @ anim.head_pose[f, 3:], atol=1e-6)
        want_rot = Y_UP_TO_Z_UP @ Rotation.from_rotvec(anim.head_pose[f, :3]).as_matrix() @ Y_UP_TO_Z_UP.T
        np.testing.assert_allclose(world[:3, :3], want_rot, atol=1e-5)
        np.testing.assert_allclose(np.array(shoulder.matrix_world)[:3, 3], Y_UP_TO_Z_UP @ anim.torso[f, 17], atol=1e-6)


# ---------------------------------------------------------------------------------- three.js
# Chromium's software compositing (--disable-gpu) reads the WebGL canvas back each frame and logs
# this performance note itself; it is not a message of the page or of three.js.
BROWSER_NOISE = ("GPU stall due to ReadPixels",)


@pytest.mark.browser
def test_threejs_viewer_plays_the_glb(exported, tmp_path):
    from chromium_cdp import Chromium, chromium_path

    from kpanim.serving.viewer import ViewerServer

    require_tool(chromium_path() is not None, "chromium", "run as root: bash scripts/install_test_tools.sh")
    anim, path, motion = exported
    shot = tmp_path / "viewer.png"
    with ViewerServer(path.read_bytes(), title=path.name) as server, Chromium(800, 600) as browser:
        browser.open(server.url)
        assert server.loaded.wait(60), f"page did not load; console: {browser.console}"
        browser.pump(1.5)  # let it play
        status = browser.evaluate("window.kpanimStatus")
        played = float(browser.evaluate("document.getElementById('time').textContent").split()[0])
        browser.screenshot(str(shot))
        console = list(browser.console)
    problems = [m for m in console if m["level"] in ("error", "warning", "warn", "assert")
                and not any(noise in str(m["text"]) for noise in BROWSER_NOISE)]
    assert problems == [], problems
    assert server.errors() == []
    assert status["targets"] == len(motion.target_names)
    assert status["duration"] == pytest.approx((anim.n_frames - 1) / anim.fps, abs=1e-4)
    assert status["tracks"] >= 21 and played > 0.2, "the animation runs"
    # The screenshot shows the face: skin-coloured pixels in the middle of a non-blank image.
    rgb = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    h, w = rgb.shape[:2]
    background = np.array([0xD9, 0xDD, 0xE3])
    changed = np.abs(rgb - background).sum(-1) > 30
    assert changed.mean() > 0.03, f"screenshot {shot} looks blank"
    centre = rgb[h // 5: 4 * h // 5, w // 4: 3 * w // 4]
    skin = (centre[..., 0] > centre[..., 2] + 30) & (centre[..., 0] > 90)
    assert skin.mean() > 0.05, f"no face visible in {shot}"
    print(f"viewer screenshot: {shot} ({status})")
    assert math.isfinite(played)


@pytest.mark.browser
def test_threejs_viewer_follows_the_audio_clock(exported, tmp_path):
    import soundfile as sf
    from chromium_cdp import Chromium, chromium_path

    from kpanim.serving.viewer import ViewerServer

    require_tool(chromium_path() is not None, "chromium", "run as root: bash scripts/install_test_tools.sh")
    anim, path, _ = exported
    sr = 16000
    t = np.arange(int(anim.duration * sr)) / sr
    sf.write(tmp_path / "anim.wav", 0.2 * np.sin(2 * np.pi * 220 * t), sr)
    with ViewerServer(path.read_bytes(), audio=tmp_path / "anim.wav") as server, Chromium() as browser:
        browser.open(server.url)
        assert server.loaded.wait(60)
        browser.pump(0.5)
        js = "[document.getElementById('time').textContent, document.getElementById('audio').currentTime]"
        assert browser.evaluate("document.getElementById('play').textContent") == "Play", "waits for a click"
        assert browser.evaluate(js)[0] == "0.00 s"
        browser.evaluate("document.getElementById('play').click()")
        browser.pump(1.2)
        shown, audio_time = browser.evaluate(js)
        console = list(browser.console)
    assert audio_time > 0.5, "the audio plays"
    assert float(shown.split()[0]) == pytest.approx(audio_time, abs=0.1), "animation time follows the audio"
    assert not [m for m in console if m["level"] == "error"] and server.errors() == []
