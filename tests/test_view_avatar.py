"""``kpanim view --avatar``: the user's character driven by the ARKit curves and the head rotation.

The file checks in Python (kpanim.formats.avatar), the served bytes, and the page in headless Chromium on
the stand-in avatars of tests/avatars.py: every ARKit-named morph target follows its curve at the time the
page shows, whatever the naming (camelCase, PascalCase, snake_case with _L/_R), and the head bone turns
the way kpanim's head does (yaw + = the face towards the character's own left, +X for a +Z-facing glTF)."""

from __future__ import annotations

import json
import types
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from avatars import build_named_glb, build_rpm_glb, build_vrm, build_vrm0
from conftest import make_animation

from kpanim.animate.arkit import APPLE_NAMES, NAMES, normalise_name
from kpanim.errors import KpanimError
from kpanim.formats.avatar import check_avatar

DATA = Path(__file__).parent / "data"
SNAKE = {"eyeBlinkLeft": "eye_blink_L", "eyeBlinkRight": "Eye_Blink.R", "jawOpen": "jaw_open",
         "mouthSmileLeft": "mouth-smile-l", "mouthFunnel": "MOUTH_FUNNEL"}

NAME_CASES = [*APPLE_NAMES, *SNAKE.values(), "brow down r", " cheekPuff ", "viseme_aa", "Key 1", "head.L", "x_l", "_R",
              "jaw_R", "tongue_out"]


def pascal(name: str) -> str:
    return name[0].upper() + name[1:]


def test_normalise_name_matches_the_naming_conventions():
    for name in APPLE_NAMES:
        assert normalise_name(pascal(name)) == normalise_name(name) == name.lower()
    for name, other in SNAKE.items():
        assert normalise_name(other) == normalise_name(name)
    assert normalise_name("jawLeft") != normalise_name("jaw_R")


def test_check_avatar_reads_the_morph_target_names(tmp_path):
    (tmp_path / "rpm.glb").write_bytes(build_rpm_glb())
    check = check_avatar(tmp_path / "rpm.glb")
    assert check.matched == APPLE_NAMES and check.missing == () and "viseme_aa" in check.morph_names
    (tmp_path / "a.vrm").write_bytes(build_vrm())  # a .vrm is a glb
    assert check_avatar(tmp_path / "a.vrm").matched == APPLE_NAMES
    names = [pascal(n) for n in APPLE_NAMES if n != "cheekPuff"]
    (tmp_path / "pascal.glb").write_bytes(build_named_glb(names))
    assert check_avatar(tmp_path / "pascal.glb").missing == ("cheekPuff",)
    # names on the primitive instead of the mesh (older exporters)
    doc, body = _split(build_named_glb(list(SNAKE.values())))
    mesh = doc["meshes"][0]
    mesh["primitives"][0]["extras"] = mesh.pop("extras")
    (tmp_path / "prim.glb").write_bytes(_join(doc, body))
    assert set(check_avatar(tmp_path / "prim.glb").matched) == set(SNAKE)


@pytest.mark.parametrize("name, data, message", [
    ("missing.glb", None, "no such file"),
    ("char.gltf", b"{}", "re-export it as one .glb"),
    ("char.fbx", b"Kaydara FBX Binary", "expected a binary glTF character"),
    ("text.glb", b"hello", "not a binary glTF file"),
    ("cut.glb", build_rpm_glb()[:500], "truncated or damaged"),
    ("plain.glb", build_named_glb(["smile", "blink", "Key 1"]), "has no morph targets named after ARKit shapes"),
    ("basis.glb", "KHR_texture_basisu", "compressed with Basis"),
])
def test_check_avatar_errors_are_one_line(tmp_path, name, data, message):
    if isinstance(data, str):  # an extension three.js needs a decoder for
        doc, body = _split(build_rpm_glb())
        doc["extensionsUsed"] = doc["extensionsRequired"] = [data]
        data = _join(doc, body)
    if data is not None:
        (tmp_path / name).write_bytes(data)
    with pytest.raises(KpanimError, match=message) as err:
        check_avatar(tmp_path / name)
    assert "\n" not in str(err.value) and str(err.value).startswith(f"--avatar {tmp_path / name if data is None else name}")


