"""A kpanim .arkit.json drives the avatar players people use, with the lines docs/ARKIT.md gives.

Both run in headless Chromium from npm packages pinned in package.json, on avatars built by ``avatars``
(no download):

* TalkingHead.js (``@met4citizen/talkinghead``, with its own three.js) loads an avatar in Ready Player Me's
  layout and plays the speech with our curves as its ``blendshapes`` animation template; the page records,
  per drawn frame, the audio clock, the morph-target weights TalkingHead applied and its Head bone's
  rotation;
* three-vrm (``@pixiv/three-vrm``) loads a VRM 1.0 perfect-sync model; the page applies every frame through
  the expression manager and the humanoid's head bone and records what the model got.
"""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from avatars import build_rpm_glb, build_vrm
from conftest import make_animation
from gltf_testlib import require_tool
from scipy.spatial.transform import Rotation

from kpanim.animate import arkit

ROOT = Path(__file__).resolve().parents[1]
NODE = ROOT / "node_modules"
TALKINGHEAD = NODE / "@met4citizen" / "talkinghead"
THREE_VRM = NODE / "@pixiv" / "three-vrm"
PAGES = Path(__file__).parent / "js"


def _three(package: Path) -> Path:
    """The three.js ``package`` resolves (npm nests its own when the project's is another version)."""
    nested = package / "node_modules" / "three"
    return nested if nested.is_dir() else NODE / "three"


def _require_player(package: Path, module: str) -> None:
    from chromium_cdp import chromium_path

    require_tool(chromium_path() is not None, "chromium", "run as root: bash scripts/install_test_tools.sh")
    require_tool((package / module).is_file() and (_three(package) / "build").is_dir(), package.name,
                 "run: bash scripts/install_test_tools.sh")


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".js": "text/javascript", ".glb": "model/gltf-binary"}

    def __init__(self, *args, routes: dict, **kwargs):
        self.routes = routes
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        path = path.split("?")[0]
        prefix = next(p for p in self.routes if path.startswith(p))
        return str(self.routes[prefix] / (path[len(prefix):] or "index.html"))

    def log_message(self, *args) -> None:
        pass


def _play(site: Path, package: Path, seconds: float) -> tuple[dict, list]:
    """Serve ``site`` (its index.html), ``package`` under /<its name>/ and its three.js under /three/; open the
    page and wait until it sets ``window.kpanimResult.state`` to done or error."""
    from chromium_cdp import Chromium

    routes = {"/three/": _three(package), f"/{package.name}/": package, "/": site}
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, routes=routes))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with Chromium(480, 480) as browser:
            browser.open(f"http://127.0.0.1:{server.server_address[1]}/index.html")
            deadline = time.monotonic() + seconds + 60
            while time.monotonic() < deadline:
                browser.pump(0.5)
                if browser.evaluate("window.kpanimResult && window.kpanimResult.state") in ("done", "error"):
                    break
            return browser.evaluate("window.kpanimResult") or {}, list(browser.console)
    finally:
        server.shutdown()
        server.server_close()


def _best_lag(trace_t, trace, times, curve, lags):
    """(r, lag): the correlation of ``trace`` with ``curve`` played ``lag`` s late, at its best lag."""
    best = (-2.0, 0.0)
    for lag in lags:
        ref = np.interp(trace_t - lag, times, curve, left=np.nan, right=np.nan)
        ok = np.isfinite(ref)
        if ok.sum() > 20 and trace[ok].std() > 0:
            best = max(best, (float(np.corrcoef(trace[ok], ref[ok])[0, 1]), float(lag)))
    return best


