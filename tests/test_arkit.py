"""kpanim.animate.arkit: the Blendshape V2 port against FaceLandmarker's own numbers, animation curves, files."""

from __future__ import annotations

import csv
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from conftest import make_animation

from kpanim.animate import arkit
from kpanim.errors import FormatError, KpanimError
from kpanim.formats.animation import Animation

FIXTURE = Path(__file__).parent / "data" / "arkit_reference.npz"


@pytest.fixture(scope="module")
def reference():
    with np.load(FIXTURE, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_port_matches_facelandmarker(reference):
    """FaceLandmarker's landmarks → the port's scores = FaceLandmarker's scores (31 real faces)."""
    worst = 0.0
    for pts, size, expected in zip(reference["landmarks_px"], reference["image_size"], reference["blendshapes"]):
        got = arkit.from_landmarks(pts, tuple(size))
        assert got.shape == (52,) and got.dtype == np.float32
        worst = max(worst, float(np.abs(got - expected).max()))
    assert worst <= 0.01
    assert worst < 1e-4  # in practice float rounding only
    # the fixture has real expressions, not only neutral faces
    assert reference["blendshapes"][:, arkit.NAMES.index("jawOpen")].max() > 0.3
    assert reference["blendshapes"][:, arkit.NAMES.index("eyeBlinkLeft")].max() > 0.3


def test_batched_equals_single(reference):
    pts = reference["landmarks_px"][:6]
    batch = arkit.scores_from_points(pts)
    single = np.stack([arkit.from_landmarks(p, (256, 256)) for p in pts])
    assert np.allclose(batch, single, atol=1e-6)
    assert np.allclose(arkit.from_landmarks(pts[0][:, :2], (256, 256)), single[0])  # (478, 2) works too


def test_names_and_orders():
    assert len(arkit.NAMES) == 52 and arkit.NAMES[0] == "_neutral" and len(set(arkit.NAMES)) == 52
    assert len(arkit.APPLE_NAMES) == 52 and set(arkit.APPLE_NAMES) - set(arkit.NAMES) == {"tongueOut"}
    assert len(arkit.LANDMARK_SUBSET) == 146 and arkit.LANDMARK_SUBSET.max() == 477
    assert arkit.LIVELINK_HEADER[:4] == ("Timecode", "BlendShapeCount", "EyeBlinkLeft", "EyeLookDownLeft")
    assert arkit.LIVELINK_HEADER[-10:] == ("TongueOut", "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw",
                                           "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch",
                                           "RightEyeRoll")
    assert len(arkit.LIVELINK_HEADER) == 2 + 61


@pytest.mark.parametrize("bad, size, message", [
    (np.zeros((468, 2)), (100, 100), "478"),
    (np.full((478, 2), np.nan), (100, 100), "NaN"),
    (np.random.default_rng(0).uniform(0, 1, (478, 2)), (640, 480), "normalised"),
    (np.random.default_rng(0).uniform(0, 99, (478, 2)), (0, 480), "positive"),
    (np.random.default_rng(0).uniform(0, 99, (478, 2)), "big", "width, height"),
    (np.ones((478, 3)), (100, 100), "degenerate"),
])
def test_from_landmarks_errors(bad, size, message):
    with pytest.raises(KpanimError, match=message):
        arkit.from_landmarks(bad, size)


def test_animation_curves_follow_the_jaw(animation):
    curves = arkit.animation_curves(animation)
    assert curves.shape == (animation.n_frames, 52) and np.all((curves >= 0) & (curves <= 1))
    mouth = animation.dense[:, 14, 1] - animation.dense[:, 13, 1]  # lower inner lip - upper: more negative = open
    opening = -(mouth - mouth.max())
    idx = [arkit.NAMES.index(n) for n in ("jawOpen", "mouthLowerDownLeft", "mouthLowerDownRight")]
    assert np.corrcoef(curves[:, idx].sum(1), opening)[0, 1] > 0.8


def test_left_means_the_subjects_left():
    """MediaPipe's (and so the port's) eyeBlinkLeft is the subject's left eye (+X), as in ARKit."""
    from kpanim.face import constants

    tpl = constants.template().astype(np.float32)
    lids = {"left": ([386, 385, 387, 384, 398, 257, 258, 259], [374, 373, 380, 381, 382, 390]),
            "right": ([159, 158, 160, 157, 173, 27, 28, 29], [145, 144, 153, 154, 155, 163])}
    assert tpl[386, 0] > 0 > tpl[159, 0]
    for side, (upper, lower) in lids.items():
        face = tpl.copy()
        face[upper, 1] = face[lower, 1].mean() + 3e-4
        anim = Animation.still(face, np.array([0, 0, 0, 0, 0, -0.5]), np.zeros((18, 3)), 1)
        scores = dict(zip(arkit.NAMES, arkit.animation_curves(anim)[0]))
        other = "right" if side == "left" else "left"
        assert scores[f"eyeBlink{side.title()}"] > 0.5 > scores[f"eyeBlink{other.title()}"] + 0.3


def test_info_shows_the_curves(animation, tmp_path):
    path = animation.replace(arkit=arkit.animation_curves(animation)).save(tmp_path / "a.npz")
    res = _run("info", path)
    assert res.exit_code == 0 and "arkit" in res.output and "(50, 52)" in res.output


def test_head_rotation_stays_out_of_the_face(animation):
    """Same face, very different head rotations → same curves; the rotation is in the head angles."""
    turned = animation.replace(head_pose=animation.head_pose * np.array([8, 8, 8, 1, 1, 1], np.float32))
    assert np.allclose(arkit.animation_curves(turned), arkit.animation_curves(animation))
    yaw_pitch_roll = arkit.head_angles(np.array([[0, 0.3, 0, 0, 0, -0.5], [0.2, 0, 0, 0, 0, -0.5]]))
    assert np.allclose(yaw_pitch_roll, [[0.3, 0, 0], [0, 0.2, 0]], atol=1e-9)


def test_animation_arkit_array_roundtrip_and_edits(animation, tmp_path):
    curves = arkit.animation_curves(animation)
    anim = animation.replace(arkit=curves)
    path = anim.save(tmp_path / "a.npz")
    loaded = Animation.load(path)
    assert np.array_equal(loaded.arkit, curves)
    assert loaded[10:20].arkit.shape == (10, 52) and np.array_equal(loaded[10:20].arkit, curves[10:20])
    assert loaded.resample(50).arkit.shape == (100, 52)
    # an animation without curves (every file written before them) loads as before
    plain = Animation.load(animation.save(tmp_path / "b.npz"))
    assert plain.arkit is None
    with np.load(tmp_path / "b.npz") as z:
        assert "arkit" not in z.files and int(z["format_version"]) == 1
    with pytest.raises(FormatError, match="arkit"):
        animation.replace(arkit=np.zeros((3, 52)))


def test_timecode():
    """Frames at 60 fps with the sub-frame after the point, as Live Link Face writes them, whatever the rate."""
    assert arkit.timecode(0, 30) == "00:00:00:00.000"
    assert arkit.timecode(1, 25) == "00:00:00:02.400"
    assert arkit.timecode(31, 30) == "00:00:01:02.000"
    assert arkit.timecode(3600 * 25 + 61 * 25 + 24, 25) == "01:01:01:57.600"
    assert arkit.timecode(2, 3 * 60000) == "00:00:00:00.001"  # rounding carries into the frame and second
    assert arkit.timecode(59999, 60000) == "00:00:00:59.999" and arkit.timecode(119999, 120000) == "00:00:01:00.000"


def _unreal_import(text: str) -> tuple[list, np.ndarray, np.ndarray]:
    """What Unreal's Live Link Face importer (the LiveLinkFaceImporter plugin, read from its public source)
    makes of a CSV: property names, sample times (s), values. It rejects a file whose first two columns are
    not Timecode and BlendShapeCount, stops at a row whose field count differs from the header's, reads
    ``hh:mm:ss:frame.zzz`` as h·3600 + m·60 + s + frame / R with R = 60 when some frame exceeds 30, else 30,
    and passes every other value through unchanged (no unit conversion)."""
    lines = [line for line in text.splitlines() if line]
    keys = lines[0].split(",")
    assert keys[:2] == ["Timecode", "BlendShapeCount"] and len(keys) > 2, "Unreal: poorly formatted CSV"
    rows = [[f for f in line.split(",") if f] for line in lines[1:]]  # ParseIntoArray drops empty fields
    assert all(len(r) == len(keys) for r in rows), "Unreal: a row has the wrong number of columns: aborts"
    stamps = [r[0].split(":") for r in rows]
    assert all(len(t) == 4 for t in stamps), "Unreal: malformed timecode"
    rate = 60 if any(float(t[3]) > 30 for t in stamps) else 30
    times = np.array([int(h) * 3600 + int(m) * 60 + int(sec) + float(ff) / rate for h, m, sec, ff in stamps])
    return keys[2:], times, np.array([[float(v) for v in r[2:]] for r in rows])


@pytest.mark.parametrize("fps", [24.0, 25.0, 29.97, 30.0, 60.0])
def test_unreal_imports_the_csv_at_the_frame_times(fps):
    anim = make_animation(int(2 * fps), fps=fps)
    names, times, values = _unreal_import(arkit.livelink_csv_text(anim))
    assert names == list(arkit.LIVELINK_HEADER[2:])
    np.testing.assert_allclose(times, np.arange(anim.n_frames) / fps, atol=1e-5)
    jaw = arkit.animation_curves(anim)[:, arkit.NAMES.index("jawOpen")]
    np.testing.assert_allclose(values[:, names.index("JawOpen")], jaw, atol=1e-6)
    np.testing.assert_allclose(values[:, names.index("HeadPitch")], arkit.head_angles(anim.head_pose)[:, 1],
                               atol=1e-6)


def test_short_csv_warns_about_unreal(tmp_path):
    with pytest.warns(UserWarning, match="half speed"):
        arkit.write_curves(make_animation(10), tmp_path / "short.arkit.csv")  # 0.36 s
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        arkit.write_curves(make_animation(14), tmp_path / "long.arkit.csv")  # 0.52 s
        assert max(float(r.split(",")[0].rsplit(":", 1)[1]) for r in
                   (tmp_path / "long.arkit.csv").read_text().splitlines()[1:]) > 30


def test_livelink_csv_and_json(animation, tmp_path):
    csv_path = arkit.write_curves(animation, tmp_path / "a.arkit.csv")
    rows = list(csv.reader(csv_path.open()))
    assert tuple(rows[0]) == arkit.LIVELINK_HEADER and len(rows) == animation.n_frames + 1
    assert all(len(r) == len(arkit.LIVELINK_HEADER) and r[1] == "61" for r in rows[1:])
    col = {name: i for i, name in enumerate(rows[0])}
    values = np.array([[float(v) for v in r[2:]] for r in rows[1:]])
    curves = arkit.animation_curves(animation)
    assert np.allclose(values[:, col["JawOpen"] - 2], curves[:, arkit.NAMES.index("jawOpen")], atol=1e-6)
    assert np.all(values[:, col["TongueOut"] - 2] == 0)
    assert np.allclose(values[:, col["HeadPitch"] - 2], arkit.head_angles(animation.head_pose)[:, 1], atol=1e-6)

    doc = json.loads(arkit.write_curves(animation, tmp_path / "a.arkit.json").read_text())
    assert doc["fps"] == 25 and doc["n_frames"] == animation.n_frames and doc["names"] == list(arkit.APPLE_NAMES)
    assert np.allclose(doc["blendshapes"]["jawOpen"], curves[:, arkit.NAMES.index("jawOpen")], atol=1e-6)
    assert set(doc["head"]) == {"yaw", "pitch", "roll"} and len(doc["eyes"]["LeftEyeYaw"]) == animation.n_frames
    with pytest.raises(KpanimError, match=r"\.arkit\.csv"):
        arkit.write_curves(animation, tmp_path / "a.csv")


# ------------------------------------------------------------------------------------------ CLI
def _run(*args):
    from click.testing import CliRunner

    from kpanim.commands.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


def test_cli_export_csv_and_json(animation, tmp_path):
    npz = animation.save(tmp_path / "anim.npz")
    res = _run("export", npz, "-o", tmp_path / "anim.arkit.csv", "--fps", 50)
    assert res.exit_code == 0, res.output
    rows = (tmp_path / "anim.arkit.csv").read_text().splitlines()
    assert rows[0].startswith("Timecode,BlendShapeCount,EyeBlinkLeft,") and len(rows) == 1 + 100
    res = _run("export", npz, "-o", tmp_path / "anim.arkit.json")
    assert res.exit_code == 0 and "computed" in res.output, res.output
    # stored curves are used as they are
    fake = np.full((animation.n_frames, 52), 0.25, np.float32)
    stored = animation.replace(arkit=fake).save(tmp_path / "stored.npz")
    res = _run("export", stored, "-o", tmp_path / "stored.arkit.json")
    assert res.exit_code == 0 and "stored" in res.output, res.output
    doc = json.loads((tmp_path / "stored.arkit.json").read_text())
    assert doc["blendshapes"]["jawOpen"][0] == 0.25 and doc["blendshapes"]["tongueOut"][0] == 0


@pytest.mark.parametrize("case, message", [
    ("missing", "no such file"), ("junk", "not a kpanim"), ("plaincsv", ".arkit.csv"),
    ("subject", "--subject"), ("fps", "--fps"), ("folder", "does not exist"),
])
def test_cli_export_errors_are_one_line_and_write_nothing(animation, tmp_path, case, message):
    npz = animation.save(tmp_path / "anim.npz")
    out, extra = tmp_path / "out.arkit.csv", []
    if case == "missing":
        npz = tmp_path / "nope.npz"
    elif case == "junk":
        npz = tmp_path / "junk.npz"
        npz.write_bytes(b"not a zip")
    elif case == "plaincsv":
        out = tmp_path / "out.csv"
    elif case == "subject":
        extra = ["--subject", npz]
    elif case == "fps":
        extra = ["--fps", -3]
    elif case == "folder":
        out = tmp_path / "no" / "out.arkit.csv"
    res = _run("export", npz, "-o", out, *extra)
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], res.output
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"anim.npz", npz.name} - {"nope.npz"})