def _split(glb: bytes) -> tuple[dict, bytes]:
    import struct

    n = struct.unpack_from("<I", glb, 12)[0]
    doc = json.loads(glb[20:20 + n])
    return doc, glb[20 + n + 8:]


def _join(doc: dict, body: bytes) -> bytes:
    from avatars import _glb

    return _glb({**doc, "_body": body})


# ------------------------------------------------------------------------------------------ the page
def ramp_animation():
    """2 s with stored ARKit curves (jawOpen rising 0 → 1, eyeBlinkLeft falling) and the head turning to the
    subject's left (yaw 0 → 0.6 rad) with a little pitch and roll."""
    anim = make_animation(n_frames=50)
    ramp = np.linspace(0, 1, anim.n_frames)
    curves = np.full((anim.n_frames, len(NAMES)), 0.05, np.float32)
    curves[:, NAMES.index("jawOpen")] = ramp
    curves[:, NAMES.index("eyeBlinkLeft")] = 1 - ramp
    curves[:, NAMES.index("mouthSmileLeft")] = 0.5 * ramp
    pose = np.array(anim.head_pose)
    pose[:, :3] = 0
    pose[:, 1] = 0.6 * ramp  # a rotation about +Y: yaw only
    pose[:, 0] = 0.1 * ramp  # plus some pitch (about +X)
    return anim.replace(head_pose=pose, arkit=curves)


def open_avatar_page(browser, server, pause_at: float | None = None) -> dict:
    browser.open(server.url)
    assert server.loaded.wait(60), f"page did not load; console: {browser.console}"
    browser.pump(1.0)  # let it play
    if pause_at is not None:
        browser.evaluate("document.getElementById('play').click()")
        browser.evaluate(f"const s = document.getElementById('seek'); s.value = String({pause_at} / 1.96); "
                         "s.dispatchEvent(new Event('input'))")
        browser.pump(0.3)
    return browser.evaluate("window.kpanimAvatar")


def curve_at(payload: dict, name: str, time: float) -> float:
    values = np.array(payload["values"])[:, payload["names"].index(name)]
    return float(np.interp(time * payload["fps"], np.arange(len(values)), values))