@pytest.mark.browser
def test_talkinghead_plays_the_arkit_json(tmp_path):
    import soundfile as sf

    _require_player(TALKINGHEAD, "modules/talkinghead.mjs")
    # 5 s, the mouth opening once a second; the head turns, nods and tilts at different slow rates.
    anim = make_animation(125, jaw_hz=1.0)
    t = np.arange(anim.n_frames) / anim.fps
    pose = anim.head_pose.copy()
    pose[:, :3] = np.stack([0.15 * np.sin(2 * np.pi * 0.4 * t), 0.2 * np.sin(2 * np.pi * 0.25 * t),
                            0.12 * np.sin(2 * np.pi * 0.33 * t + 1)], 1)
    anim = anim.replace(head_pose=pose.astype(np.float32))
    arkit.write_curves(anim, tmp_path / "anim.arkit.json", arkit.animation_curves(anim))
    (tmp_path / "avatar.glb").write_bytes(build_rpm_glb())
    sr = 16000
    sf.write(tmp_path / "speech.wav", 0.1 * np.sin(2 * np.pi * 220 * np.arange(int(anim.duration * sr)) / sr), sr)
    (tmp_path / "index.html").write_text((PAGES / "talkinghead.html").read_text())

    result, console = _play(tmp_path, TALKINGHEAD, anim.duration)
    assert result.get("state") == "done", f"TalkingHead did not play it: {result.get('error')}; console: {console}"
    errors = [m for m in console if m["level"] == "error"]
    assert errors == [], errors

    trace = np.array(result["trace"])
    trace_t = trace[:, 0] - result["t0"]
    times = np.arange(anim.n_frames) / anim.fps
    lags = np.arange(-0.1, 0.31, 0.02)  # TalkingHead eases each weight towards its target: it follows late
    curves = dict(zip(arkit.NAMES, arkit.animation_curves(anim).T))
    for k, name in enumerate(result["shapes"]):
        if name.startswith("eyeBlink"):
            continue  # TalkingHead adds its own blinks on top
        r, lag = _best_lag(trace_t, trace[:, 1 + k], times, curves[name], lags)
        assert r > 0.9 and -0.05 <= lag <= 0.25, f"{name}: r {r:.3f} at lag {lag:+.2f} s"
    jaw = trace[:, 1 + result["shapes"].index("jawOpen")]
    playing = (trace_t > 0.3) & (trace_t < anim.duration - 0.3)
    assert jaw[playing].max() == pytest.approx(curves["jawOpen"].max(), abs=0.03), "weights arrive unscaled"

    # The head: TalkingHead's Head bone (local Euler X, Y, Z of an avatar facing +Z) follows pitch, yaw, roll
    # in sense and size, on top of the pose it holds.
    angles = arkit.head_angles(anim.head_pose)
    for j, (axis, column) in enumerate((("x", 1), ("y", 0), ("z", 2))):
        bone = trace[:, 1 + len(result["shapes"]) + j]
        r, lag = _best_lag(trace_t, bone, times, angles[:, column], lags)
        assert r > 0.9, f"Head bone {axis}: r {r:.3f}"
        ref = np.interp(trace_t[playing] - lag, times, angles[:, column])
        slope = np.polyfit(ref, bone[playing], 1)[0]
        assert 0.8 < slope < 1.2, f"Head bone {axis}: {slope:.2f} rad per rad"


@pytest.mark.browser
def test_three_vrm_applies_the_arkit_json_to_a_perfect_sync_model(tmp_path):
    _require_player(THREE_VRM, "lib/three-vrm.module.js")
    anim = make_animation(20)
    t = np.arange(anim.n_frames) / anim.fps
    pose = anim.head_pose.copy()
    pose[:, :3] = np.stack([0.3 * np.sin(2 * np.pi * t), 0.4 * np.cos(2 * np.pi * t), 0.2 * np.sin(4 * t)], 1)
    anim = anim.replace(head_pose=pose.astype(np.float32))
    doc = json.loads(arkit.write_curves(anim, tmp_path / "anim.arkit.json").read_text())
    (tmp_path / "avatar.vrm").write_bytes(build_vrm())
    (tmp_path / "index.html").write_text((PAGES / "vrm.html").read_text())

    result, console = _play(tmp_path, THREE_VRM, 1)
    assert result.get("state") == "done", f"three-vrm failed: {result.get('error')}; console: {console}"
    problems = [m for m in console if m["level"] in ("error", "warning", "warn")]
    assert problems == [], problems
    assert set(result["expressions"]) >= {n[0].upper() + n[1:] for n in arkit.APPLE_NAMES}
    frames = result["frames"]
    assert len(frames) == anim.n_frames
    # every expression reaches its morph target at the file's weight
    weights = np.array([f["weights"] for f in frames])
    expected = np.array([doc["blendshapes"][name] for name in arkit.APPLE_NAMES]).T
    np.testing.assert_allclose(weights, expected, atol=1e-6)
    assert expected[:, list(arkit.APPLE_NAMES).index("jawOpen")].std() > 0.01, "the test moves the jaw"
    # the head bone turns as the file says: R = Ry(yaw) Rx(pitch) Rz(roll) of a model facing +Z (VRM 1.0)
    rot = Rotation.from_euler("YXZ", np.stack([doc["head"][k] for k in ("yaw", "pitch", "roll")], 1))
    np.testing.assert_allclose([f["forward"] for f in frames], rot.apply([0, 0, 1]), atol=1e-5)
    np.testing.assert_allclose([f["up"] for f in frames], rot.apply([0, 1, 0]), atol=1e-5)
    np.testing.assert_allclose(rot.as_rotvec(), anim.head_pose[:, :3], atol=1e-5)  # the animation's own turn
