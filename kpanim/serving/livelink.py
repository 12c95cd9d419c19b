"""Live Link Face over the network: kpanim's ARKit curves as the UDP packets the iPhone app "Live Link
Face" sends to Unreal Engine's Apple ARKit Live Link source (``kpanim stream --livelink HOST[:PORT]``).

The packet is what Unreal's receiver reads (``FAppleARKitLiveLinkRemoteListener::Tick`` in
Engine/Plugins/Runtime/AR/AppleAR/AppleARKitFaceSupport/Source/AppleARKitFaceSupport/Private/
AppleARKitLiveLinkSource.cpp), serialised in network byte order (big-endian) as its
``FNboSerializeToBuffer`` writes it::

    uint8    packet version, 6 (the receiver drops any other)
    FString  device id    (int32 byte length + UTF-8 bytes, no terminator; FNames travel as strings)
    FString  subject name (the same)
    int32    frame number  } FQualifiedFrameTime: the frame's time
    float32  sub-frame     }
    int32    rate numerator, int32 rate denominator
    uint8    61, the number of values (the receiver drops any other count)
    float32  × 61 values in :data:`LIVELINK_NAMES` order (Unreal's EARFaceBlendShape)

The receiver also drops datagrams of at most :data:`MIN_PACKET_SIZE` (266) bytes; with the strings'
int32 length prefixes a packet has at least 270 (empty names), and the sender's device id is a
36-character UUID, as the app's.
"""

from __future__ import annotations

import queue
import socket
import struct
import threading
import time
import unicodedata
import uuid
from fractions import Fraction

import numpy as np

from ..errors import KpanimError

PACKET_VERSION = 6  # BLEND_SHAPE_PACKET_VER
DEFAULT_PORT = 11111  # the Apple ARKit Live Link source's default port
DEFAULT_SUBJECT = "kpanim"
MAX_SUBJECT_BYTES = 256  # the receiver's buffer holds 256 TCHARs each for subject and device id

# EARFaceBlendShape's order (Unreal's ARTypes.h). It differs from Apple's (and the CSV's): JawLeft comes
# before JawRight and MouthLeft before MouthRight, so values are placed by name, never by position.
LIVELINK_NAMES = (
    "EyeBlinkLeft", "EyeLookDownLeft", "EyeLookInLeft", "EyeLookOutLeft", "EyeLookUpLeft", "EyeSquintLeft",
    "EyeWideLeft", "EyeBlinkRight", "EyeLookDownRight", "EyeLookInRight", "EyeLookOutRight", "EyeLookUpRight",
    "EyeSquintRight", "EyeWideRight", "JawForward", "JawLeft", "JawRight", "JawOpen", "MouthClose", "MouthFunnel",
    "MouthPucker", "MouthLeft", "MouthRight", "MouthSmileLeft", "MouthSmileRight", "MouthFrownLeft",
    "MouthFrownRight", "MouthDimpleLeft", "MouthDimpleRight", "MouthStretchLeft", "MouthStretchRight",
    "MouthRollLower", "MouthRollUpper", "MouthShrugLower", "MouthShrugUpper", "MouthPressLeft", "MouthPressRight",
    "MouthLowerDownLeft", "MouthLowerDownRight", "MouthUpperUpLeft", "MouthUpperUpRight", "BrowDownLeft",
    "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight", "CheekPuff", "CheekSquintLeft",
    "CheekSquintRight", "NoseSneerLeft", "NoseSneerRight", "TongueOut", "HeadYaw", "HeadPitch", "HeadRoll",
    "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll", "RightEyeYaw", "RightEyePitch", "RightEyeRoll")
N_VALUES = len(LIVELINK_NAMES)  # 61 = EARFaceBlendShape::MAX
# version + FQualifiedFrameTime + count + values + one TCHAR (2 bytes on Windows) each for two empty strings
MIN_PACKET_SIZE = 1 + 16 + 1 + 4 * N_VALUES + 2 + 2  # 266; the receiver wants more than this

_FRAME_TIME = struct.Struct(">ifii")
_VALUES = struct.Struct(f">B{N_VALUES}f")


def _fstring(text: str) -> bytes:
    data = text.encode("utf-8")
    return struct.pack(">i", len(data)) + data


