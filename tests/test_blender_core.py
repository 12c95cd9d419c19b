"""The Blender add-on's numpy parts (no bpy): readers, axis/pose maths, shape bases, retargeting, NNLS,
the background-command runner, and the add-on zip."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest
from kpanim.blender_addon import arkit_curves, cli_job, glb_reader, motion, npz_reader, retarget
from scipy.optimize import nnls as scipy_nnls
from scipy.spatial.transform import Rotation

from kpanim import Animation
from kpanim.commands.blender_addon import addon_source_dir, build_addon_zip
from kpanim.errors import KpanimError
from kpanim.face import constants
from kpanim.face.geometry import apply_pose

ADDON_DIR = Path(__file__).resolve().parents[1] / "blender_addon"


def make_anim(n_frames: int = 12, fps: float = 25.0, meta: dict | None = None) -> Animation:
    rng = np.random.default_rng(1)
    dense = constants.template()[None] + rng.normal(0, 1e-3, (n_frames, 478, 3))
    pose = np.concatenate([rng.normal(0, 0.2, (n_frames, 3)), rng.normal([0, 0, -0.5], 0.01, (n_frames, 3))], 1)
    torso = rng.normal([0, -0.2, -0.5], 0.05, (n_frames, 18, 3))
    return Animation.from_dense(dense, pose, torso, fps=fps, meta=meta)


# ------------------------------------------------------------------------------------- readers
def test_shipped_topology_matches_kpanim_constants():
    topo = npz_reader.face_topology()
    np.testing.assert_array_equal(topo["triangles"], constants.triangles())
    np.testing.assert_allclose(topo["template"], constants.template(), atol=1e-6)
    np.testing.assert_array_equal(topo["lip_index"], constants.lip_index())
    np.testing.assert_array_equal(topo["eye_index"], constants.eye_index())
    np.testing.assert_array_equal(topo["face_oval_index"], constants.face_oval_index())


def test_read_clip_round_trips_animation_save(tmp_path):
    anim = make_anim(fps=30.0, meta={"audio": "talk.wav", "seed": 3})
    anim.save(tmp_path / "a.npz")
    clip = npz_reader.read_clip(tmp_path / "a.npz")
    assert clip.n_frames == 12 and clip.fps == 30.0 and clip.meta == {"audio": "talk.wav", "seed": 3}
    np.testing.assert_array_equal(clip.dense, anim.dense)
    np.testing.assert_allclose(clip.head_pose, anim.head_pose)
    np.testing.assert_array_equal(clip.torso, anim.torso)


@pytest.mark.parametrize("change, message", [
    ({"kind": np.array("subject")}, "kpanim 'subject' file, expected an 'animation'"),
    ({"format_version": np.array(7)}, "format version 7 is newer"),
    ({"dense": np.zeros((12, 477, 3))}, "'dense' has shape (12, 477, 3)"),
    ({"torso": np.zeros((11, 18, 3))}, "'torso' has 11 frames"),
    ({"fps": np.array(-1.0)}, "fps must be a positive number"),
    ({"head_pose": np.full((12, 6), np.nan)}, "NaN"),
])
def test_read_clip_rejects_bad_files_with_one_line(tmp_path, change, message):
    make_anim().save(tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(change)
    np.savez(tmp_path / "b.npz", **arrays)
    with pytest.raises(npz_reader.ReadError) as err:
        npz_reader.read_clip(tmp_path / "b.npz")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_read_clip_missing_and_non_zip(tmp_path):
    with pytest.raises(npz_reader.ReadError, match="no such file"):
        npz_reader.read_clip(tmp_path / "nope.npz")
    (tmp_path / "x.npz").write_text("hello")
    with pytest.raises(npz_reader.ReadError, match="not a zip archive"):
        npz_reader.read_clip(tmp_path / "x.npz")


def test_find_audio_meta_then_same_stem(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "speech.wav").write_bytes(b"RIFF")
    anim = tmp_path / "talk.npz"
    assert npz_reader.find_audio(anim, {"audio": "sub/speech.wav"}) == tmp_path / "sub" / "speech.wav"
    assert npz_reader.find_audio(anim, {"audio": {"path": str(tmp_path / "sub" / "speech.wav")}}).name == "speech.wav"
    assert npz_reader.find_audio(anim, {}) is None
    (tmp_path / "talk.flac").write_bytes(b"fLaC")
    assert npz_reader.find_audio(anim, {"audio": "missing.wav"}) == tmp_path / "talk.flac"


def test_glb_timing_from_key_times_and_extras(tmp_path):
    pygltflib = pytest.importorskip("pygltflib")
    times = (np.arange(26) / 25.0).astype(np.float32)
    values = np.zeros((26, 3), np.float32)
    blob = times.tobytes() + values.tobytes()
    g = pygltflib.GLTF2(
        scenes=[pygltflib.Scene(nodes=[0])], nodes=[pygltflib.Node(name="n")],
        buffers=[pygltflib.Buffer(byteLength=len(blob))],
        bufferViews=[pygltflib.BufferView(buffer=0, byteOffset=0, byteLength=times.nbytes),
                     pygltflib.BufferView(buffer=0, byteOffset=times.nbytes, byteLength=values.nbytes)],
        accessors=[pygltflib.Accessor(bufferView=0, componentType=5126, count=26, type="SCALAR",
                                      min=[0.0], max=[1.0]),
                   pygltflib.Accessor(bufferView=1, componentType=5126, count=26, type="VEC3")],
        animations=[pygltflib.Animation(
            samplers=[pygltflib.AnimationSampler(input=0, output=1)],
            channels=[pygltflib.AnimationChannel(sampler=0, target=pygltflib.AnimationChannelTarget(
                node=0, path="translation"))])])
    g.set_binary_blob(blob)
    g.save_binary(str(tmp_path / "a.glb"))
    fps, duration, extras = glb_reader.glb_timing(tmp_path / "a.glb")
    assert fps == 25.0 and duration == pytest.approx(1.0) and extras == {}
    g.scenes[0].extras = {"kpanim": {"fps": 30.0, "audio": "talk.wav"}}
    g.save_binary(str(tmp_path / "b.glb"))
    fps, _, extras = glb_reader.glb_timing(tmp_path / "b.glb")
    assert fps == 30.0 and extras["audio"] == "talk.wav"
    (tmp_path / "c.glb").write_bytes(b"not a glb at all......")
    with pytest.raises(npz_reader.ReadError, match="not a binary glTF"):
        glb_reader.glb_timing(tmp_path / "c.glb")


# ------------------------------------------------------------------------------------ motion
def test_rotations_match_scipy():
    rv = np.random.default_rng(0).normal(0, 1.2, (50, 3))
    rv[0] = 0
    mats = motion.rotvec_to_matrix(rv)
    np.testing.assert_allclose(mats, Rotation.from_rotvec(rv).as_matrix(), atol=1e-12)
    q = motion.matrix_to_quaternion(mats)
    ref = Rotation.from_rotvec(rv).as_quat()[:, [3, 0, 1, 2]]  # scipy is (x, y, z, w)
    np.testing.assert_allclose(np.abs(np.sum(q * ref, 1)), 1.0, atol=1e-12)


def test_head_pose_to_blender_reproduces_camera_points():
    anim = make_anim()
    loc, quat = motion.head_pose_to_blender(anim.head_pose)
    assert np.all(np.sum(quat[1:] * quat[:-1], 1) >= 0)  # continuous signs
    rot = Rotation.from_quat(quat[:, [1, 2, 3, 0]]).as_matrix()
    world = np.einsum("tij,tnj->tni", rot, motion.to_blender(anim.dense)) + loc[:, None]
    expected = motion.to_blender(apply_pose(anim.head_pose, anim.dense))
    np.testing.assert_allclose(world, expected, atol=1e-6)


def test_to_blender_axes():
    # kpanim +Y up → Blender +Z up; kpanim +Z (towards viewer) → Blender -Y (towards the front view)
    np.testing.assert_allclose(motion.to_blender([[0, 1, 0], [0, 0, 1], [1, 0, 0]]), [[0, 0, 1], [0, -1, 0], [1, 0, 0]])


@pytest.mark.parametrize("fps, expected", [(25, (25, 1.0)), (29.97, (30, 30 / 29.97)), (12.5, (12, 12 / 12.5))])
def test_blender_fps(fps, expected):
    whole, base = motion.blender_fps(fps)
    assert whole == expected[0] and base == pytest.approx(expected[1]) and whole / base == pytest.approx(fps)


def test_shape_basis_error_bound_and_weight_range():
    rng = np.random.default_rng(2)
    t = np.arange(200) / 25
    fields = rng.normal(0, 1e-3, (3, 478, 3))
    frames = constants.template() + np.einsum("tk,knc->tnc", np.stack([np.sin(t), np.cos(3 * t), t / 8], 1), fields)
    mean, keys, weights, error = motion.shape_basis(frames, tolerance=1e-5)
    assert len(keys) == 3 and np.abs(weights).max() == pytest.approx(1.0)
    approx = mean + np.einsum("tk,knc->tnc", weights, keys)
    assert np.abs(approx - frames).max() == pytest.approx(error) and error <= 1e-5
    noisy = frames + rng.normal(0, 1e-4, frames.shape)
    mean, keys, weights, error = motion.shape_basis(noisy, max_keys=5, tolerance=1e-6)  # cap before bound
    assert len(keys) == 5 and error > 1e-6
    assert np.abs(mean + np.einsum("tk,knc->tnc", weights, keys) - noisy).max() == pytest.approx(error)
    _, keys, _, error = motion.shape_basis(frames[:1])  # a still clip needs no keys
    assert len(keys) == 0 and error == 0


# --------------------------------------------------------------------------------- retargeting
def test_nnls_matches_scipy():
    rng = np.random.default_rng(3)
    for _ in range(100):
        m, k = rng.integers(3, 60), rng.integers(1, 16)
        a, b = rng.normal(size=(m, k)), rng.normal(size=m)
        x = retarget.nnls(a, b)
        ref, _ = scipy_nnls(a, b)
        assert np.all(x >= 0)
        assert np.linalg.norm(a @ x - b) <= np.linalg.norm(a @ ref - b) + 1e-9
        np.testing.assert_allclose(x, ref, atol=1e-6)


def test_bind_points_finds_the_closest_surface_point():
    rng = np.random.default_rng(4)
    verts = constants.template().astype(np.float64)
    tris = constants.triangles()
    points = verts[rng.integers(0, 478, 300)] + rng.normal(0, 0.004, (300, 3))
    binding = retarget.bind_points(points, verts, tris, chunk=64)
    assert np.all(binding.bary >= -1e-9) and np.allclose(binding.bary.sum(1), 1)
    closest = retarget.interpolate(binding, verts, tris)
    np.testing.assert_allclose(np.linalg.norm(points - closest, axis=1), binding.distance, atol=1e-12)
    samples = np.einsum("sj,fjk->fsk", rng.dirichlet([1, 1, 1], 200), verts[tris]).reshape(-1, 3)
    brute = np.sqrt(((points[:, None] - samples[None]) ** 2).sum(-1)).min(1)
    assert np.all(binding.distance <= brute + 1e-12)


def test_fit_from_bounds_recovers_a_scaled_moved_face():
    face = motion.to_blender(constants.template())
    target = face * 7.0 + [1.0, -2.0, 3.0]
    scale, offset = retarget.fit_from_bounds(face, target, width_ratio=1.0)
    assert scale == pytest.approx(7.0)
    np.testing.assert_allclose(offset, [1.0, -2.0, 3.0], atol=1e-9)
    with pytest.raises(ValueError, match="flat in X"):
        retarget.fit_from_bounds(face, np.zeros((10, 3)))


def test_solve_key_weights_recovers_known_weights():
    rng = np.random.default_rng(5)
    keys = rng.normal(0, 1e-3, (4, 300, 3))
    truth = np.abs(rng.normal(0, 0.5, (30, 4)))
    truth[:, 3] = 0  # one key unused: NNLS must keep it at zero, not go negative
    motion_ = np.einsum("tk,kmc->tmc", truth, keys)
    got = retarget.solve_key_weights(keys, motion_, ridge=0.0)
    np.testing.assert_allclose(got, truth, atol=1e-6)
    got = retarget.solve_key_weights(keys, motion_ - 0.5 * keys[3], point_weights=np.ones(300), ridge=1e-4)
    assert np.all(got >= 0) and np.abs(got[:, :3] - truth[:, :3]).max() < 0.05


def test_region_weights():
    w = retarget.region_weights(np.array([0.0, 1.0, 1.5, 2.0, 5.0]), radius=1.0)
    np.testing.assert_allclose(w, [1, 1, 0.5, 0, 0])


# ------------------------------------------------------------------------------ background job
def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "fake_kpanim"
    path.write_text(f"#!{sys.executable}\nimport sys, time\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def test_cli_job_reads_tqdm_progress_and_success(tmp_path):
    exe = _script(tmp_path, """
        for i in range(0, 101, 20):
            sys.stderr.write(f"\\rpredict: {i:3d}%|####| {i}/100"); sys.stderr.flush(); time.sleep(0.02)
        sys.stderr.write("\\nwrote out.npz\\n")
    """)
    job = cli_job.CliJob([str(exe)]).start()
    assert job.wait(30) == 0
    assert job.progress == 1.0 and job.lines == ["wrote out.npz"]


def test_cli_job_reports_the_error_line(tmp_path):
    exe = _script(tmp_path, """
        sys.stderr.write("loading model\\n")
        sys.stderr.write("Error: portrait.png: no face found; use a photo with one visible face\\n")
        sys.exit(1)
    """)
    job = cli_job.CliJob([str(exe)]).start()
    assert job.wait(30) == 1
    assert job.error_line == "Error: portrait.png: no face found; use a photo with one visible face"


def test_predict_command(tmp_path):
    exe = _script(tmp_path, "pass\n")
    argv = cli_job.predict_command(str(exe), "a.wav", "face.png", "out.npz")
    assert argv == [str(exe), "predict", "a.wav", "--subject", "face.png", "-o", "out.npz", "--arkit"]
    assert cli_job.predict_command(f"{sys.executable} -m kpanim", "a.wav", "f.png", "o.npz")[:3] == \
        [sys.executable, "-m", "kpanim"]
    spaced = tmp_path / "my tools" / "kpanim"
    spaced.parent.mkdir()
    spaced.write_text("")
    assert cli_job.predict_command(str(spaced), "a.wav", "f.png", "o.npz")[0] == str(spaced)
    with pytest.raises(FileNotFoundError, match="does not exist; fix the path in the add-on preferences"):
        cli_job.predict_command(str(tmp_path / "missing"), "a.wav", "f.png", "o.npz")
    with pytest.raises(FileNotFoundError, match="not on PATH"):
        cli_job.predict_command("kpanim-does-not-exist-xyz", "a.wav", "f.png", "o.npz")


# ---------------------------------------------------------------------------------- packaging
def test_addon_modules_import_nothing_blender_lacks():
    """The add-on runs in Blender's Python: numpy and the standard library only, bpy/mathutils, itself."""
    allowed = {"bpy", "bpy_extras", "mathutils", "numpy", "__future__"} | set(sys.stdlib_module_names)
    for path in ADDON_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed, f"{path.name} imports {name}"
        assert len(path.read_text().splitlines()) < 500, f"{path.name} is too long"


