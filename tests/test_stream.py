"""Real-time streaming: the Stream API, the WebSocket server and its clients, the live page.

Behaviour only (no timings: benchmarks/bench_stream.py measures speed and latency). The model is a tiny
MODA trained here on the synthetic dataset with the streaming front-end (whisper_l2_nopad)."""

from __future__ import annotations

import asyncio
import json
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from kpanim.commands.cli import cli


@pytest.fixture(scope="session")
def stream_model(synth_dataset, tiny_model, tmp_path_factory):
    """A tiny MODA with an unpadded Whisper-layers front-end (+ the tiny FaCo-Net)."""
    from model_synth import TINY_MODA

    out = tmp_path_factory.mktemp("stream_model")
    res = CliRunner().invoke(cli, ["train", "moda", "--data", str(synth_dataset), "--frontend", "whisper_l2_nopad",
                                   "--steps", "3", "--batch-size", "2", "--window", "40", "--audio-variants", "1",
                                   "--no-plot", "--out", str(out), *TINY_MODA])
    assert res.exit_code == 0, res.output
    shutil.copy(tiny_model.parent / "faco.pt", out / "faco.pt")
    from kpanim.animate.bundle import load_model

    return load_model(out / "moda.pt")


@pytest.fixture(scope="session")
def speech(synth_dataset):
    from model_synth import speechlike

    return speechlike(2.3, 5)[0]


def _run_stream(model, audio, chunk, **kw):
    from kpanim.animate.stream import Stream, StreamFrames

    st = Stream(model, **kw)
    parts = [st.push(audio[i:i + chunk]) for i in range(0, len(audio), chunk)]
    parts.append(st.close())
    return StreamFrames.concat(parts)


# ------------------------------------------------------------------------------------------ Stream API
def test_stream_frames_are_final_timed_and_complete(stream_model, speech):
    from kpanim.animate.stream import FRAME_SAMPLES, Stream

    st = Stream(stream_model, seed=1)
    seen, arrival = [], []
    for i in range(0, len(speech), 320):
        out = st.push(speech[i:i + 320])
        seen.extend(out.index.tolist())
        arrival.extend([i + 320] * len(out))
        if len(out):  # a frame is final only once its look-ahead has arrived
            assert (out.index * FRAME_SAMPLES + st.lookahead_samples <= i + 320).all()
            assert out.arkit.shape == (len(out), 52) and out.dense.shape == (len(out), 478, 3)
            assert np.allclose(out.time, out.index / 25)
    rest = st.close()
    seen.extend(rest.index.tolist())
    from kpanim.speech.mel import n_frames_for

    assert seen == list(range(n_frames_for(len(speech), 25)))  # every frame once, in order, like predict
    assert st.close().index.size == 0
    with pytest.raises(Exception, match="closed"):
        st.push(speech[:100])


def test_stream_is_deterministic_and_chunking_free(stream_model, speech):
    from kpanim.animate.stream import StreamFrames

    a = _run_stream(stream_model, speech, 320, seed=4)
    b = _run_stream(stream_model, speech, 1234, seed=4)
    c = _run_stream(stream_model, (speech * 32767).astype(np.int16), 700, seed=4)
    for f in StreamFrames.FIELDS:
        assert np.array_equal(getattr(a, f), getattr(b, f)), f
        assert np.allclose(getattr(a, f), getattr(c, f), atol=2e-3), f  # int16 quantisation only
    d = _run_stream(stream_model, speech, 320, seed=5)
    assert not np.allclose(a.head_pose, d.head_pose)  # the seed drives head motion
    assert np.array_equal(a.lip, d.lip) or np.abs(a.lip - d.lip).max() < 1e-3  # lips: audio-driven only
    anim = a.to_animation({"x": 1})
    assert anim.n_frames == len(a) and anim.arkit.shape == (len(a), 52)


def test_stream_resamples_other_rates(stream_model, speech):
    from scipy.signal import resample_poly

    a = _run_stream(stream_model, speech, 320)
    x48 = resample_poly(speech, 3, 1).astype(np.float32)
    b = _run_stream(stream_model, x48, 960, sample_rate=48000)
    assert abs(len(a) - len(b)) <= 1
    n = min(len(a), len(b))
    assert np.corrcoef(a.lip[:n, :, 1].ravel(), b.lip[:n, :, 1].ravel())[0, 1] > 0.9


