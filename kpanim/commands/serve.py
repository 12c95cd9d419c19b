"""``kpanim serve``: a WebSocket server that animates speech as it arrives (protocol: docs/STREAMING.md)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from ..errors import KpanimError
from ..serving.server import DEFAULT_MAX_STREAMS, DEFAULT_PORT, StreamServer, is_loopback


@click.command("serve")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="TCP port (0: any free port; the line 'serving ws://HOST:PORT' says which).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on. Only this machine can connect by default; give 0.0.0.0 (or an address) "
                   "to accept other machines (no authentication: put it behind your own proxy).")
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="MODA checkpoint (default: the shipped model); its front-end must be whisper_l<layers>_nopad.")
@click.option("--subject", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Portrait image or .subject.npz every stream animates (default: the template face).")
@click.option("--max-streams", type=int, default=DEFAULT_MAX_STREAMS, show_default="2 × the CPU count",
              help="Concurrent streams; one more is refused with 'server busy' (docs/BENCHMARKS.md: how many a machine holds).")
@click.option("--workers", type=int, default=None, help="Threads running the model (default: CPU count).")
@click.option("--lookahead", type=float, default=None, help="Seconds of audio past a frame before it is final (default 0.16).")
@click.option("--lookback", type=float, default=None, help="Seconds of past audio the encoder sees (default 2.4).")
@click.option("--hop", type=int, default=None, help="Frames finalised per step (default 3 = 120 ms).")
@click.option("--precision", type=click.Choice(["auto", "float32", "bfloat16"]), default="auto", show_default=True,
              help="The Whisper encoder's number type (auto: bfloat16 where the CPU has bf16 instructions, 2.5x faster).")
@click.option("--idle-timeout", type=float, default=30.0, show_default=True,
              help="Close a connection after this many seconds without a message.")
def serve_command(port, host, model_path, subject, max_streams, workers, lookahead, lookback, hop, precision,
                  idle_timeout):
    """Animate speech in real time over WebSocket: PCM16 audio in, frames (ARKit-52 weights, head pose,
    face points) out, as JSON or binary. Protocol: docs/STREAMING.md; clients: 'kpanim stream', 'kpanim view --live'."""
    from .checks import check_number

    check_number("--max-streams", max_streams, 1, 1000, integer=True, example=4)
    check_number("--workers", workers, 1, 256, integer=True, example=2)
    check_number("--lookahead", lookahead, 0, 1, example=0.16, why=" seconds")
    check_number("--lookback", lookback, 0.4, 25, example=2.4, why=" seconds")
    check_number("--hop", hop, 1, 25, integer=True, example=3, why=" frames")
    check_number("--idle-timeout", idle_timeout, 0, 3600, lo_open=True, example=30, why=" seconds")
    if lookahead is not None and abs(round(lookahead / 0.02) * 0.02 - lookahead) > 1e-9:
        raise KpanimError(f"--lookahead must be a multiple of 0.02 s (one encoder state), got {lookahead:g}; "
                          "e.g. --lookahead 0.16")
    if model_path is not None and not model_path.is_file():
        raise KpanimError(f"{model_path}: no such model; give a MODA checkpoint (kpanim train moda) or leave "
                          "--model out for the shipped one")
    opts = {k: v for k, v in (("lookahead", lookahead), ("lookback", lookback), ("hop", hop)) if v is not None}
    opts["precision"] = precision
    server = StreamServer(model_path, host, port, max_streams, workers, opts, idle_timeout, subject)
    if not is_loopback(host):
        click.echo(f"Warning: listening on {host}: any machine that reaches this port can use the server "
                   "(no authentication)", err=True)

    async def main():
        await server.start()
        click.echo(f"serving {server.url}")
        sys.stdout.flush()
        await asyncio.Future()  # until Ctrl+C / SIGTERM

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        click.echo("Stopped.", err=True)