@pytest.mark.browser
def test_viewer_drives_the_avatar(tmp_path):
    from chromium_cdp import Chromium, chromium_path
    from gltf_testlib import require_tool
    from scipy.spatial.transform import Rotation

    from kpanim.serving.viewer import ViewerServer, load_for_view

    require_tool(chromium_path() is not None, "chromium", "run as root: bash scripts/install_test_tools.sh")
    anim = ramp_animation()
    glb, _, payload = load_for_view(anim.save(tmp_path / "a.npz"), with_arkit=True)
    head = np.array(payload["head"])
    assert head[-1, 0] == pytest.approx(0.6, abs=0.05) and head[-1, 1] > 0.05  # yaw, pitch
    # the PascalCase one has a rolled head bone under a tilted neck: the turn must not depend on them
    rest = {"Neck": Rotation.from_euler("x", 0.4).as_quat(), "Head": Rotation.from_euler("zy", [1.2, -0.5]).as_quat()}
    rest_world = {"J_Bip_C_Head": Rotation.from_quat(rest["Neck"]) * Rotation.from_quat(rest["Head"])}
    avatars = {
        "rpm": (build_rpm_glb(), "Head", []),
        "vrm": (build_vrm(), "Head", []),  # a VRM 1.0 file loads as plain glTF (its morph targets: camelCase)
        "pascal": (build_named_glb([pascal(n) for n in APPLE_NAMES if n != "cheekPuff"], "J_Bip_C_Head", rest),
                   "J_Bip_C_Head", ["cheekPuff"]),
        "snake": (build_named_glb(list(SNAKE.values()), "mixamorig:Head"), "mixamorig:Head",
                  [n for n in APPLE_NAMES[:-1] if n not in SNAKE]),
        "no_head": (build_named_glb(APPLE_NAMES, None), None, []),
        "vrm0": (build_vrm0(), "Head", []),  # faces -Z: the same turns, seen from behind
        # the RPM stand-in compressed (tests/js/compress_avatar.mjs): the page's vendored decoders read them
        "draco": ((DATA / "avatar_draco.glb").read_bytes(), "Head", []),
        "meshopt": ((DATA / "avatar_meshopt.glb").read_bytes(), "Head", []),
    }
    behind = Rotation.from_euler("y", np.pi)  # a VRM 0.x model's frame: R' = Ry(π) R Ry(π)⁻¹
    seen = {}
    with Chromium(900, 600) as browser:
        for key, (data, _, _) in avatars.items():
            with ViewerServer(glb, arkit=payload, avatar=data) as server:
                with urllib.request.urlopen(server.url + "avatar.glb") as reply:
                    assert reply.read() == data
                playing = open_avatar_page(browser, server)
                paused = open_avatar_page(browser, server, pause_at=1.5) if key == "rpm" else None
                seen[key] = (playing, paused, browser.evaluate("window.kpanimStatus"),
                             browser.evaluate("document.getElementById('status').textContent"), server.errors())
                if key == "rpm":  # the page's normaliseName is kpanim's normalise_name
                    browser.evaluate(f"import('{server.url}common.js').then((m) => {{ window.testKeys = "
                                     f"{json.dumps(NAME_CASES)}.map(m.normaliseName); }}); 0")
                    browser.pump(0.3)
                    js_keys = browser.evaluate("window.testKeys")
        errors = [m for m in browser.console if m["level"] == "error"]
    assert errors == [], errors
    assert js_keys == [normalise_name(n) for n in NAME_CASES]
    for key, (_, head_name, missing) in avatars.items():
        playing, paused, status, text, server_errors = seen[key]
        assert server_errors == [], (key, server_errors)
        assert playing["headBone"] == head_name and playing["missing"] == missing, (key, playing)
        assert playing["matched"] == 51 - len(missing) and status["avatar"]["matched"] == playing["matched"]
        if head_name is None:
            assert "no head bone found" in text and playing["headWorld"] is None
        for state in (playing, paused) if paused else (playing,):
            t = state["time"]
            assert 0 < t < 1.96, state
            # each driven morph target holds its curve at the time the page shows
            for name in ("jawOpen", "eyeBlinkLeft", "mouthSmileLeft"):
                assert state["influences"][name] == pytest.approx(curve_at(payload, name, t), abs=2e-3), (key, name)
            if head_name is not None:
                # R = Ry(yaw)·Rx(pitch)·Rz(roll) on the rest pose (identity here), in world axes
                angles = [np.interp(t * 25, np.arange(len(head)), head[:, k]) for k in range(3)]
                frame = behind if key == "vrm0" else Rotation.identity()
                want = frame * Rotation.from_euler("YXZ", angles) * frame.inv()
                got = Rotation.from_quat(state["headWorld"])  # three.js order: x, y, z, w
                got = got * rest_world.get(head_name, Rotation.identity()).inv()  # the turn from the rest pose
                assert (got * want.inv()).magnitude() < 1e-3, (key, got.as_euler("YXZ"), angles)
                # the same turn as kpanim's own head: its head_pose rotation vector, interpolated
                rotvec = [np.interp(t * 25, np.arange(anim.n_frames), anim.head_pose[:, k]) for k in range(3)]
                assert (got * frame * Rotation.from_rotvec(rotvec).inv() * frame.inv()).magnitude() < 5e-3
                # sign: yaw + turns the face towards the character's left (its LeftEye bone's side: +X, or -X
                # for the VRM 0.x model facing -Z); + pitch looks down
                forward = got.apply(frame.apply([0, 0, 1]))
                left = np.sign(frame.apply([1, 0, 0])[0])
                assert left * forward[0] > 0.3 * t / 1.96 and forward[1] < 0, (key, forward)
    assert seen["rpm"][1]["time"] == pytest.approx(1.5, abs=0.01)
    assert seen["rpm"][1]["influences"]["jawOpen"] == pytest.approx(1.5 / 1.96, abs=0.01)