def test_cli_predict_arkit_outputs(tiny_model, tmp_path):
    from model_synth import speechlike

    from kpanim.speech.audio import save_wav

    wav = tmp_path / "speech.wav"
    save_wav(wav, speechlike(2.0, 2)[0])
    res = _run("predict", wav, "-o", tmp_path / "a.arkit.csv", "--model", tiny_model, "--samples", 2)
    assert res.exit_code == 0, res.output
    for k in (0, 1):
        rows = (tmp_path / f"a_{k}.arkit.csv").read_text().splitlines()
        assert len(rows) == 51 and rows[1].startswith("00:00:00:00.000,61,")
    res = _run("predict", wav, "-o", tmp_path / "a.arkit.json", "--model", tiny_model)
    assert res.exit_code == 0 and json.loads((tmp_path / "a.arkit.json").read_text())["n_frames"] == 50
    res = _run("predict", wav, "-o", tmp_path / "a.npz", "--model", tiny_model, "--arkit")
    anim = Animation.load(tmp_path / "a.npz")
    assert res.exit_code == 0 and anim.arkit.shape == (50, 52)
    assert np.allclose(anim.arkit, arkit.animation_curves(anim), atol=1e-6)
    res = _run("predict", wav, "-o", tmp_path / "b.npz", "--model", tiny_model)
    assert res.exit_code == 0 and Animation.load(tmp_path / "b.npz").arkit is None  # opt-in: predict stays fast
    res = _run("predict", wav, "-o", tmp_path / "b.csv", "--model", tiny_model)
    assert res.exit_code == 1 and ".arkit.csv" in res.output and not (tmp_path / "b.csv").exists()


