"""``kpanim serve``: a WebSocket server that animates speech as it arrives (protocol: docs/STREAMING.md).

One model is loaded once and shared by every connection; each connection is one :class:`~kpanim.animate.stream.Stream`
(its state lives only in the connection: nothing is shared between connections but the read-only model,
so any WebSocket load balancer can spread connections over many machines). The model runs in a pool of
worker threads (one torch thread each), so streams proceed in parallel on the machine's cores. At most
``max_streams`` connections are served at once; one more gets an ``error`` message (code ``busy``) and
close code 1013 (try again later). A malformed or oversized message gets an ``error`` message and a close
(1003 / 1008 / 1009); an abrupt disconnect just frees the slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import KpanimError
from .protocol import (
    BLOCKS,
    DEFAULT_BLOCKS,
    MAX_AUDIO_BYTES,
    MAX_TEXT_BYTES,
    PROTOCOL,
    encode_binary,
    encode_json,
)

DEFAULT_PORT = 8765
DEFAULT_MAX_STREAMS = 2 * (os.cpu_count() or 1)  # 4 on 2 cores kept p95 latency ≤ 400 ms (docs/BENCHMARKS.md)
START_KEYS = {"type", "sample_rate", "seed", "temperature", "format", "streams"}


class ProtocolError(Exception):
    """A client broke the protocol: (close code, error code, message)."""

    def __init__(self, close_code: int, code: str, message: str):
        super().__init__(message)
        self.close_code, self.code, self.message = close_code, code, message


class StreamServer:
    """The server (see the module docstring). ``async with``/``await start()`` inside an event loop, or
    ``with server.running():`` to run it in a background thread (tests, ``kpanim view --live``).

    Args:
        model: a loaded :class:`~kpanim.animate.bundle.Model`, a checkpoint path or None (the default model).
        host, port: where to listen (port 0: any free port; ``port`` holds the real one once started).
        max_streams: connections served at once.
        workers: threads running the model (default: the CPU count).
        stream_options: keyword arguments of every :class:`~kpanim.animate.stream.Stream` (lookback, lookahead, hop).
        idle_timeout: seconds without a message after which a connection is closed.
        subject: the face every stream animates (a Subject, portrait or .subject.npz; None: template).
    """

    def __init__(self, model=None, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 max_streams: int = DEFAULT_MAX_STREAMS, workers: int | None = None, stream_options: dict | None = None,
                 idle_timeout: float = 30.0, subject=None, log=None):
        from ..animate.bundle import Model, load_model
        from ..animate.predict import _load_subject
        from ..animate.stream import Stream

        self.model = model if isinstance(model, Model) else load_model(model)
        self.subject = _load_subject(subject)
        self.stream_options = dict(stream_options or {})
        if max_streams < 1:
            raise KpanimError(f"--max-streams must be at least 1, got {max_streams}")
        self.host, self.port, self.max_streams, self.idle_timeout = host, port, max_streams, idle_timeout
        self.workers = workers or os.cpu_count() or 1
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="kpanim-stream", initializer=_one_thread)
        self.active = 0
        self.served = 0
        self.refused = 0
        self.log = log or (lambda text: print(text, file=sys.stderr, flush=True))
        import torch

        torch.set_num_threads(1)  # streams run side by side on the worker threads, one core each
        # check the options and warm up (encoder, ARKit network) before accepting anyone
        probe = Stream(self.model, self.subject, **self.stream_options)
        probe.push(np.zeros(16000, np.float32))
        self.lookahead, self.hop = probe.lookahead, probe.hop
        self._server = None
        self._thread = None
        self._loop = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        from websockets.asyncio.server import serve

        try:
            self._server = await serve(self._handler, self.host, self.port, max_size=4 * MAX_AUDIO_BYTES,
                                       max_queue=32, compression=None)
        except OSError as err:
            raise KpanimError(f"cannot listen on {self.host}:{self.port} ({err.strerror or err}); "
                              "choose another --port (0: any free port)") from None
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"ws://{host}:{self.port}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    @contextlib.contextmanager
    def running(self):
        """Run the server in a background thread for the ``with`` block."""
        ready, failed = threading.Event(), []
        stop = None

        def run():
            nonlocal stop
            loop = asyncio.new_event_loop()
            self._loop = loop
            stop = asyncio.Event()

            async def main():
                try:
                    await self.start()
                except Exception as err:  # noqa: BLE001 (handed to the caller)
                    failed.append(err)
                    ready.set()
                    return
                ready.set()
                await stop.wait()
                await self.close()

            loop.run_until_complete(main())
            loop.close()

        self._thread = threading.Thread(target=run, name="kpanim-serve", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            raise failed[0]
        try:
            yield self
        finally:
            self._loop.call_soon_threadsafe(stop.set)
            self._thread.join(10)
            self.pool.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------ connections
    async def _handler(self, ws) -> None:
        from websockets.exceptions import ConnectionClosed

        if self.active >= self.max_streams:
            self.refused += 1
            with contextlib.suppress(ConnectionClosed):
                await _send_error(ws, "busy", f"server busy: it serves at most {self.max_streams} streams at once; "
                                              "try again later or start another server")
                await ws.close(1013, "server busy")
            return
        self.active += 1
        try:
            await self._serve(ws)
        except ProtocolError as err:
            with contextlib.suppress(ConnectionClosed):
                await _send_error(ws, err.code, err.message)
                await ws.close(err.close_code, err.code)
        except ConnectionClosed:
            pass  # the client went away: its stream is dropped with this coroutine
        except Exception:  # noqa: BLE001 (a bug must not take the server down)
            self.log("kpanim serve: internal error in a stream:\n" + traceback.format_exc())
            with contextlib.suppress(ConnectionClosed):
                await _send_error(ws, "internal", "internal error in the server (see its log)")
                await ws.close(1011, "internal error")
        finally:
            self.active -= 1
            self.served += 1

    async def _serve(self, ws) -> None:
        from ..animate import arkit

        loop = asyncio.get_running_loop()
        await ws.send(json.dumps({
            "type": "hello", "protocol": PROTOCOL, "version": __version__, "model": Path(self.model.path).name,
            "fps": 25, "sample_rate": 16000, "lookahead_ms": round(self.lookahead * 1000), "hop_frames": self.hop,
            "arkit_names": list(arkit.APPLE_NAMES), "blocks": {k: v for k, v in BLOCKS.items()},
            "max_audio_bytes": MAX_AUDIO_BYTES}))
        stream, fmt, blocks = None, "json", list(DEFAULT_BLOCKS)
        while True:
            try:
                msg = await asyncio.wait_for(ws.recv(), self.idle_timeout)
            except (asyncio.TimeoutError, TimeoutError):
                raise ProtocolError(1008, "idle", f"no message for {self.idle_timeout:g} s; closing") from None
            if isinstance(msg, str):
                req = _parse_text(msg)
                if req["type"] == "start":
                    if stream is not None:
                        raise ProtocolError(1008, "bad_message", "'start' must come before any audio, once")
                    opts, fmt, blocks = _start_options(req)
                    stream = await loop.run_in_executor(self.pool, self._new_stream, opts)
                    await ws.send(json.dumps({"type": "started", "format": fmt, "streams": blocks}))
                elif req["type"] == "end":
                    if stream is None:
                        stream = await loop.run_in_executor(self.pool, self._new_stream, {})
                    frames = await loop.run_in_executor(self.pool, stream.close)
                    if len(frames):
                        await ws.send(encode_binary(frames, blocks) if fmt == "binary" else encode_json(frames, blocks))
                    await ws.send(json.dumps({"type": "end", "frames": int(stream.next_frame)}))
                    await ws.close(1000, "end of stream")
                    return
                else:
                    raise ProtocolError(1008, "bad_message", f"unknown message type '{req['type']}'; "
                                                             "send 'start', binary audio, then 'end'")
                continue
            if len(msg) > MAX_AUDIO_BYTES:
                raise ProtocolError(1009, "too_big", f"audio message of {len(msg)} bytes; send at most "
                                                     f"{MAX_AUDIO_BYTES} bytes per message (e.g. 20-100 ms chunks)")
            if len(msg) % 2:
                raise ProtocolError(1003, "bad_audio", f"audio message of {len(msg)} bytes is not whole 16-bit "
                                                       "samples; send little-endian PCM16 mono")
            if stream is None:
                stream = await loop.run_in_executor(self.pool, self._new_stream, {})
            samples = np.frombuffer(msg, "<i2")
            frames = await loop.run_in_executor(self.pool, stream.push, samples)
            if len(frames):
                await ws.send(encode_binary(frames, blocks) if fmt == "binary" else encode_json(frames, blocks))

    def _new_stream(self, opts: dict):
        from ..animate.stream import Stream

        try:
            return Stream(self.model, self.subject, arkit=True, **self.stream_options, **opts)
        except KpanimError as err:
            raise ProtocolError(1008, "bad_start", str(err)) from None


def _one_thread() -> None:
    """Each worker runs torch on one core (OpenMP's thread count is per calling thread: without this, every
    worker would spin up a team of all cores and the streams would fight over them)."""
    import torch

    torch.set_num_threads(1)


async def _send_error(ws, code: str, message: str) -> None:
    await ws.send(json.dumps({"type": "error", "code": code, "message": message}))


def _parse_text(msg: str) -> dict:
    if len(msg.encode()) > MAX_TEXT_BYTES:
        raise ProtocolError(1009, "too_big", f"text message over {MAX_TEXT_BYTES} bytes")
    try:
        req = json.loads(msg)
    except json.JSONDecodeError:
        raise ProtocolError(1003, "bad_message", "text messages must be JSON objects, e.g. {\"type\": \"end\"}") from None
    if not isinstance(req, dict) or not isinstance(req.get("type"), str):
        raise ProtocolError(1003, "bad_message", "text messages must be JSON objects with a 'type'")
    return req


def _start_options(req: dict) -> tuple[dict, str, list[str]]:
    unknown = set(req) - START_KEYS
    if unknown:
        raise ProtocolError(1008, "bad_start", f"unknown 'start' field(s) {sorted(unknown)}; "
                                               f"known: {sorted(START_KEYS - {'type'})}")
    opts = {}
    try:
        if "sample_rate" in req:
            opts["sample_rate"] = int(req["sample_rate"])
        if "seed" in req:
            opts["seed"] = int(req["seed"])
        if "temperature" in req:
            opts["temperature"] = float(req["temperature"])
    except (TypeError, ValueError):
        raise ProtocolError(1008, "bad_start", "'sample_rate' and 'seed' must be integers, 'temperature' a number") from None
    fmt = req.get("format", "json")
    if fmt not in ("json", "binary"):
        raise ProtocolError(1008, "bad_start", f"'format' must be 'json' or 'binary', got {fmt!r}")
    blocks = req.get("streams", list(DEFAULT_BLOCKS))
    if not isinstance(blocks, list) or not blocks or any(b not in BLOCKS for b in blocks):
        raise ProtocolError(1008, "bad_start", f"'streams' must be a non-empty list of {list(BLOCKS)}")
    return opts, fmt, [b for b in BLOCKS if b in blocks]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