def test_server_serves_the_avatar_only_when_given(tmp_path):
    from kpanim.serving.viewer import ViewerServer

    with ViewerServer(b"glb", avatar=b"avatar bytes") as server:
        config = json.loads(urllib.request.urlopen(server.url + "config.json").read())
        assert config["avatar"] is True
        assert urllib.request.urlopen(server.url + "avatar.glb").read() == b"avatar bytes"
    with ViewerServer(b"glb") as server:
        assert "avatar" not in json.loads(urllib.request.urlopen(server.url + "config.json").read())
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(server.url + "avatar.glb")


def test_cli_view_serves_the_avatar(tmp_path, monkeypatch):
    """kpanim view ANIM.npz --avatar / --live --avatar: says what matched and serves the character's bytes."""
    from click.testing import CliRunner

    from kpanim.commands import view
    from kpanim.commands.cli import cli
    from kpanim.serving.viewer import ViewerServer

    served, pages = [], []

    class Stop:  # instead of waiting for Ctrl+C: note what the page gets, then stop
        def wait(self):
            served.append(json.loads(urllib.request.urlopen(pages[-1].url + "config.json").read()))
            served.append(urllib.request.urlopen(pages[-1].url + "avatar.glb").read())
            raise KeyboardInterrupt

    enter = ViewerServer.__enter__
    monkeypatch.setattr(view, "threading", types.SimpleNamespace(Event=Stop))
    monkeypatch.setattr(ViewerServer, "__enter__", lambda self: pages.append(self) or enter(self))
    names = [pascal(n) for n in APPLE_NAMES if n not in ("cheekPuff", "tongueOut")]
    (tmp_path / "char.vrm").write_bytes(build_named_glb(names))
    npz = ramp_animation().save(tmp_path / "a.npz")
    for args in ([str(npz)], ["--live", "--server", "ws://127.0.0.1:9"]):
        res = CliRunner().invoke(cli, ["view", *args, "--avatar", str(tmp_path / "char.vrm"), "--no-browser"])
        assert res.exit_code == 0, res.output
        assert res.output.splitlines()[0] == ("Avatar char.vrm: 50 of the 52 ARKit shapes found as morph targets "
                                              "(not on it: cheekPuff, tongueOut)")
        assert res.output.splitlines()[-1] == "Stopped."
        config, data = served[-2:]
        assert config["avatar"] is True and data == (tmp_path / "char.vrm").read_bytes()


@pytest.mark.browser
def test_a_broken_avatar_leaves_the_face_playing(tmp_path):
    from chromium_cdp import Chromium, chromium_path
    from gltf_testlib import require_tool

    from kpanim.serving.viewer import ViewerServer, load_for_view

    require_tool(chromium_path() is not None, "chromium", "run as root: bash scripts/install_test_tools.sh")
    glb, _, payload = load_for_view(ramp_animation().save(tmp_path / "a.npz"), with_arkit=True)
    with ViewerServer(glb, arkit=payload, avatar=b"glTF not really") as server, Chromium() as browser:
        browser.open(server.url)
        assert server.loaded.wait(60), f"page did not load; console: {browser.console}"
        browser.pump(0.5)
        status = browser.evaluate("window.kpanimStatus")
    assert status["loaded"] and status["avatar"] is None and status["arkit"] == 51
    assert any(e.startswith("avatar failed to load") for e in server.errors()), server.errors()