# ------------------------------------------------------------------------------------- viewer
def test_viewer_serves_the_curves(animation, tmp_path):
    import urllib.request

    from kpanim.formats.gltf_export import export_glb
    from kpanim.serving.viewer import ViewerServer, load_for_view

    npz = animation.save(tmp_path / "a.npz")
    glb, meta, payload = load_for_view(npz, with_arkit=True)
    assert len(payload["names"]) == 51 and "tongueOut" not in payload["names"] and payload["fps"] == 25
    assert np.array(payload["values"]).shape == (animation.n_frames, 51)
    jaw = np.array(payload["values"])[:, payload["names"].index("jawOpen")]
    assert np.allclose(jaw, arkit.animation_curves(animation)[:, arkit.NAMES.index("jawOpen")], atol=6e-4)
    assert len(load_for_view(npz, fps=50, with_arkit=True)[2]["values"]) == 100
    # a kpanim .glb: curves from the face the file shows
    export_glb(animation, tmp_path / "a.glb")
    from_glb = load_for_view(tmp_path / "a.glb", with_arkit=True)[2]
    assert np.abs(np.array(from_glb["values"]) - np.array(payload["values"])).max() < 0.05
    with ViewerServer(glb, arkit=payload) as server:
        config = json.loads(urllib.request.urlopen(server.url + "config.json").read())
        served = json.loads(urllib.request.urlopen(server.url + "arkit.json").read())
    assert config["arkit"] is True and served == payload
    with ViewerServer(glb) as server:
        assert json.loads(urllib.request.urlopen(server.url + "config.json").read())["arkit"] is False