def encode_packet(values, frame: int, rate: tuple[int, int], subject: str, device_id: str) -> bytes:
    """One Live Link Face packet.

    Args:
        values: (61,) floats in :data:`LIVELINK_NAMES` order (shapes 0..1, rotations in radians).
        frame: the frame number of the packet's FQualifiedFrameTime (sub-frame 0).
        rate: (numerator, denominator) of its frame rate, e.g. (25, 1).
        subject, device_id: the Live Link subject's name and the sending device's id.
    """
    vals = np.asarray(values, np.float64).reshape(-1)
    if vals.shape != (N_VALUES,):
        raise KpanimError(f"a Live Link packet carries {N_VALUES} values, got {vals.size}")
    return (struct.pack(">B", PACKET_VERSION) + _fstring(device_id) + _fstring(subject)
            + _FRAME_TIME.pack(int(frame), 0.0, int(rate[0]), int(rate[1])) + _VALUES.pack(N_VALUES, *vals.tolist()))


def frame_values(arkit_apple: np.ndarray, head: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """(n, 61) float32 in :data:`LIVELINK_NAMES` order, placed by name.

    Args:
        arkit_apple: (n, 52) weights in Apple's order (:data:`kpanim.animate.arkit.APPLE_NAMES`), clipped to
            0..1 as the .arkit.csv writes them.
        head: (n, 3) head yaw, pitch, roll in radians (:func:`kpanim.animate.arkit.head_angles`).
        eyes: (n, 6) Left/RightEye Yaw, Pitch, Roll in radians (:func:`kpanim.animate.arkit.eye_angles`).
    """
    from ..animate.arkit import LIVELINK_HEADER

    n = len(arkit_apple)
    csv_row = np.concatenate([np.clip(np.asarray(arkit_apple, np.float64), 0, 1), np.asarray(head, np.float64).reshape(n, 3),
                              np.asarray(eyes, np.float64).reshape(n, 6)], 1)  # the .arkit.csv's 61 value columns
    named = dict(zip(LIVELINK_HEADER[2:], csv_row.T))
    missing = sorted(set(LIVELINK_NAMES) - set(named))
    if missing:  # a renamed column would otherwise be sent as garbage in the wrong slot
        raise KpanimError(f"Live Link values without a source: {missing}")
    return np.stack([named[name] for name in LIVELINK_NAMES], axis=1).astype(np.float32)


def block_values(blocks: dict[str, np.ndarray]) -> np.ndarray:
    """(n, 61) values of received stream blocks: ``arkit`` (n, 52), ``head`` (n, 3) and ``dense`` (n, 1434)
    (the eye angles come from the dense face, as in the .arkit.csv)."""
    from ..animate.arkit import eye_angles

    missing = [k for k in ("arkit", "head", "dense") if k not in blocks]
    if missing:
        raise KpanimError(f"the frames lack {missing}; ask the server for arkit, head and dense")
    n = len(blocks["arkit"])
    return frame_values(blocks["arkit"], blocks["head"], eye_angles(np.asarray(blocks["dense"]).reshape(n, 478, 3)))


def frame_rate(fps: float) -> tuple[int, int]:
    """(numerator, denominator) of a frame rate: 25 → (25, 1), 29.97 → (2997, 100)."""
    r = Fraction(float(fps)).limit_denominator(1001)
    if r <= 0:
        raise KpanimError(f"frame rate {fps}: must be positive")
    return r.numerator, r.denominator


def parse_target(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[v6 address]:PORT`` for IPv6) → (host, port); the port defaults to 11111."""
    fix = f"give HOST or HOST:PORT, e.g. --livelink 127.0.0.1:{DEFAULT_PORT}"
    text = text.strip()
    if text.startswith("["):  # [::1]:11111
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise KpanimError(f"--livelink {text}: unclosed or malformed [IPv6 address]; {fix}")
        port_text = rest[1:] if rest else None
    elif text.count(":") > 1:  # a bare IPv6 address
        host, port_text = text, None
    else:
        host, sep, port_text = text.partition(":")
        port_text = port_text if sep else None
    if not host:
        raise KpanimError(f"--livelink {text!r}: no host; {fix}")
    if port_text is None:
        return host, DEFAULT_PORT
    if not port_text.isdigit():
        raise KpanimError(f"--livelink {text}: port {port_text!r} is not a number; {fix}")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise KpanimError(f"--livelink {text}: port {port} is out of range 1-65535; {fix}")
    return host, port


def check_subject(subject: str) -> str:
    """The subject name, checked: not blank, no control characters, at most 256 UTF-8 bytes."""
    if not subject.strip():
        raise KpanimError(f"--livelink-subject {subject!r}: empty; give a name, e.g. --livelink-subject {DEFAULT_SUBJECT}")
    if any(unicodedata.category(c) == "Cc" for c in subject):
        raise KpanimError(f"--livelink-subject {subject!r}: control characters; give a plain name, e.g. "
                          f"--livelink-subject {DEFAULT_SUBJECT}")
    size = len(subject.encode("utf-8"))
    if size > MAX_SUBJECT_BYTES:
        raise KpanimError(f"--livelink-subject: {size} bytes long, Unreal reads at most {MAX_SUBJECT_BYTES}; "
                          "give a shorter name")
    return subject


def device_id_for(subject: str) -> str:
    """A stable 36-character UUID per subject (Unreal keeps one subject per device id, so a rerun with the
    same subject updates the same Live Link subject)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "kpanim-livelink:" + subject)).upper()