def test_stream_rejects_bad_input_and_unstreamable_models(stream_model, tiny_model, tmp_path):
    import torch

    from kpanim.animate.bundle import load_model
    from kpanim.animate.stream import Stream
    from kpanim.errors import KpanimError

    st = Stream(stream_model)
    for bad, msg in ((np.zeros((10, 2), np.float32), "mono"), (np.zeros(10, np.int32), "float32"),
                     (np.array([np.nan], np.float32), "NaN")):
        with pytest.raises(KpanimError, match=msg):
            st.push(bad)
    with pytest.raises(KpanimError, match="lookahead"):
        Stream(stream_model, lookahead=0.05)
    ckpt = torch.load(stream_model.path, weights_only=False)
    ckpt["info"]["frontend"]["name"] = "whisper_l2"  # padded to 30 s: cannot stream
    torch.save(ckpt, tmp_path / "moda.pt")
    shutil.copy(tiny_model.parent / "faco.pt", tmp_path / "faco.pt")
    with pytest.raises(KpanimError, match="cannot stream.*whisper_l<layers>_nopad"):
        Stream(load_model(tmp_path / "moda.pt"))


# ------------------------------------------------------------------------------------------ the server
@pytest.fixture
def server(stream_model):
    from kpanim.serving.server import StreamServer

    srv = StreamServer(stream_model, port=0, max_streams=2, idle_timeout=60)
    with srv.running():
        yield srv


def test_python_client_through_the_server(server, stream_model, speech, tmp_path):
    from kpanim.serving.client import frames_to_animation, stream_audio

    res = asyncio.run(stream_audio(server.url, speech, realtime=False, chunk_ms=30, seed=2))
    pcm = (np.clip(speech, -1, 1) * 32767).astype(np.int16)  # what the client sends
    direct = _run_stream(stream_model, pcm, 480, seed=2)
    assert res["hello"]["fps"] == 25 and len(res["hello"]["arkit_names"]) == 52
    assert res["index"].tolist() == direct.index.tolist()
    anim = frames_to_animation(res["index"], res["blocks"])
    assert np.allclose(anim.dense, direct.dense, atol=1e-5)
    assert np.allclose(anim.arkit, direct.arkit, atol=1e-4)
    # JSON form: the same ARKit weights (Apple's order), rounded
    js = asyncio.run(stream_audio(server.url, speech, realtime=False, seed=2, fmt="json", streams=["arkit", "head"]))
    assert set(js["blocks"]) == {"arkit", "head"}
    assert np.allclose(js["blocks"]["arkit"], res["blocks"]["arkit"], atol=1e-4)
    # the CLI client: real-time pace, summary line, saved frames
    from kpanim.speech.audio import save_wav

    wav = save_wav(tmp_path / "s.wav", speech[:16000])
    out = CliRunner().invoke(cli, ["stream", str(wav), "--server", server.url, "-o", str(tmp_path / "f.npz")])
    assert out.exit_code == 0, out.output
    last = out.output.strip().splitlines()[-1]
    assert last.startswith("latency p50 ") and last.endswith("; 25 frames"), last
    from kpanim.formats.animation import Animation

    assert Animation.load(tmp_path / "f.npz").n_frames == 25