@pytest.mark.browser
def test_viewer_draws_the_bar_chart(animation, tmp_path):
    from chromium_cdp import Chromium, chromium_path
    from gltf_testlib import require_tool

    from kpanim.serving.viewer import ViewerServer, load_for_view

    require_tool(chromium_path() is not None, "chromium", "run as root: bash scripts/install_test_tools.sh")
    glb, _, payload = load_for_view(animation.save(tmp_path / "a.npz"), with_arkit=True)
    with ViewerServer(glb, arkit=payload) as server, Chromium(900, 600) as browser:
        browser.open(server.url)
        assert server.loaded.wait(60), f"page did not load; console: {browser.console}"
        browser.evaluate("document.getElementById('play').click()")  # pause, then seek to 1.2 s
        browser.evaluate("const s = document.getElementById('seek'); s.value = String(1.2 / 1.96); "
                         "s.dispatchEvent(new Event('input'))")
        browser.pump(0.5)
        status = browser.evaluate("window.kpanimStatus")
        shown = browser.evaluate("window.kpanimArkit")
        visible = browser.evaluate("!document.getElementById('arkit').hidden")
        errors = [m for m in browser.console if m["level"] == "error"]
    assert status["arkit"] == 51 and visible and errors == [] and server.errors() == []
    assert shown["frame"] == 30
    assert shown["jawOpen"] == pytest.approx(payload["values"][30][payload["names"].index("jawOpen")], abs=1e-6)


def test_bfloat16_curves_stay_close_to_float32(animation):
    from kpanim.errors import KpanimError
    from kpanim.nets.precision import cpu_has_bf16

    exact = arkit.animation_curves(animation, precision="float32")
    fast = arkit.animation_curves(animation, precision="bfloat16")
    assert np.abs(fast - exact).max() < 0.03 and np.abs(fast - exact).mean() < 0.003
    auto = arkit.animation_curves(animation)
    np.testing.assert_array_equal(auto, fast if cpu_has_bf16() else exact)
    with pytest.raises(KpanimError, match="precision must be"):
        arkit.animation_curves(animation, precision="half")
