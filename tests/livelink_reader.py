"""A test-side reader of Live Link Face UDP packets, written from Unreal's receiver, not from kpanim's
encoder: ``FAppleARKitLiveLinkRemoteListener::Tick`` (AppleARKitLiveLinkSource.cpp, AppleARKitFaceSupport
plugin) with ``FNboSerializeFromBuffer`` (network byte order). It rejects what that receiver drops."""

from __future__ import annotations

import struct

# EARFaceBlendShape (Unreal's ARTypes.h), written out here independently of kpanim.serving.livelink
UNREAL_ORDER = """EyeBlinkLeft EyeLookDownLeft EyeLookInLeft EyeLookOutLeft EyeLookUpLeft EyeSquintLeft EyeWideLeft
EyeBlinkRight EyeLookDownRight EyeLookInRight EyeLookOutRight EyeLookUpRight EyeSquintRight EyeWideRight
JawForward JawLeft JawRight JawOpen MouthClose MouthFunnel MouthPucker MouthLeft MouthRight MouthSmileLeft
MouthSmileRight MouthFrownLeft MouthFrownRight MouthDimpleLeft MouthDimpleRight MouthStretchLeft
MouthStretchRight MouthRollLower MouthRollUpper MouthShrugLower MouthShrugUpper MouthPressLeft MouthPressRight
MouthLowerDownLeft MouthLowerDownRight MouthUpperUpLeft MouthUpperUpRight BrowDownLeft BrowDownRight
BrowInnerUp BrowOuterUpLeft BrowOuterUpRight CheekPuff CheekSquintLeft CheekSquintRight NoseSneerLeft
NoseSneerRight TongueOut HeadYaw HeadPitch HeadRoll LeftEyeYaw LeftEyePitch LeftEyeRoll RightEyeYaw
RightEyePitch RightEyeRoll""".split()
assert len(UNREAL_ORDER) == 61
# sizeof(BLEND_SHAPE_PACKET_VER) + sizeof(FQualifiedFrameTime) + sizeof(uint8) + 61 floats + 2 TCHARs
MIN_BLEND_SHAPE_PACKET_SIZE = 1 + 16 + 1 + 4 * 61 + 2 + 2


class Dropped(Exception):
    """Unreal's receiver would ignore this packet."""


def read_packet(data: bytes) -> dict:
    """{"device_id", "subject", "frame", "subframe", "rate": (num, den), "values": {name: float}}."""
    if len(data) <= MIN_BLEND_SHAPE_PACKET_SIZE:  # "Make sure the packet is a complete one"
        raise Dropped(f"{len(data)} bytes <= {MIN_BLEND_SHAPE_PACKET_SIZE}")
    pos = 0

    def take(fmt: str):
        nonlocal pos
        size = struct.calcsize(fmt)
        if pos + size > len(data):
            raise Dropped("overflow")
        out = struct.unpack_from(fmt, data, pos)
        pos += size
        return out

    def fstring() -> str:  # int32 length, then that many UTF-8 bytes
        nonlocal pos
        (n,) = take(">i")
        if n < 0 or pos + n > len(data):
            raise Dropped("string overflow")
        text = data[pos:pos + n].decode("utf-8")
        pos += n
        return text

    (version,) = take(">B")
    if version != 6:
        raise Dropped(f"packet version {version}")
    device_id, subject = fstring(), fstring()
    frame, subframe, num, den = take(">ifii")
    (count,) = take(">B")
    if count != 61:
        raise Dropped(f"blend shape count {count}")
    values = take(">61f")
    assert pos == len(data), f"{len(data) - pos} bytes after the values"
    return {"device_id": device_id, "subject": subject, "frame": frame, "subframe": subframe, "rate": (num, den),
            "values": dict(zip(UNREAL_ORDER, values))}
