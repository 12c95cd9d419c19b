"""glTF export (.glb): morph basis, file layout, round trip, CLI errors, Khronos validator, viewer server.

Blender import and the three.js viewer in headless Chromium are in test_gltf_apps.py. Animations
are synthetic (template face + mouth opening + brow raise + head motion), no mediapipe needed.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pygltflib
import pytest
from click.testing import CliRunner
from gltf_testlib import BOUND, REPO, fake_subject, require_tool, synthetic_animation
from scipy.spatial.transform import Rotation

from kpanim import Animation
from kpanim.commands.cli import cli
from kpanim.errors import KpanimError
from kpanim.face.constants import TORSO_NAMES, template, triangles
from kpanim.face.morph_basis import fit_morph_basis, max_vertex_error
from kpanim.formats.gltf_export import build_gltf, export_glb, glb_bytes, head_quaternions
from kpanim.formats.gltf_import import describe_glb, read_glb_motion


@pytest.fixture(scope="module")
def anim() -> Animation:
    return synthetic_animation()


@pytest.fixture(scope="module")
def glb(anim, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("glb") / "anim.glb"
    export_glb(anim, path)
    return path


# ----------------------------------------------------------------------------- morph basis
def test_morph_basis_is_compact_and_within_bound(anim):
    basis = fit_morph_basis(anim.dense, anim.dense.mean(0), BOUND)
    assert basis.names[0] == "clip_offset" and basis.names[1] == "mode_00"
    assert 1 <= basis.n_modes <= 4, "two independent motions need only a few modes"
    assert basis.max_error_m <= BOUND and basis.within_bound
    assert max_vertex_error(basis.reconstruct(), anim.dense) == pytest.approx(basis.max_error_m, rel=1e-6)
    assert basis.weights.min() >= 0 and basis.weights.max() <= 1, "Blender clamps shape keys to [0, 1]"
    np.testing.assert_array_equal(basis.weights[:, 0], 1)


def test_morph_basis_smallest_k_meets_tighter_bound_and_reports_cap():
    rng = np.random.default_rng(1)
    t = np.linspace(0, 6, 150)
    modes = rng.standard_normal((20, 478, 3)) * 0.002
    coeffs = np.stack([np.sin((k + 1) * t + rng.uniform(0, 6)) for k in range(20)], 1)
    dense = template() + np.einsum("tk,knc->tnc", coeffs, modes)
    basis = fit_morph_basis(dense, template(), 0.0002)
    assert basis.within_bound and basis.n_modes <= 20
    fewer = fit_morph_basis(dense, template(), 0.0002, max_modes=basis.n_modes - 1)
    assert fewer.n_modes == basis.n_modes - 1 and not fewer.within_bound
    assert fewer.max_error_m > 0.0002  # honest report of the larger error


def test_morph_basis_of_a_long_clip_streams_in_bounded_memory(monkeypatch):
    """A long clip (here 12 000 frames, 8 min; 30 min of speech is 45 000) is fitted in chunks of frames:
    peak memory stays a fraction of one float64 copy of the clip (the in-memory fit took ~5 copies, 3.3 GB
    at 30 min), and the basis matches the one fitted in memory."""
    import tracemalloc

    from kpanim.face import morph_basis

    rng = np.random.default_rng(2)
    t = np.arange(12000) / 25
    modes = rng.standard_normal((6, 478, 3)) * 0.002
    coeffs = np.stack([np.sin((k + 1) * 0.7 * t + rng.uniform(0, 6)) for k in range(6)], 1)
    dense = (template() + np.einsum("tk,knc->tnc", coeffs, modes)).astype(np.float32)
    copy64 = dense.size * 8
    tracemalloc.start()
    streamed = fit_morph_basis(dense, template(), BOUND)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.6 * copy64, f"peak {peak / 1e6:.0f} MB for a {copy64 / 1e6:.0f} MB clip"
    assert streamed.within_bound and streamed.n_modes == 6
    monkeypatch.setattr(morph_basis, "IN_MEMORY_FRAMES", len(dense))  # the whole clip at once
    in_memory = fit_morph_basis(dense, template(), BOUND)
    assert in_memory.n_modes == streamed.n_modes
    assert streamed.max_error_m == pytest.approx(in_memory.max_error_m, abs=2e-5)


def test_static_clip_has_only_the_offset_target():
    dense = np.repeat(template()[None], 5, 0)
    basis = fit_morph_basis(dense, template() + 0.001, BOUND)
    assert basis.n_modes == 0 and basis.max_error_m < 1e-6


def test_quaternions_are_continuous_and_unit():
    rotvec = np.zeros((50, 3))
    rotvec[:, 1] = np.linspace(-3.1, 3.1, 50) * np.array([1] * 25 + [-1] * 25)  # passes near ±π
    quat = head_quaternions(rotvec)
    assert np.all(np.sum(quat[1:] * quat[:-1], axis=1) >= 0)
    np.testing.assert_allclose(np.linalg.norm(quat, axis=1), 1, atol=1e-6)
    want = Rotation.from_rotvec(rotvec).as_matrix()
    np.testing.assert_allclose(Rotation.from_quat(quat).as_matrix(), want, atol=1e-5)


# ------------------------------------------------------------------------------ file layout
def test_glb_layout_and_extras(anim, glb):
    g = pygltflib.GLTF2.load_binary(str(glb))
    names = [n.name for n in g.nodes]
    assert names[:5] == ["kpanim", "camera", "head", "face", "torso"] and names[5:] == list(TORSO_NAMES)
    assert g.nodes[2].children == [3] and g.nodes[0].children == [1, 2, 4]
    mesh = g.meshes[0]
    assert [g.materials[p.material].name for p in mesh.primitives] == ["skin", "iris"]
    assert sum(g.accessors[p.indices].count for p in mesh.primitives) == 3 * len(triangles())
    pos = g.accessors[mesh.primitives[0].attributes.POSITION]
    assert pos.count == 478 and pos.min and pos.max
    ex = g.asset.extras
    assert ex["format"] == "kpanim-glb" and ex["format_version"] == 1 and ex["fps"] == 25.0
    assert ex["n_frames"] == anim.n_frames and ex["meta"] == anim.meta
    assert len(ex["sources"]["animation_sha256"]) == 64
    assert ex["morph"]["max_error_m"] <= BOUND and g.scenes[0].extras == ex
    assert mesh.extras["targetNames"][0] == "clip_offset"
    assert {s.interpolation for s in g.animations[0].samplers} == {"LINEAR"}
    assert math.isclose(g.cameras[0].perspective.yfov, 2 * math.atan(0.5))


def test_round_trip_values(anim, glb):
    """What pygltflib reads back equals what was written and reconstructs the dense points."""
    _, basis, _ = build_gltf(anim)
    m = read_glb_motion(glb)
    np.testing.assert_array_equal(m.weights, basis.weights)
    np.testing.assert_array_equal(m.targets, basis.targets)
    np.testing.assert_allclose(m.times, np.arange(anim.n_frames) / 25.0, atol=1e-6)
    assert max_vertex_error(m.dense(), anim.dense) <= BOUND
    rot = Rotation.from_quat(m.head_rotation.astype(np.float64))
    assert np.degrees((rot * Rotation.from_rotvec(anim.head_pose[:, :3]).inv()).magnitude()).max() < 1e-3
    np.testing.assert_allclose(m.head_translation, anim.head_pose[:, 3:], atol=1e-7)
    np.testing.assert_allclose(m.torso, anim.torso, atol=1e-7)
    back = m.to_animation()
    assert back.n_frames == anim.n_frames and back.fps == anim.fps
    np.testing.assert_allclose(back.head_pose, anim.head_pose, atol=1e-5)


def test_subject_sets_base_and_camera(anim, tmp_path):
    subject = fake_subject()
    export_glb(anim, tmp_path / "s.glb", subject=subject)
    m = read_glb_motion(tmp_path / "s.glb")
    np.testing.assert_array_equal(m.base, subject.neutral.astype(np.float32))
    assert m.extras["morph"]["base"] == "subject_neutral"
    assert m.extras["sources"]["image_sha256"] == subject.image_sha256
    assert max_vertex_error(m.dense(), anim.dense) <= BOUND
    cam = pygltflib.GLTF2.load_binary(str(tmp_path / "s.glb")).cameras[0].perspective
    assert cam.yfov == pytest.approx(2 * math.atan(240 / 640)) and cam.aspectRatio == pytest.approx(640 / 480)


@pytest.mark.parametrize("fps", [24, 30, 60])
def test_resample_fps(anim, fps, tmp_path):
    report = export_glb(anim, tmp_path / "r.glb", fps=fps)
    m = read_glb_motion(tmp_path / "r.glb")
    assert report.fps == fps and m.extras["fps"] == fps
    assert len(m.times) == round(anim.duration * fps) == report.n_frames
    np.testing.assert_allclose(np.diff(m.times), 1 / fps, atol=1e-5)
    assert max_vertex_error(m.dense(), anim.resample(fps).dense) <= BOUND


def test_export_is_atomic_and_checks_input(anim, tmp_path):
    with pytest.raises(KpanimError, match="does not exist"):
        export_glb(anim, tmp_path / "missing" / "a.glb")
    with pytest.raises(KpanimError, match="must be a .glb"):
        export_glb(anim, tmp_path / "a.gltf")
    with pytest.raises(KpanimError, match="--fps"):
        export_glb(anim, tmp_path / "a.glb", fps=-3)
    with pytest.raises(KpanimError, match="no frames"):
        export_glb(anim[0:0], tmp_path / "a.glb")
    assert list(tmp_path.iterdir()) == [], "no partial or temporary files"
    report = export_glb(anim, tmp_path / "a.glb")
    assert report.path == tmp_path / "a.glb" and report.n_bytes == (tmp_path / "a.glb").stat().st_size
    data, mem = glb_bytes(anim)
    assert data == (tmp_path / "a.glb").read_bytes() and mem.path is None


# ------------------------------------------------------------------------------------ CLI
def test_cli_export_and_info(anim, tmp_path):
    anim.save(tmp_path / "a.npz")
    runner = CliRunner()
    res = runner.invoke(cli, ["export", str(tmp_path / "a.npz"), "--fps", "30"])
    assert res.exit_code == 0, res.output
    assert "Wrote" in res.output and "morph targets" in res.output and (tmp_path / "a.glb").is_file()
    info = runner.invoke(cli, ["info", str(tmp_path / "a.glb")])
    assert info.exit_code == 0, info.output
    for text in ("frames 90 at 30 fps = 3.00 s", "morph targets", "reconstruction max error", "mm (bound 0.5 mm)",
                 "head > [face]", "shoulder_left_0", "animation_npz_sha256", '"source": "synthetic test"'):
        assert text in info.output, text
    assert info.output == describe_glb(tmp_path / "a.glb") + "\n"


def test_cli_export_with_subject_file(anim, tmp_path):
    anim.save(tmp_path / "a.npz")
    fake_subject().save(tmp_path / "face.subject.npz")
    res = CliRunner().invoke(cli, ["export", str(tmp_path / "a.npz"), "-o", str(tmp_path / "out.glb"),
                                   "--subject", str(tmp_path / "face.subject.npz")])
    assert res.exit_code == 0, res.output
    assert "subject_npz_sha256" in read_glb_motion(tmp_path / "out.glb").extras["sources"]


@pytest.mark.parametrize("case, message", [
    ("text", "not a kpanim .npz file"),
    ("subject", "expected a 'animation' file"),
    ("glb", "already a glTF file"),
    ("missing_dir", "does not exist"),
    ("bad_suffix", "must be a .glb"),
    ("fps", "--fps must be a number above 0"),
    ("max_error", "--max-error must be a number above 0"),
])
def test_cli_export_errors_are_one_line(anim, tmp_path, case, message):
    anim.save(tmp_path / "a.npz")
    (tmp_path / "notes.txt").write_text("hello")
    fake_subject().save(tmp_path / "face.subject.npz")
    (tmp_path / "x.glb").write_bytes(b"glTF")
    args = {
        "text": [str(tmp_path / "notes.txt"), "-o", str(tmp_path / "o.glb")],
        "subject": [str(tmp_path / "face.subject.npz"), "-o", str(tmp_path / "o.glb")],
        "glb": [str(tmp_path / "x.glb")],
        "missing_dir": [str(tmp_path / "a.npz"), "-o", str(tmp_path / "nope" / "o.glb")],
        "bad_suffix": [str(tmp_path / "a.npz"), "-o", str(tmp_path / "o.fbx")],
        "fps": [str(tmp_path / "a.npz"), "-o", str(tmp_path / "o.glb"), "--fps", "0"],
        "max_error": [str(tmp_path / "a.npz"), "-o", str(tmp_path / "o.glb"), "--max-error", "-1"],
    }[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    res = CliRunner().invoke(cli, ["export", *args])
    assert res.exit_code == 1, res.output
    assert res.output.startswith("Error: ") and message in res.output and res.output.count("\n") == 1, res.output
    assert "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "no output written"


def test_cli_export_unwritable_folder(anim, tmp_path):
    anim.save(tmp_path / "a.npz")
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
    else:  # root writes into read-only folders; sysfs refuses new files even to root
        folder = Path("/sys")
        try:
            fd, probe = tempfile.mkstemp(dir=folder)
            os.close(fd)
            os.unlink(probe)
            pytest.skip("no unwritable folder available to root here")
        except OSError:
            pass
    try:
        res = CliRunner().invoke(cli, ["export", str(tmp_path / "a.npz"), "-o", str(folder / "o.glb")])
    finally:
        if folder.parent == tmp_path:
            folder.chmod(0o755)
    assert res.exit_code == 1, res.output
    assert res.output.startswith(f"Error: cannot write {folder / 'o.glb'}: ") and "writable" in res.output
    assert res.output.count("\n") == 1


def test_cli_info_errors(tmp_path):
    (tmp_path / "bad.glb").write_bytes(b"not a glb at all")
    res = CliRunner().invoke(cli, ["info", str(tmp_path / "bad.glb")])
    assert res.exit_code == 1 and res.output.startswith("Error: ") and "not a binary glTF" in res.output
    res = CliRunner().invoke(cli, ["info", str(tmp_path / "missing.glb")])
    assert res.exit_code == 1 and "no such file" in res.output
    # A valid glTF from another tool is described, not refused.
    other = pygltflib.GLTF2(asset=pygltflib.Asset(generator="someone else"), scenes=[pygltflib.Scene(nodes=[0])],
                            nodes=[pygltflib.Node(name="n")])
    other.save_binary(str(tmp_path / "other.glb"))
    res = CliRunner().invoke(cli, ["info", str(tmp_path / "other.glb")])
    assert res.exit_code == 0 and "not written by kpanim (someone else)" in res.output


# ----------------------------------------------------------------------- Khronos validator
def validate(paths: list[Path]) -> list[dict]:
    require_tool(shutil.which("node") is not None and (REPO / "node_modules" / "gltf-validator").is_dir(),
                 "node + npm gltf-validator", "run: bash scripts/install_test_tools.sh")
    out = subprocess.run(["node", str(REPO / "tests" / "js" / "validate.mjs"), *map(str, paths)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_khronos_validator_zero_errors_and_warnings(anim, glb, tmp_path):
    paths = [glb]
    export_glb(anim, tmp_path / "subject.glb", subject=fake_subject(), fps=30)
    export_glb(anim[:1], tmp_path / "one_frame.glb")
    export_glb(Animation.from_dense(np.repeat(template()[None], 4, 0), anim.head_pose[:4], anim.torso[:4]),
               tmp_path / "static.glb")
    noisy = anim[:60].dense + np.random.default_rng(3).normal(0, 0.001, (60, 478, 3))  # high rank: many targets
    report = export_glb(Animation.from_dense(noisy, anim.head_pose[:60], anim.torso[:60]), tmp_path / "noisy.glb")
    assert report.n_targets > 40 and report.within_bound
    paths += sorted(tmp_path.glob("*.glb"))
    reports = validate(paths)
    assert len(reports) == len(paths)
    for rep in reports:
        assert rep["errors"] == 0 and rep["warnings"] == 0, "\n".join(rep["messages"])
        # Only informational notes are allowed: the 18 torso nodes are transforms without a mesh.
        assert all(" NODE_EMPTY " in m for m in rep["messages"]), rep["messages"]


# ---------------------------------------------------------------------- viewer server
def test_viewer_server_routes(glb, tmp_path):
    from kpanim.serving.viewer import ViewerServer, find_audio, load_for_view

    wav = tmp_path / "anim.wav"
    wav.write_bytes(b"RIFF" + bytes(100))
    data, meta = load_for_view(glb)
    assert data == glb.read_bytes() and meta["source"] == "synthetic test"
    with ViewerServer(data, audio=wav, title="anim.glb") as server:
        def get(path, headers=None):
            with urllib.request.urlopen(urllib.request.Request(server.url + path, headers=headers or {})) as r:
                return r.status, r.headers, r.read()

        status, headers, body = get("")
        assert status == 200 and b"importmap" in body and b"viewer.js" in body
        assert get("animation.glb")[2] == data
        assert json.loads(get("config.json")[2]) == {"title": "anim.glb", "audio": True, "arkit": False}
        status, headers, body = get("vendor/three/three.module.js")
        assert headers["Content-Type"] == "text/javascript" and b"three.core.js" in body
        assert get("vendor/three/addons/loaders/GLTFLoader.js")[0] == 200
        status, headers, body = get("audio", {"Range": "bytes=4-9"})
        assert status == 206 and body == bytes(6) and headers["Content-Range"] == "bytes 4-9/104"
        for bad in ("../gltf_export.py", "%2e%2e/gltf_export.py", "nothing.js"):
            with pytest.raises(urllib.error.HTTPError) as err:
                get(bad)
            assert err.value.code == 404
        req = urllib.request.Request(server.url + "log", data=b'{"level": "error", "text": "boom"}', method="POST")
        urllib.request.urlopen(req).close()
        assert server.errors() == ["boom"]
    assert find_audio(glb.parent / "x" / "anim.glb", {"audio": str(wav)}) == wav
    assert find_audio(wav.with_suffix(".glb"), {}) == wav
    assert find_audio(tmp_path / "other.glb", {}) is None


def test_view_converts_npz_and_reports_errors(anim, tmp_path):
    from kpanim.serving.viewer import load_for_view

    anim.save(tmp_path / "a.npz")
    data, meta = load_for_view(tmp_path / "a.npz", fps=30)
    assert data[:4] == b"glTF" and meta == anim.meta
    res = CliRunner().invoke(cli, ["view", str(tmp_path / "missing.glb"), "--no-browser"])
    assert res.exit_code == 1 and res.output.startswith(f"Error: {tmp_path / 'missing.glb'}: no such file; ")
    res = CliRunner().invoke(cli, ["view", str(tmp_path / "a.npz"), "--no-browser", "--audio", "nope.wav"])
    assert res.exit_code == 1 and "no such audio file" in res.output
