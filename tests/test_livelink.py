"""Live Link Face packets (kpanim.serving.livelink): the encoding against hand-written bytes, values placed
by name, addresses. The end-to-end run (a real ``kpanim stream --livelink`` received on a UDP socket) is in
tests/test_stream.py, next to the test server."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
from livelink_reader import MIN_BLEND_SHAPE_PACKET_SIZE, UNREAL_ORDER, Dropped, read_packet

from kpanim.errors import KpanimError
from kpanim.serving import livelink


def test_encode_packet_matches_hand_written_bytes():
    values = np.zeros(61)
    values[0], values[15], values[60] = 1.0, 0.5, -2.0  # EyeBlinkLeft, JawLeft, RightEyeRoll
    got = livelink.encode_packet(values, frame=7, rate=(25, 1), subject="s", device_id="d")
    want = bytes.fromhex(
        "06"                      # packet version
        "00000001" "64"           # FString device id "d": int32 byte length, UTF-8
        "00000001" "73"           # FString subject "s"
        "00000007" "00000000"     # FQualifiedFrameTime: frame 7, sub-frame 0.0f
        "00000019" "00000001"     # rate 25 / 1
        "3d"                      # 61 values
        + "3f800000" + "00000000" * 14 + "3f000000" + "00000000" * 44 + "c0000000")
    assert got == want
    assert read_packet(got)["device_id"] == "d"
    # Unreal ignores datagrams of <= 266 bytes (its estimate counts 2 bytes per empty string); the int32
    # length prefixes alone keep even empty strings above it: 270 bytes
    empty = livelink.encode_packet(values, 7, (25, 1), "", "")
    assert len(empty) == 270 > MIN_BLEND_SHAPE_PACKET_SIZE and read_packet(empty)["subject"] == ""
    sender_like = livelink.encode_packet(values, 7, (25, 1), "s", livelink.device_id_for("s"))
    pkt = read_packet(sender_like)
    assert pkt["values"]["JawLeft"] == 0.5 and pkt["values"]["RightEyeRoll"] == -2.0 and pkt["frame"] == 7
    for bad in (sender_like[:266], b"\x05" + sender_like[1:], sender_like[:-1]):  # the reader drops what Unreal does
        with pytest.raises(Dropped):
            read_packet(bad)


def test_non_ascii_subject_is_counted_in_utf8_bytes():
    pkt = livelink.encode_packet(np.zeros(61), 0, (25, 1), "Gesicht-Ä", "D" * 36)
    assert pkt[1 + 4 + 36:1 + 4 + 36 + 4] == (10).to_bytes(4, "big")  # 9 characters, 10 bytes
    assert read_packet(pkt)["subject"] == "Gesicht-Ä"


def test_values_are_placed_by_name_not_position():
    """Unreal's order has JawLeft before JawRight and MouthLeft before MouthRight; Apple's the reverse."""
    from kpanim.animate.arkit import APPLE_NAMES, ROTATION_COLUMNS

    assert list(livelink.LIVELINK_NAMES) == UNREAL_ORDER
    apple = (np.arange(52, dtype=np.float32)[None] + 1) / 100  # every weight distinct
    head = np.array([[0.1, -0.2, 0.3]])
    eyes = np.array([[0.01, 0.02, 0.0, -0.03, -0.04, 0.0]])
    values = livelink.frame_values(apple, head, eyes)
    pkt = read_packet(livelink.encode_packet(values[0], 0, (25, 1), "kpanim", livelink.device_id_for("kpanim")))
    for j, name in enumerate(APPLE_NAMES):
        assert pkt["values"][name[0].upper() + name[1:]] == pytest.approx(apple[0, j]), name
    for k, name in enumerate(ROTATION_COLUMNS):
        assert pkt["values"][name] == pytest.approx([*head[0], *eyes[0]][k]), name
    assert pkt["values"]["JawLeft"] == pytest.approx(apple[0, APPLE_NAMES.index("jawLeft")])
    assert APPLE_NAMES.index("jawLeft") != UNREAL_ORDER.index("JawLeft")  # the case the mapping is for


def test_frame_rate_and_device_id():
    assert livelink.frame_rate(25) == (25, 1) and livelink.frame_rate(30000 / 1001) == (30000, 1001)
    dev = livelink.device_id_for("kpanim")
    assert len(dev) == 36 and dev == livelink.device_id_for("kpanim") != livelink.device_id_for("other")


@pytest.mark.parametrize("text, want", [
    ("192.168.1.20", ("192.168.1.20", 11111)), ("localhost:9000", ("localhost", 9000)),
    ("[::1]:11112", ("::1", 11112)), ("::1", ("::1", 11111)), ("[fe80::1]", ("fe80::1", 11111)),
])
def test_parse_target(text, want):
    assert livelink.parse_target(text) == want


@pytest.mark.parametrize("text, msg", [
    ("host:notaport", "is not a number"), ("host:70000", "out of range"), ("host:0", "out of range"),
    (":11111", "no host"), ("[::1", "malformed"), ("host:", "is not a number"),
])
def test_parse_target_rejects_bad_addresses(text, msg):
    with pytest.raises(KpanimError, match=msg):
        livelink.parse_target(text)


def test_sender_resolves_at_once_and_sends_one_packet_per_frame():
    with pytest.raises(KpanimError, match="cannot resolve host"):
        livelink.LiveLinkSender("no-such-host.invalid")
    for bad in ("", " ", "a\nb", "x" * 300):
        with pytest.raises(KpanimError, match="--livelink-subject"):
            livelink.LiveLinkSender("127.0.0.1", subject=bad)
    recv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    recv.bind(("127.0.0.1", 0))
    recv.settimeout(5)
    n = 4
    blocks = {"arkit": np.full((n, 52), 0.25, np.float32), "head": np.zeros((n, 3), np.float32),
              "dense": np.zeros((n, 1434), np.float32)}
    with recv, livelink.LiveLinkSender(f"127.0.0.1:{recv.getsockname()[1]}", subject="Face", fps=30) as sender:
        sender.send_blocks(np.arange(10, 10 + n), blocks)
        got = [read_packet(recv.recv(2048)) for _ in range(n)]
    assert sender.sent == n and [p["frame"] for p in got] == [10, 11, 12, 13]
    assert {p["subject"] for p in got} == {"Face"} and {p["rate"] for p in got} == {(30, 1)}
    assert got[0]["values"]["JawOpen"] == 0.25 and got[0]["values"]["TongueOut"] == 0.25  # as given
    with pytest.raises(KpanimError, match="lack"):
        livelink.block_values({"arkit": blocks["arkit"]})


def _receive_times(recv, n, out):
    for _ in range(n):
        data = recv.recv(2048)
        out.append((time.monotonic(), read_packet(data)["frame"]))


@pytest.mark.parametrize("pace", [True, False])
def test_paced_sender_spreads_bursts_evenly(pace):
    """A live stream delivers frames 3 at a time every 120 ms, and Unreal stamps packets on arrival: the paced
    sender spaces them one frame period (40 ms) apart; unpaced, each burst arrives at once."""
    recv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    recv.bind(("127.0.0.1", 0))
    recv.settimeout(10)
    blocks = {"arkit": np.zeros((3, 52), np.float32), "head": np.zeros((3, 3), np.float32),
              "dense": np.zeros((3, 1434), np.float32)}
    arrivals = []
    listener = threading.Thread(target=_receive_times, args=(recv, 18, arrivals))
    with recv:
        listener.start()
        sender = livelink.LiveLinkSender(f"127.0.0.1:{recv.getsockname()[1]}", fps=25, pace=pace, hop_frames=3)
        for burst in range(6):  # 18 frames, as a server sends them
            sender.send_blocks(np.arange(3 * burst, 3 * burst + 3), blocks)
            time.sleep(0.12)
        sender.close()  # sends what is still queued first
        listener.join(10)
    assert [f for _, f in arrivals] == list(range(18)) and sender.sent == 18
    gaps = np.diff([t for t, _ in arrivals]) * 1000  # ms
    if pace:
        assert 30 < np.median(gaps) < 50 and (gaps < 10).sum() <= 1, np.round(gaps)
    else:
        assert (gaps < 10).sum() >= 10, np.round(gaps)  # two of every three packets come together