def test_addon_zip_layout_and_manifest(tmp_path):
    assert addon_source_dir() == ADDON_DIR
    zpath = build_addon_zip(tmp_path)
    assert zpath.name == "kpanim-0.1.0.zip"
    names = zipfile.ZipFile(zpath).namelist()
    assert {"blender_manifest.toml", "__init__.py", "face_topology.npz", "retarget.py", "panel.py"} <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert list(tmp_path.iterdir()) == [zpath]  # no temp files left
    assert build_addon_zip(tmp_path).read_bytes() == zpath.read_bytes()  # reproducible
    spec = importlib.util.find_spec("bpy")
    if spec is None:
        pytest.skip("Blender's manifest validator ships with bpy (pip install -e '.[blender]')")
    scripts = next(Path(spec.origin).parent.glob("*/scripts"))
    # Exactly what `blender --command extension validate` runs, with Blender's list of valid tags.
    validator = scripts / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py"
    tags = scripts / "modules" / "_bpy_internal" / "extensions" / "tags.py"
    out = subprocess.run([sys.executable, str(validator), "validate", "--valid-tags", str(tags), str(zpath)],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "Success" in out.stdout, out.stdout + out.stderr


def test_blender_addon_command(tmp_path):
    from click.testing import CliRunner

    from kpanim.commands.cli import cli

    result = CliRunner().invoke(cli, ["blender-addon", "--zip", "-o", str(tmp_path / "dist")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "dist" / "kpanim-0.1.0.zip").is_file()
    (tmp_path / "file").write_text("x")
    result = CliRunner().invoke(cli, ["blender-addon", "--zip", "-o", str(tmp_path / "file")])
    assert result.exit_code != 0 and "Traceback" not in result.output
    with pytest.raises(KpanimError, match="not the kpanim add-on folder"):
        build_addon_zip(tmp_path, source=tmp_path)


# ------------------------------------------------------------------------------------ ARKit curves
def test_arkit_names_match_kpanim():
    from kpanim.animate import arkit

    assert arkit_curves.MEDIAPIPE_NAMES == arkit.NAMES
    assert set(arkit_curves.ARKIT_NAMES) == set(arkit.APPLE_NAMES)


def test_arkit_curves_read_npz_csv_json_alike(tmp_path):
    from kpanim.animate import arkit

    anim = make_anim(n_frames=40, fps=25.0)
    curves = np.random.default_rng(0).uniform(0, 1, (40, 52)).astype(np.float32)
    anim = anim.replace(arkit=curves)
    anim.save(tmp_path / "a.npz")
    arkit.write_curves(anim, tmp_path / "a.arkit.csv")
    arkit.write_curves(anim, tmp_path / "a.arkit.json")
    got = {}
    for name in ("a.npz", "a.arkit.csv", "a.arkit.json"):
        c = arkit_curves.read_curves(tmp_path / name, csv_fps=60.0)  # Live Link Face's timecodes count 60 fps frames
        assert c.fps == (60.0 if name.endswith(".csv") else 25.0) and np.allclose(c.times, np.arange(40) / 25)
        got[name] = {n: c.values[:, k] for k, n in enumerate(c.names)}
    for name in ("a.arkit.csv", "a.arkit.json"):
        for shape, values in got["a.npz"].items():
            np.testing.assert_allclose(got[name][shape], values, atol=1e-6)
        assert np.all(got[name]["tongueOut"] == 0)
    auto = arkit_curves.read_curves(tmp_path / "a.arkit.csv")  # 1.6 s: the timecodes' rate from the frame numbers
    assert auto.fps == 60.0 and np.allclose(auto.times, np.arange(40) / 25)


def test_arkit_curves_carry_the_head_rotation_of_npz_csv_json_alike(tmp_path):
    from kpanim.animate import arkit

    anim = make_anim(n_frames=40, fps=25.0)
    anim = anim.replace(arkit=np.zeros((40, 52), np.float32))
    anim.save(tmp_path / "a.npz")
    arkit.write_curves(anim, tmp_path / "a.arkit.csv")
    arkit.write_curves(anim, tmp_path / "a.arkit.json")
    expected = arkit.head_angles(anim.head_pose)  # what kpanim's CSV writer puts in HeadYaw, HeadPitch, HeadRoll
    assert np.abs(expected).max() > 0.3
    for name in ("a.npz", "a.arkit.csv", "a.arkit.json"):
        c = arkit_curves.read_curves(tmp_path / name)
        np.testing.assert_allclose(c.head, expected, atol=1e-6, err_msg=name)
        at50 = c.head_at_fps(50.0)  # resampled like the shapes
        assert at50.shape == (c.at_fps(50.0).shape[0], 3)
        np.testing.assert_allclose(at50[1], (expected[0] + expected[1]) / 2, atol=1e-6)
    # no head rotation: a JSON without "head", a CSV without the three columns
    doc = arkit.json_document(anim)
    del doc["head"]
    (tmp_path / "b.json").write_text(json.dumps(doc))
    assert arkit_curves.read_curves(tmp_path / "b.json").head is None
    (tmp_path / "b.csv").write_text("Timecode,BlendShapeCount,JawOpen,HeadYaw\n00:00:00:00.000,61,0.5,0.1\n")
    c = arkit_curves.read_curves(tmp_path / "b.csv")
    assert c.head is None and c.head_at_fps(25.0) is None


def test_head_angles_unwrap_before_resampling():
    c = arkit_curves.Curves(("jawOpen",), np.zeros((2, 1)), np.array([0.0, 1.0]), 1.0, Path("x"),
                            np.array([[3.1, 0, 0], [-3.1, 0, 0]]))
    assert abs(c.head_at_fps(2.0)[1, 0]) > 3.1  # through ±π, not through 0


def test_arkit_curves_read_an_epic_style_csv(tmp_path):
    header = "Timecode,BlendShapeCount,EyeBlinkLeft,JawOpen,TongueOut,HeadYaw,HeadPitch,HeadRoll"
    rows = [f"17:38:26:{f:02d}.{(f * 37) % 100:03d},61,0.1,{f / 10:.2f},0,0.01,0.02,0.03" for f in range(7)]
    (tmp_path / "take.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    c = arkit_curves.read_curves(tmp_path / "take.csv")  # under a second: Live Link Face's 60 fps
    assert c.names == ("eyeBlinkLeft", "jawOpen", "tongueOut") and c.fps == 60
    np.testing.assert_allclose(c.head, [[0.01, 0.02, 0.03]] * 7)  # HeadYaw, HeadPitch, HeadRoll
    np.testing.assert_allclose(c.values[:, 1], np.arange(7) / 10)
    np.testing.assert_allclose(c.times[1], (1 + 0.037) / 60)  # sub-frame fractions count
    assert c.at_fps(30).shape == (4, 3)


@pytest.mark.parametrize("content, message", [
    ("a,b\n1,2\n", "not a Live Link Face CSV"),
    ("Timecode,BlendShapeCount,Foo\n00:00:00:00.000,61,1\n", "no ARKit blendshape columns"),
    ("Timecode,BlendShapeCount,JawOpen\nnoon,61,1\n", "bad timecode"),
    ("Timecode,BlendShapeCount,JawOpen\n00:00:00:00.000,61,nan\n", "not numbers"),
])
def test_arkit_curves_bad_csv(tmp_path, content, message):
    (tmp_path / "x.csv").write_text(content)
    with pytest.raises(npz_reader.ReadError, match=message):
        arkit_curves.read_curves(tmp_path / "x.csv")


def test_arkit_curves_bad_json_values(tmp_path):
    (tmp_path / "x.arkit.json").write_text('{"fps": 25, "blendshapes": {"jawOpen": [0.1, NaN]}}')
    with pytest.raises(npz_reader.ReadError, match="not numbers"):
        arkit_curves.read_curves(tmp_path / "x.arkit.json")


def test_arkit_curves_bad_files(tmp_path):
    make_anim().save(tmp_path / "plain.npz")
    with pytest.raises(npz_reader.ReadError, match="no ARKit curves.*kpanim export"):
        arkit_curves.read_curves(tmp_path / "plain.npz")
    with pytest.raises(npz_reader.ReadError, match="no such file"):
        arkit_curves.read_curves(tmp_path / "nope.csv")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(npz_reader.ReadError, match="unknown file type"):
        arkit_curves.read_curves(tmp_path / "x.txt")


def test_match_shape_keys_any_case_and_side_suffix():
    keys = ["Basis", "JawOpen", "eye_blink_L", "EYEBLINKRIGHT", "mouthSmile.R", "Smile"]
    mapping, missing = arkit_curves.match_shape_keys(keys, ["jawOpen", "eyeBlinkLeft", "eyeBlinkRight",
                                                            "mouthSmileRight", "mouthFunnel", "tongueOut"])
    assert mapping == {"jawOpen": "JawOpen", "eyeBlinkLeft": "eye_blink_L", "eyeBlinkRight": "EYEBLINKRIGHT",
                       "mouthSmileRight": "mouthSmile.R"}
    assert missing == ["mouthFunnel"]  # tongueOut is never predicted: not reported


@pytest.mark.parametrize("damage", ["cut", "cut_header_fixed", "view_past_buffer"])
def test_damaged_glb_is_one_clear_error_in_kpanim_and_the_addon(tmp_path, damage):
    """A truncated .glb (an interrupted download) used to read as healthy in 'kpanim info' and fail in
    Blender with a raw buffer-offset message: both readers check the container's lengths first."""
    import json
    import struct

    from kpanim.formats.gltf_export import export_glb
    from kpanim.formats.gltf_import import read_glb

    anim = Animation.still(constants.template(), np.array([0, 0, 0, 0, 0, -0.5]), np.zeros((18, 3)), 10)
    export_glb(anim, tmp_path / "a.glb")
    data = bytearray((tmp_path / "a.glb").read_bytes())
    if damage == "cut":
        data = data[:len(data) // 2]
    elif damage == "cut_header_fixed":  # the total length patched to match: the BIN chunk still runs past the end
        data = data[:len(data) // 2]
        struct.pack_into("<I", data, 8, len(data))
    else:  # a consistent container whose JSON points a bufferView past its buffer
        size = struct.unpack_from("<I", data, 12)[0]
        doc = json.loads(data[20:20 + size])
        doc["bufferViews"][0]["byteOffset"] = doc["buffers"][0]["byteLength"]
        text = json.dumps(doc).encode()
        text += b" " * (-len(text) % 4)
        data = data[:12] + struct.pack("<II", len(text), 0x4E4F534A) + text + data[20 + size:]
        struct.pack_into("<I", data, 8, len(data))
    (tmp_path / "bad.glb").write_bytes(bytes(data))
    with pytest.raises(KpanimError, match="bad.glb: the .glb is truncated or damaged.*re-export it"):
        read_glb(tmp_path / "bad.glb")
    with pytest.raises(npz_reader.ReadError, match="bad.glb: the .glb is truncated or damaged.*re-export it"):
        glb_reader.glb_timing(tmp_path / "bad.glb")
    read_glb(tmp_path / "a.glb")  # the intact file still reads
    assert glb_reader.glb_timing(tmp_path / "a.glb")[0] == 25.0


def test_csv_timecode_rate_is_inferred_like_unreal():
    """60 once a frame number reaches 30 (60 fps takes, kpanim's files); else the largest frame + 1 over a
    second (30 fps takes, older kpanim files); else Live Link Face's default 60."""
    def rate(codes):
        return arkit_curves.timecode_fps(np.array([s for s, _ in codes], float), np.array([f for _, f in codes]))

    assert rate([arkit_curves.parse_timecode(f"00:00:01:{f:05.3f}") for f in (0, 2.4, 57.6)]) == 60
    assert rate([(s, f) for s in (0, 1) for f in range(30)]) == 30
    assert rate([(s, f) for s in (0, 1) for f in range(25)]) == 25
    assert rate([(0, f) for f in range(10)]) == 60
