"""The ``kpanim serve`` WebSocket protocol's messages (docs/STREAMING.md): frames as JSON or in the
compact binary form, and their decoding (for Python clients; the live page decodes the same layout).

Binary frames message, little-endian::

    bytes 0-3   b"KPF1"
    u32         index of the first frame
    u16         number of frames n
    u16         block mask: bit k set = block BLOCKS[k] present
    then each present block in BLOCKS order: float32[n][dim]
"""

from __future__ import annotations

import json
import struct

import numpy as np

from ..errors import KpanimError

PROTOCOL = 1
MAGIC = b"KPF1"
HEADER = struct.Struct("<4sIHH")
# name → values per frame; the order is the bit order of the mask
BLOCKS = {"arkit": 52, "head": 3, "head_pose": 6, "lip": 120, "eye": 180, "torso": 54, "dense": 1434}
DEFAULT_BLOCKS = ("arkit", "head", "head_pose")
MAX_AUDIO_BYTES = 65536  # one binary audio message: ≤ 2 s of 16 kHz PCM16
MAX_TEXT_BYTES = 4096


def block_arrays(frames, blocks) -> dict[str, np.ndarray]:
    """{block: (n, dim) float32} of :class:`~kpanim.animate.stream.StreamFrames` (ARKit in Apple's order)."""
    from ..animate import arkit

    n = len(frames)
    out = {}
    for name in blocks:
        if name == "arkit":
            a = frames.arkit if frames.arkit is not None else np.zeros((n, 52), np.float32)
            out[name] = arkit.to_apple(a)
        elif name == "head":
            out[name] = arkit.head_angles(frames.head_pose)
        else:
            out[name] = getattr(frames, name)
        out[name] = np.asarray(out[name], np.float32).reshape(n, BLOCKS[name])
    return out


def encode_binary(frames, blocks) -> bytes:
    arrays = block_arrays(frames, blocks)
    mask = sum(1 << i for i, name in enumerate(BLOCKS) if name in arrays)
    first = int(frames.index[0]) if len(frames) else 0
    body = b"".join(np.ascontiguousarray(arrays[name], "<f4").tobytes() for name in BLOCKS if name in arrays)
    return HEADER.pack(MAGIC, first, len(frames), mask) + body


def encode_json(frames, blocks, fps: float = 25.0) -> str:
    arrays = block_arrays(frames, blocks)
    digits = {"arkit": 4, "head": 5, "head_pose": 5}
    rows = []
    for j, i in enumerate(frames.index):
        row = {"index": int(i), "time": round(int(i) / fps, 3)}
        for name, arr in arrays.items():
            row[name] = np.round(arr[j].astype(np.float64), digits.get(name, 6)).tolist()
        rows.append(row)
    return json.dumps({"type": "frames", "frames": rows}, separators=(",", ":"))


def decode_binary(data: bytes) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(frame indices (n,), {block: (n, dim) float32}) of a binary frames message."""
    if len(data) < HEADER.size:
        raise KpanimError(f"binary frames message of {len(data)} bytes is shorter than its {HEADER.size}-byte header")
    magic, first, n, mask = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise KpanimError(f"not a kpanim frames message (magic {magic!r}, expected {MAGIC!r})")
    names = [name for i, name in enumerate(BLOCKS) if mask >> i & 1]
    need = HEADER.size + 4 * n * sum(BLOCKS[name] for name in names)
    if len(data) != need:
        raise KpanimError(f"binary frames message has {len(data)} bytes, its header says {need}")
    out, pos = {}, HEADER.size
    for name in names:
        size = 4 * n * BLOCKS[name]
        out[name] = np.frombuffer(data, "<f4", n * BLOCKS[name], pos).reshape(n, BLOCKS[name]).copy()
        pos += size
    return np.arange(first, first + n, dtype=np.int64), out


def decode_json(text: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The same for a JSON ``frames`` message."""
    rows = json.loads(text)["frames"]
    names = [k for k in BLOCKS if rows and k in rows[0]]
    return (np.array([r["index"] for r in rows], np.int64),
            {k: np.array([r[k] for r in rows], np.float32).reshape(len(rows), BLOCKS[k]) for k in names})