class LiveLinkSender:
    """Sends frames to a Live Link Face receiver over UDP, one packet per frame.

    ``LiveLinkSender("192.168.1.20:11111", subject="kpanim")`` parses and resolves the address at once
    (KpanimError for a bad one); :meth:`send_blocks` then sends received stream frames; ``sent`` counts
    packets. A context manager (:meth:`close` sends what is still queued, then closes the socket).

    ``pace=True`` (a live stream): the server finalises frames in bursts (``hop_frames`` at a time, every
    120 ms), and Unreal's ARKit source stamps each packet with its arrival time, so sending a burst at once
    would move the face in 8 jumps a second. A paced sender holds each frame back to its own slot,
    ``first arrival + one burst period + (frame - first frame) / fps``: evenly spaced packets, one burst
    period (120 ms) later. A frame that arrives after its slot goes at once, and the slots restart from it
    when it is more than a burst period late (a stall, not jitter)."""

    def __init__(self, target: str, subject: str = DEFAULT_SUBJECT, fps: float = 25.0, device_id: str | None = None,
                 pace: bool = False, hop_frames: int = 3):
        self.host, self.port = parse_target(target)
        self.subject = check_subject(subject)
        self.device_id = device_id or device_id_for(subject)
        self.rate = frame_rate(fps)
        self.hop_frames = hop_frames
        self.sent = 0
        self.pace = pace
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: KpanimError | None = None
        self._anchor: tuple[float, int] | None = None  # (slot of frame k0, k0)
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except (socket.gaierror, UnicodeError) as err:
            raise KpanimError(f"--livelink {target}: cannot resolve host {self.host!r} ({err}); give the IP "
                              "address of the machine running Unreal") from None
        family, kind, proto, _, self.address = infos[0]
        self.sock = socket.socket(family, kind, proto)

    @property
    def target(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def set_fps(self, fps: float, hop_frames: int | None = None) -> None:
        """Use the stream's frame rate (its hello message's ``fps``) for the packets' frame times, and its
        burst size (``hop_frames``) for the pacing delay."""
        self.rate = frame_rate(fps)
        if hop_frames:
            self.hop_frames = int(hop_frames)

    def send(self, frame: int, values) -> None:
        """Send one frame's (61,) values (:data:`LIVELINK_NAMES` order)."""
        packet = encode_packet(values, frame, self.rate, self.subject, self.device_id)
        try:
            self.sock.sendto(packet, self.address)
        except OSError as err:
            raise KpanimError(f"cannot send Live Link packets to {self.target} ({err.strerror or err}); check "
                              "the address and the network") from None
        self.sent += 1

    def send_blocks(self, index: np.ndarray, blocks: dict[str, np.ndarray]) -> None:
        """Send received frames: (n,) frame numbers and their blocks (see :func:`block_values`); paced, they
        are queued for their slots and this returns at once."""
        if self._error is not None:
            raise self._error
        for frame, values in zip(np.asarray(index).tolist(), block_values(blocks)):
            if self.pace:
                self._schedule(frame, values)
            else:
                self.send(frame, values)

    def _schedule(self, frame: int, values) -> None:
        now = time.monotonic()
        period = self.rate[1] / self.rate[0]  # seconds per frame
        burst = self.hop_frames * period
        if self._anchor is None or now > self._slot(frame, period) + burst:  # the first frame, or after a stall
            self._anchor = (now + burst, frame)
        if self._thread is None:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._send_loop, name="kpanim-livelink", daemon=True)
            self._thread.start()
        self._queue.put((self._slot(frame, period), frame, values))

    def _slot(self, frame: int, period: float) -> float:
        start, first = self._anchor
        return start + (frame - first) * period

    def _send_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            slot, frame, values = item
            time.sleep(max(0.0, slot - time.monotonic()))
            try:
                self.send(frame, values)
            except KpanimError as err:
                self._error = err

    def close(self) -> None:
        """Send the queued frames (at their slots), then close the socket."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        self.sock.close()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> LiveLinkSender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
