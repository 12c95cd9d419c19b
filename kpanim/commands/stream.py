"""``kpanim stream``: a small client of ``kpanim serve`` that plays a speech file at real-time pace and"""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
import numpy as np

from ..errors import KpanimError
from ..serving.client import ALL_BLOCKS, frames_to_animation, stream_audio


@click.command("stream")
@click.argument("audio", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--server", "url", default="ws://127.0.0.1:8765", show_default=True,
              help="The kpanim server's address (what 'kpanim serve' prints).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Save the received frames: .npz animation (with ARKit curves), .arkit.csv or .arkit.json.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of blinks, head and torso.")
@click.option("--chunk-ms", type=float, default=20.0, show_default=True, help="Audio per message, milliseconds.")
@click.option("--fast", is_flag=True, help="Send as fast as possible instead of at real-time pace (no latency).")
@click.option("--livelink", "livelink", metavar="HOST[:PORT]", default=None,
              help="Also send every frame at once to Unreal Engine as a Live Link Face UDP packet (the Apple "
                   "ARKit Live Link source; PORT defaults to 11111).")
@click.option("--livelink-subject", "subject", default="kpanim", show_default=True,
              help="The Live Link subject name the frames appear under in Unreal.")
def stream_command(audio, url, output, seed, chunk_ms, fast, livelink, subject):
    """Play AUDIO through a kpanim server at real-time pace, as a microphone would, and report the latency:
    'latency p50 N ms, p95 N ms, max N ms; F frames'.

    With --livelink HOST[:PORT] every received frame also goes to Unreal Engine (e.g. a MetaHuman) as the
    UDP packet the iPhone app Live Link Face sends: the 52 ARKit weights, head and eye angles
    (docs/STREAMING.md, "Into Unreal (Live Link)")."""
    from ..animate import arkit
    from ..formats.fileio import check_output
    from ..speech.audio import check_playable, load_audio
    from .checks import check_number

    check_playable(audio)
    check_number("--chunk-ms", chunk_ms, 1, 1000, example=20, why=" milliseconds")
    check_number("--seed", seed, 0, 2**31 - 1, integer=True, example=0)
    if not url.startswith(("ws://", "wss://")):
        raise KpanimError(f"--server {url}: not a WebSocket address; give ws://HOST:PORT (what 'kpanim serve' prints)")
    if output is not None:
        if output.suffix.lower() in (".csv", ".json") and arkit.output_kind(output) is None:
            raise KpanimError(f"{output}: the output must be a .npz, .arkit.csv or .arkit.json file "
                              f"(e.g. -o {output.stem}.arkit{output.suffix})")
        check_output(output, {"AUDIO": audio}, (".npz", ".csv", ".json"))
    if livelink is None and subject != "kpanim":
        raise KpanimError("--livelink-subject names the subject of --livelink; add --livelink HOST (e.g. --livelink 127.0.0.1)")
    sender = None
    if livelink is not None:  # address parsed and resolved, subject checked, before the audio is read
        from ..serving.livelink import LiveLinkSender

        sender = LiveLinkSender(livelink, subject=subject, pace=not fast)  # even packets for a live face
    streams = ALL_BLOCKS if output is not None else ["arkit", "head", "head_pose"]
    if sender is not None and "dense" not in streams:
        streams = [*streams, "dense"]  # the eye angles come from the dense face, as in the .arkit.csv
    try:
        samples = load_audio(audio)
        res = asyncio.run(stream_audio(
            url, samples, realtime=not fast, chunk_ms=chunk_ms, seed=seed, streams=streams,
            on_hello=None if sender is None else lambda hello: sender.set_fps(hello.get("fps", 25),
                                                                               hello.get("hop_frames")),
            on_frames=None if sender is None else sender.send_blocks))
    finally:
        if sender is not None:
            sender.close()
    if output is not None:
        hello = res.get("hello", {})
        anim = frames_to_animation(res["index"], res["blocks"], {
            "generator": "kpanim stream", "model": hello.get("model"), "seed": seed, "audio": audio.name,
            "lookahead_ms": hello.get("lookahead_ms")})
        if output.suffix.lower() == ".npz":
            anim.save(output)
        else:
            arkit.write_curves(anim, output)
        click.echo(f"Wrote {output}: {anim.n_frames} frames at 25 fps")
    if sender is not None:
        click.echo(f"Sent {sender.sent} Live Link packets to {sender.target} (subject {sender.subject!r})")
    lat = res["latency_ms"]
    if len(lat):
        click.echo(f"latency p50 {np.percentile(lat, 50):.0f} ms, p95 {np.percentile(lat, 95):.0f} ms, "
                   f"max {lat.max():.0f} ms; {res['n_frames']} frames")
    else:
        click.echo(f"{res['n_frames']} frames (--fast: no latency)")