def test_cli_stream_livelink_sends_one_unreal_packet_per_frame(server, speech, tmp_path):
    """``kpanim stream --livelink``: a UDP socket gets one Live Link Face packet per frame, in order, which a
    reader written from Unreal's receiver rules (tests/livelink_reader.py) accepts; every value equals the
    .arkit.csv written by -o, by name (Unreal's order swaps JawLeft/JawRight and MouthLeft/MouthRight)."""
    import csv
    import socket

    from livelink_reader import MIN_BLEND_SHAPE_PACKET_SIZE, read_packet

    from kpanim.speech.audio import save_wav

    wav = save_wav(tmp_path / "s.wav", speech[:16000])

    def run(*args) -> tuple[str, list[bytes]]:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as recv:
            recv.bind(("127.0.0.1", 0))
            out = CliRunner().invoke(cli, ["stream", str(wav), "--server", server.url, "--fast", "--livelink",
                                           f"127.0.0.1:{recv.getsockname()[1]}", *args])
            assert out.exit_code == 0, out.output
            recv.settimeout(0.5)
            got = []
            try:
                while True:
                    got.append(recv.recv(4096))
            except TimeoutError:
                return out.output, got

    output, data = run("--livelink-subject", "MetaHuman_01", "-o", str(tmp_path / "f.arkit.csv"))
    with open(tmp_path / "f.arkit.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    n = len(rows)
    assert n == 25 and "Sent 25 Live Link packets to 127.0.0.1:" in output and "'MetaHuman_01'" in output
    assert len(data) == n and all(len(d) > MIN_BLEND_SHAPE_PACKET_SIZE for d in data)
    packets = [read_packet(d) for d in data]
    assert [p["frame"] for p in packets] == list(range(n))  # one per frame, in order
    assert {(p["rate"], p["subframe"], p["subject"]) for p in packets} == {((25, 1), 0.0, "MetaHuman_01")}
    assert len({p["device_id"] for p in packets}) == 1 and len(packets[0]["device_id"]) == 36
    names = [k for k in rows[0] if k not in ("Timecode", "BlendShapeCount")]
    assert sorted(names) == sorted(packets[0]["values"])
    for name in names:  # the CSV has 6 decimals; the packets float32
        csv_values = np.array([float(r[name]) for r in rows])
        assert np.allclose([p["values"][name] for p in packets], csv_values, atol=1.5e-6), name
    jaw = np.array([[p["values"]["JawLeft"], p["values"]["JawRight"]] for p in packets])
    assert np.abs(jaw[:, 0] - jaw[:, 1]).max() > 1e-3  # a swap would be seen
    assert np.abs([p["values"]["HeadYaw"] for p in packets]).max() > 0  # the head and eyes move
    assert np.abs([p["values"]["LeftEyeYaw"] for p in packets]).max() > 0
    # without -o the client asks for the dense face too (eye angles): the same packets
    output, again = run()
    assert [(p["frame"], p["values"]) for p in map(read_packet, again)] == [(p["frame"], p["values"]) for p in packets]
    assert read_packet(again[0])["subject"] == "kpanim"  # the default subject
    assert output.strip().splitlines()[-2].startswith("Sent 25 Live Link packets to 127.0.0.1:")


def _wait_idle(server, seconds: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + seconds
    while server.active and time.monotonic() < deadline:  # the handler's cleanup runs just after the close
        time.sleep(0.02)


def _raw(url, *messages):
    """Send messages on a raw connection; returns (received messages, close code)."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async def go():
        got = []
        async with connect(url, max_size=None) as ws:
            try:
                for m in messages:
                    await ws.send(m)
                async for msg in ws:
                    got.append(msg)
            except ConnectionClosed:
                pass
            return got, ws.close_code

    return asyncio.run(go())


@pytest.mark.parametrize("messages, code, error", [
    (["not json"], 1003, "bad_message"),
    ([json.dumps({"type": "dance"})], 1008, "bad_message"),
    ([json.dumps({"type": "start", "format": "xml"})], 1008, "bad_start"),
    ([json.dumps({"type": "start", "sample_rate": 3})], 1008, "bad_start"),
    ([json.dumps({"type": "start", "colour": 1})], 1008, "bad_start"),
    ([b"\x00\x01\x02"], 1003, "bad_audio"),
    ([b"\x00" * 70000], 1009, "too_big"),
    ([b"\x00" * 640, json.dumps({"type": "start"})], 1008, "bad_message"),
])
def test_server_bad_messages_get_an_error_and_a_clean_close(server, messages, code, error):
    got, close_code = _raw(server.url, *messages)
    hello, *rest = [json.loads(m) for m in got if isinstance(m, str)]
    assert hello["type"] == "hello"
    assert rest[-1]["type"] == "error" and rest[-1]["code"] == error and rest[-1]["message"]
    assert close_code == code
    got, close_code = _raw(server.url, b"\x00" * 6400, json.dumps({"type": "end"}))  # the server is fine
    assert close_code == 1000 and json.loads(got[-1]) == {"type": "end", "frames": 5}
    _wait_idle(server)
    assert server.active == 0


def test_server_refuses_streams_past_its_limit_and_survives_disconnects(server, speech):
    from websockets.asyncio.client import connect

    from kpanim.errors import KpanimError
    from kpanim.serving.client import stream_audio

    async def go():
        a = await connect(server.url)
        b = await connect(server.url)
        await a.recv(), await b.recv()  # both served (hello)
        with pytest.raises(KpanimError, match="server busy: it serves at most 2 streams"):
            await stream_audio(server.url, speech, realtime=False)
        c = await connect(server.url)
        msg = json.loads(await c.recv())
        await asyncio.wait_for(c.wait_closed(), 10)
        code = c.close_code
        await a.send(b"\x00" * 3200)
        a.transport.abort()  # abrupt disconnect mid-stream
        await b.close()
        return msg, code

    msg, code = asyncio.run(go())
    assert msg["type"] == "error" and msg["code"] == "busy" and code == 1013
    _wait_idle(server)
    assert server.active == 0 and server.refused == 2
    res = asyncio.run(stream_audio(server.url, speech, realtime=False))  # slots were freed
    assert res["n_frames"] == len(_run_stream(server.model, speech, 16000))


def test_cli_serve_prints_its_address_and_stream_errors_are_one_line(stream_model, tmp_path, speech):
    import subprocess
    import sys

    from kpanim.speech.audio import save_wav

    wav = save_wav(tmp_path / "s.wav", speech[:8000])
    proc = subprocess.Popen([sys.executable, "-m", "kpanim.commands.cli", "serve", "--port", "0", "--model", stream_model.path,
                             "--max-streams", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        assert line.startswith("serving ws://127.0.0.1:"), (line, proc.stderr.read() if proc.poll() else "")
        res = CliRunner().invoke(cli, ["stream", str(wav), "--server", line.split()[1], "--fast"])
        assert res.exit_code == 0 and res.output.strip().endswith("12 frames (--fast: no latency)"), res.output
    finally:
        proc.terminate()
        proc.wait(10)
    for args, msg in ((["--server", "ws://127.0.0.1:9"], "cannot connect to ws://127.0.0.1:9"),
                      (["--server", "http://x"], "not a WebSocket address"),
                      (["-o", str(tmp_path / "f.txt")], "must be a .npz")):
        res = CliRunner().invoke(cli, ["stream", str(wav), *args])
        assert res.exit_code == 1 and msg in res.output and "Traceback" not in res.output, res.output
        assert len(res.output.strip().splitlines()) == 1
    res = CliRunner().invoke(cli, ["serve", "--model", str(tmp_path / "none.pt")])
    assert res.exit_code == 1 and "no such model" in res.output


# ------------------------------------------------------------------------------------------ live page
@pytest.mark.browser
def test_live_page_streams_a_fake_microphone_and_moves_the_face(server, stream_model, tmp_path):
    """... and the --avatar character next to it: its jawOpen morph target and head bone follow the stream."""
    from avatars import build_rpm_glb
    from chromium_cdp import FLAGS, Chromium, chromium_path
    from gltf_testlib import require_tool
    from scipy.spatial.transform import Rotation

    from kpanim.animate.predict import default_subject_arrays
    from kpanim.serving.viewer import ViewerServer
    from kpanim.speech.audio import save_wav
    from kpanim.speech.tts import synthesize

    require_tool(chromium_path() is not None, "chromium", "run as root: bash scripts/install_test_tools.sh")
    wav = save_wav(tmp_path / "mic.wav", np.concatenate([synthesize("Hello there, how are you today?")] * 2))
    extra = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
             f"--use-file-for-fake-audio-capture={wav}"]
    FLAGS.extend(extra)
    try:
        live = {"server": server.url, "neutral": default_subject_arrays(stream_model.stats)[0]}
        with ViewerServer(b"", title="mic", live=live, avatar=build_rpm_glb()) as page, Chromium(900, 600) as browser:
            browser.open(page.url)
            assert page.loaded.wait(60), f"page did not load; console: {browser.console}"
            browser.evaluate("document.getElementById('start').click()")
            state = None
            for _ in range(60):
                browser.pump(0.5)
                state = browser.evaluate("window.kpanimLive")
                if state["received"] >= 50 and state["shown"] >= 25:
                    break
            state, avatar = browser.evaluate("[window.kpanimLive, window.kpanimAvatar]")  # the same frame
            errors = [m for m in browser.console if m["level"] == "error"]
    finally:
        for flag in extra:
            FLAGS.remove(flag)
    assert state["state"] == "streaming" and state["error"] is None, state
    assert state["received"] >= 50 and state["shown"] >= 25, state
    assert state["lipTravel"] > 1e-4, state  # the mouth moved
    # the avatar: all 52 names bound (the stream sends tongueOut too), its jaw moved, its head bone turned
    assert avatar["matched"] == 52 and avatar["missing"] == [] and avatar["headBone"] == "Head", avatar
    assert state["avatarJaw"][1] - state["avatarJaw"][0] > 0.02, state
    assert avatar["influences"]["jawOpen"] == pytest.approx(state["jawOpen"], abs=1e-6)  # what the chart shows
    # the head bone (rest: identity) turned by the frame's head angles
    turn = Rotation.from_quat(avatar["headWorld"]) * Rotation.from_euler("YXZ", state["head"]).inv()
    assert turn.magnitude() < 1e-4 and any(state["head"]), (avatar, state)
    assert errors == [] and page.errors() == [], (errors, page.errors())


def test_the_shipped_default_model_streams(speech):
    from kpanim.animate.stream import Stream, StreamFrames
    from kpanim.nets.precision import cpu_has_bf16

    st = Stream(precision="float32")
    assert st.model.frontend.name.endswith("_nopad") and st.precision == "float32"
    out = StreamFrames.concat([st.push(speech[:24000]), st.close()])
    assert out.index.tolist() == list(range(len(out))) and len(out) == 38
    assert np.ptp(out.lip[:, :, 1], axis=0).max() > 1e-4  # the mouth moves
    assert Stream(st.model).precision == ("bfloat16" if cpu_has_bf16() else "float32")


def test_server_closes_idle_connections(stream_model):
    from kpanim.serving.server import StreamServer

    srv = StreamServer(stream_model, port=0, max_streams=1, idle_timeout=0.5)
    with srv.running():
        got, code = _raw(srv.url)
        _wait_idle(srv)
        assert srv.active == 0
    assert code == 1008 and json.loads(got[-1])["code"] == "idle"
