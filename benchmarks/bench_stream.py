"""Benchmark real-time streaming (kpanim.Stream, kpanim serve): quality against offline predict, CPU per
second of audio, latency through the WebSocket server, streams per machine and memory per stream.

Usage:
  python benchmarks/bench_stream.py quality --dataset DIR [--model M] [--lookback S] [--lookahead S] [--hop N]
      mouth-opening corr (kpanim eval's metrics) of offline predict and of the stream, val clips, vs the real faces
  python benchmarks/bench_stream.py cpu [--model M] [--seconds 60]
      CPU seconds per second of audio of one stream (1 torch thread), in 20 ms chunks
  python benchmarks/bench_stream.py latency [--model M] [--streams N] [--seconds 20]
      starts `kpanim serve`, plays N espeak-ng clips at real-time pace through it at once (20 ms chunks),
      reports latency p50/p95/max, the server's CPU per audio second and its memory per stream
Speech for cpu/latency is espeak-ng (kpanim.speech.tts), so nothing external is needed. --json writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def speech(seconds: float, voice_shift: int = 0) -> np.ndarray:
    from kpanim.speech.tts import synthesize

    text = ("The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
            "How much wood would a woodchuck chuck if a woodchuck could chuck wood? ")
    base = synthesize(text)
    base = np.roll(base, voice_shift * 4000)
    reps = int(np.ceil(seconds * 16000 / len(base)))
    return np.tile(base, reps)[: int(seconds * 16000)].astype(np.float32)


def stream_kwargs(args) -> dict:
    return {"lookback": args.lookback, "lookahead": args.lookahead, "hop": args.hop, "tail": args.tail}


# ----------------------------------------------------------------------------------------------- quality
def quality(args) -> dict:
    from kpanim.animate.bundle import load_model
    from kpanim.animate.predict import predict
    from kpanim.animate.stream import stream_file
    from kpanim.dataset.index import load_index
    from kpanim.evaluation.evaluate import clip_subject, evaluate, load_reference, mean_rows
    from kpanim.speech.audio import load_audio

    model = load_model(args.model)
    dataset = Path(args.dataset)
    clips = load_index(dataset, args.split)[: args.limit or None]
    per_clip = []
    for c in clips:
        clip, audio_path = load_reference(dataset / "clips" / f"{c['clip_id']}.npz")
        ref, audio = clip.animation, load_audio(audio_path)
        subject = clip_subject(clip)
        offline = predict(audio, subject=subject, model=model, seed=0)
        streamed = stream_file(audio, model, subject, chunk=0.02, seed=0, **stream_kwargs(args))
        rows = {"offline": evaluate(offline, ref, audio), "stream": evaluate(streamed, ref, audio)}
        from kpanim.evaluation import metrics

        op = [metrics.mouth_opening(metrics.align_to_template(a.dense)) for a in (offline, streamed)]
        n = min(len(op[0]), len(op[1]))
        rows["stream"]["corr_vs_offline"] = float(np.corrcoef(op[0][:n], op[1][:n])[0, 1])
        per_clip.append(rows)
        print(f"{c['clip_id'][:48]:<48} offline {rows['offline']['open_corr']:+.3f}  "
              f"stream {rows['stream']['open_corr']:+.3f}  (stream vs offline {rows['stream']['corr_vs_offline']:.3f})",
              flush=True)
    mean = mean_rows(per_clip)
    keys = ("open_corr", "lmd_motion", "articulation", "open_lag", "blink_rate", "head_rot_std_deg", "jitter")
    for name, row in mean.items():
        print(f"{name:8s} " + "  ".join(f"{k} {row[k]:.4f}" for k in keys if k in row))
    print(f"mouth-opening corr: offline {mean['offline']['open_corr']:.3f}, stream {mean['stream']['open_corr']:.3f} "
          f"(difference {mean['stream']['open_corr'] - mean['offline']['open_corr']:+.3f}); "
          f"stream vs offline opening corr {mean['stream']['corr_vs_offline']:.3f}")
    return {"dataset": dataset.name, "split": args.split, "clips": len(per_clip), "mean": mean,
            "stream_settings": stream_kwargs(args)}


# --------------------------------------------------------------------------------------------------- cpu
def cpu(args) -> dict:
    import torch

    from kpanim.animate.bundle import load_model
    from kpanim.animate.stream import Stream

    torch.set_num_threads(1)
    model = load_model(args.model)
    audio = speech(args.seconds)
    Stream(model, **stream_kwargs(args)).push(audio[:32000])  # warm-up (ARKit network, encoder)
    st = Stream(model, **stream_kwargs(args))
    step = 320
    times = []
    c0, w0 = time.process_time(), time.perf_counter()
    for i in range(0, len(audio), step):
        t = time.perf_counter()
        out = st.push(audio[i:i + step])
        if len(out):
            times.append(time.perf_counter() - t)
    st.close()
    c, w = time.process_time() - c0, time.perf_counter() - w0
    steps = np.array(times) * 1000
    res = {"seconds": args.seconds, "cpu_s_per_audio_s": c / args.seconds, "wall_s_per_audio_s": w / args.seconds,
           "step_ms_p50": float(np.percentile(steps, 50)), "step_ms_p95": float(np.percentile(steps, 95)),
           "steps": len(steps), "stream_settings": stream_kwargs(args)}
    print(f"one stream: {res['cpu_s_per_audio_s']:.3f} CPU s per s of audio (1 thread); step compute "
          f"p50 {res['step_ms_p50']:.0f} ms, p95 {res['step_ms_p95']:.0f} ms over {len(steps)} steps")
    return res


# ----------------------------------------------------------------------------------------------- latency
def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def latency(args) -> dict:
    import asyncio
    import tempfile

    from kpanim.serving.client import stream_audio
    from kpanim.speech.audio import save_wav

    cmd = [sys.executable, "-m", "kpanim.commands.cli", "serve", "--port", "0", "--max-streams", str(max(args.streams, 1))]
    if args.model:
        cmd += ["--model", args.model]
    cmd += ["--lookback", str(args.lookback), "--lookahead", str(args.lookahead), "--hop", str(args.hop)]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline().strip()
        if not line.startswith("serving ws://"):
            raise SystemExit(f"server did not start: {line}")
        url = line.split()[1]
        rss0 = rss_mb(server.pid)
        clips = [speech(args.seconds, k) for k in range(args.streams)]
        with tempfile.TemporaryDirectory() as tmp:
            paths = [save_wav(Path(tmp) / f"s{k}.wav", a) for k, a in enumerate(clips)]
            asyncio.run(_warm(url, paths[0]))
            c0 = cpu_s(server.pid)
            peak = [rss0]

            async def all_streams():
                async def watch():
                    while True:
                        peak[0] = max(peak[0], rss_mb(server.pid))
                        await asyncio.sleep(0.5)

                w = asyncio.ensure_future(watch())
                res = await asyncio.gather(*(stream_audio(url, p, realtime=True) for p in paths))
                w.cancel()
                return res

            results = asyncio.run(all_streams())
            used = cpu_s(server.pid) - c0
    finally:
        server.terminate()
        server.wait(10)
    lat = np.concatenate([r["latency_ms"] for r in results])
    res = {"streams": args.streams, "seconds": args.seconds, "latency_ms_p50": float(np.percentile(lat, 50)),
           "latency_ms_p95": float(np.percentile(lat, 95)), "latency_ms_max": float(lat.max()),
           "frames": int(sum(r["n_frames"] for r in results)),
           "server_cpu_s_per_audio_s": used / (args.seconds * args.streams),
           "server_rss_mb_idle": rss0, "server_rss_mb_peak": peak[0],
           "rss_mb_per_stream": (peak[0] - rss0) / max(args.streams, 1), "stream_settings": stream_kwargs(args)}
    print(f"{args.streams} stream(s) of {args.seconds:g} s at real-time pace: latency p50 {res['latency_ms_p50']:.0f} ms, "
          f"p95 {res['latency_ms_p95']:.0f} ms, max {res['latency_ms_max']:.0f} ms; {res['frames']} frames; server "
          f"{res['server_cpu_s_per_audio_s']:.3f} CPU s per audio s; RSS {rss0:.0f} MB idle, "
          f"+{res['rss_mb_per_stream']:.1f} MB per stream")
    return res


async def _warm(url: str, path: Path) -> None:
    from kpanim.serving.client import stream_audio

    await stream_audio(url, path, realtime=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=("quality", "cpu", "latency"))
    ap.add_argument("--model", default=None, help="MODA checkpoint (default: the shipped model)")
    ap.add_argument("--dataset", help="prepared dataset (quality)")
    ap.add_argument("--split", default="val")
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--lookback", type=float, default=2.4)
    ap.add_argument("--lookahead", type=float, default=0.16)
    ap.add_argument("--hop", type=int, default=3)
    ap.add_argument("--tail", type=float, default=0.2)
    ap.add_argument("--json", default=None, help="write the numbers here")
    args = ap.parse_args()
    if args.what == "quality" and not args.dataset:
        ap.error("quality needs --dataset")
    res = {"quality": quality, "cpu": cpu, "latency": latency}[args.what](args)
    res["command"] = "python benchmarks/bench_stream.py " + " ".join(
        a if not a.startswith("/") else Path(a).name for a in sys.argv[1:])
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=float) + "\n")
        print(f"Wrote {args.json}")


if __name__ == "__main__":
    main()
