"""``kpanim stream``: a small client of ``kpanim serve`` that plays a speech file at real-time pace and
reports the latency of every frame (time from the audio sample a frame shows being sent to the frame
arriving); :func:`stream_audio` is the same as a coroutine for Python programs."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np

from ..errors import KpanimError
from .protocol import BLOCKS, decode_binary, decode_json

ALL_BLOCKS = list(BLOCKS)


async def stream_audio(url: str, audio, realtime: bool = True, chunk_ms: float = 20.0, seed: int = 0,
                       streams: list[str] | None = None, fmt: str = "binary", on_frames=None,
                       open_timeout: float = 10.0, on_hello=None) -> dict:
    """Send speech (a path or (N,) float32 16 kHz samples) to a kpanim server in ``chunk_ms`` pieces, at
    real-time pace if ``realtime``, and collect the frames.

    Returns {"hello": the server's hello, "index": (F,) frame numbers, "blocks": {block: (F, dim)},
    "latency_ms": (F,) per frame (realtime only; else empty), "n_frames": F}. ``on_frames(index, blocks)``
    is called for every message of frames, ``on_hello(hello)`` once with the server's hello. Raises KpanimError when the server cannot be reached, refuses
    or reports an error.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

    from ..speech.audio import load_audio

    if isinstance(audio, (str, Path)):
        audio = load_audio(audio)
    pcm = (np.clip(np.asarray(audio, np.float32), -1, 1) * 32767).astype("<i2")
    step = max(1, int(round(16000 * chunk_ms / 1000)))
    try:
        ws = await asyncio.wait_for(connect(url, max_size=None, compression=None), open_timeout)
    except InvalidURI:
        raise KpanimError(f"{url}: not a WebSocket address; give ws://HOST:PORT (what 'kpanim serve' prints)") from None
    except (OSError, asyncio.TimeoutError, TimeoutError, InvalidHandshake) as err:
        raise KpanimError(f"cannot connect to {url} ({err}); run 'kpanim serve' first, or give its address with "
                          "--server") from None
    sent_at = np.zeros(-(-len(pcm) // step), np.float64)
    index_parts, block_parts, recv_times = [], [], []
    result: dict = {}

    async def receive():
        async for msg in ws:
            now = time.perf_counter()
            if isinstance(msg, bytes):
                idx, blocks = decode_binary(msg)
            else:
                req = json.loads(msg)
                if req["type"] == "hello":
                    result["hello"] = req
                    if on_hello is not None:
                        on_hello(req)
                    continue
                if req["type"] == "error":
                    msg = req["message"]
                    raise KpanimError(f"server: {msg}" + ("" if "try" in msg or "give" in msg else
                                                          "; check the server's log"))
                if req["type"] != "frames":
                    continue
                idx, blocks = decode_json(msg)
            index_parts.append(idx)
            block_parts.append(blocks)
            recv_times.append(np.full(len(idx), now))
            if on_frames is not None:
                on_frames(idx, blocks)

    async def send():
        await ws.send(json.dumps({"type": "start", "seed": seed, "format": fmt,
                                  "streams": streams or ALL_BLOCKS}))
        t0 = time.perf_counter()
        for k, i in enumerate(range(0, len(pcm), step)):
            chunk = pcm[i:i + step]
            if realtime:  # a chunk is ready once its last sample has been "recorded"
                delay = t0 + (i + len(chunk)) / 16000 - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            sent_at[k] = time.perf_counter()
            await ws.send(chunk.tobytes())
        await ws.send(json.dumps({"type": "end"}))

    recv_task = asyncio.ensure_future(receive())
    try:
        await send()
        await recv_task
    except ConnectionClosed:
        pass
    finally:
        if not recv_task.done():
            try:
                await asyncio.wait_for(recv_task, 10)
            except (asyncio.TimeoutError, TimeoutError, ConnectionClosed):
                recv_task.cancel()
        await ws.close()
    if recv_task.done() and not recv_task.cancelled() and recv_task.exception() is not None:
        raise recv_task.exception()
    if ws.close_code not in (1000, None) and not index_parts:
        raise KpanimError(f"the server closed the connection ({ws.close_code} {ws.close_reason})")
    index = np.concatenate(index_parts) if index_parts else np.zeros(0, np.int64)
    blocks = {k: np.concatenate([b[k] for b in block_parts]) for k in (block_parts[0] if block_parts else {})}
    latency = np.zeros(0)
    if realtime and len(index):
        sample = np.minimum(index * 640, len(pcm) - 1)  # frame i shows the audio at sample 640 i
        latency = (np.concatenate(recv_times) - sent_at[sample // step]) * 1000
    result.update(index=index, blocks=blocks, latency_ms=latency, n_frames=len(index))
    return result


def frames_to_animation(index: np.ndarray, blocks: dict, meta: dict | None = None):
    """An :class:`~kpanim.formats.animation.Animation` of received frames (all of lip, eye, dense, head_pose, torso, arkit)."""
    from ..animate import arkit
    from ..formats.animation import Animation

    missing = [k for k in ("lip", "eye", "dense", "head_pose", "torso") if k not in blocks]
    if missing:
        raise KpanimError(f"the frames lack {missing}; ask the server for every stream")
    n = len(index)
    curves = None
    if "arkit" in blocks:  # Apple's order → the animation's (MediaPipe's) order
        apple = blocks["arkit"]
        curves = np.zeros((n, 52), np.float32)
        for j, name in enumerate(arkit.APPLE_NAMES):
            if name in arkit.NAMES:
                curves[:, arkit.NAMES.index(name)] = apple[:, j]
    return Animation(lip=blocks["lip"].reshape(n, 40, 3), eye=blocks["eye"].reshape(n, 60, 3),
                     dense=blocks["dense"].reshape(n, 478, 3), head_pose=blocks["head_pose"],
                     torso=blocks["torso"].reshape(n, 18, 3), fps=25.0, meta=meta or {}, arkit=curves)


