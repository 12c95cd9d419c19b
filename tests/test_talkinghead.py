"""A kpanim .arkit.json plays on a TalkingHead.js avatar with the one line docs/ARKIT.md gives.

TalkingHead.js (npm ``@met4citizen/talkinghead``, pinned in package.json) runs in headless Chromium with
its own three.js, loads an avatar in Ready Player Me's layout (built by ``rpm_avatar``: no download) and
plays the speech with our curves as its ``blendshapes`` animation template. The page records, per drawn
frame, the audio clock, the morph-target weights TalkingHead applied and its Head bone's rotation.
"""

from __future__ import annotations

import functools
import http.server
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_animation
from gltf_testlib import require_tool
from rpm_avatar import build_glb

from kpanim.animate import arkit

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "node_modules" / "@met4citizen" / "talkinghead"
PAGE = Path(__file__).parent / "js" / "talkinghead.html"


def _three() -> Path:
    """The three.js TalkingHead resolves (npm nests its own when the project's is another version)."""
    nested = PACKAGE / "node_modules" / "three"
    return nested if nested.is_dir() else ROOT / "node_modules" / "three"


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                      ".js": "text/javascript", ".glb": "model/gltf-binary"}

    def __init__(self, *args, site: Path, **kwargs):
        self.routes = {"/three/": _three(), "/talkinghead/": PACKAGE, "/": site}
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        path = path.split("?")[0]
        prefix = next(p for p in self.routes if path.startswith(p))
        return str(self.routes[prefix] / (path[len(prefix):] or "index.html"))

    def log_message(self, *args) -> None:
        pass


def _play(site: Path, seconds: float) -> tuple[dict, list]:
    from chromium_cdp import Chromium

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, site=site))
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
    from chromium_cdp import chromium_path

    require_tool(chromium_path() is not None, "chromium", "run as root: bash scripts/install_test_tools.sh")
    require_tool((PACKAGE / "modules" / "talkinghead.mjs").is_file() and (_three() / "build").is_dir(),
                 "@met4citizen/talkinghead", "run: bash scripts/install_test_tools.sh")
    # 5 s, the mouth opening once a second; the head turns, nods and tilts at different slow rates.
    anim = make_animation(125, jaw_hz=1.0)
    t = np.arange(anim.n_frames) / anim.fps
    pose = anim.head_pose.copy()
    pose[:, :3] = np.stack([0.15 * np.sin(2 * np.pi * 0.4 * t), 0.2 * np.sin(2 * np.pi * 0.25 * t),
                            0.12 * np.sin(2 * np.pi * 0.33 * t + 1)], 1)
    anim = anim.replace(head_pose=pose.astype(np.float32))
    arkit.write_curves(anim, tmp_path / "anim.arkit.json", arkit.animation_curves(anim))
    (tmp_path / "avatar.glb").write_bytes(build_glb())
    sr = 16000
    sf.write(tmp_path / "speech.wav", 0.1 * np.sin(2 * np.pi * 220 * np.arange(int(anim.duration * sr)) / sr), sr)
    (tmp_path / "index.html").write_text(PAGE.read_text())

    result, console = _play(tmp_path, anim.duration)
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
