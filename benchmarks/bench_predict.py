"""Benchmark ``kpanim.predict``: 60 s and 1 h of speech → .npz, after the model is loaded.

Usage: python benchmarks/bench_predict.py [--model PATH] [--hour] [--threads N] [--startup]
Prints wall time, real-time factor (processing time / audio duration) and peak RSS for each case;
``--startup`` first times, in a fresh interpreter, where a short clip's wait goes before its first frame.
Speech is espeak-ng (espeakng-loader) tiled to the length; nothing external is needed.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speech(seconds: float) -> np.ndarray:
    from kpanim.speech.tts import synthesize

    text = ("The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
            "How much wood would a woodchuck chuck if a woodchuck could chuck wood? ")
    base = synthesize(text)
    reps = int(np.ceil(seconds * 16000 / len(base)))
    return np.tile(base, reps)[: int(seconds * 16000)]


def run(model, seconds: float, out_dir: Path, check_speech: bool = True) -> dict:
    import kpanim

    audio = speech(seconds)
    t0 = time.perf_counter()
    anim = kpanim.predict(audio, model=model, seed=0, check_speech=check_speech)
    t1 = time.perf_counter()
    anim.save(out_dir / f"bench_{int(seconds)}.npz")
    t2 = time.perf_counter()
    return {"seconds": seconds, "predict_s": t1 - t0, "save_s": t2 - t1, "total_s": t2 - t0,
            "rtf": (t2 - t0) / seconds, "peak_rss_mb": peak_rss_mb(), "frames": anim.n_frames}


STARTUP = """
import time
t0 = time.perf_counter()
import torch  # noqa: F401
t1 = time.perf_counter()
import kpanim
from kpanim.animate.bundle import load_model
t2 = time.perf_counter()
model = load_model({model!r})
t3 = time.perf_counter()
fe = model.frontend
enc = getattr(fe, "encoder", None)
t4 = time.perf_counter()
kpanim.predict({wav!r}, model={model!r}, seed=0)
t5 = time.perf_counter()
print(f"import torch {{t1 - t0:.2f}} s, import kpanim {{t2 - t1:.2f}} s, load MODA + FaCo-Net {{t3 - t2:.2f}} s, "
      f"load audio encoder {{t4 - t3:.2f}} s, first predict of 2.3 s of speech {{t5 - t4:.2f}} s; "
      f"total {{t5 - t0:.2f}} s after the interpreter started")
"""


def startup(model) -> None:
    """Where a short clip's wait goes, in a fresh interpreter (nothing cached in the process)."""
    import subprocess
    import sys

    from kpanim.speech.audio import save_wav
    from kpanim.speech.tts import synthesize

    with tempfile.TemporaryDirectory() as tmp:
        wav = str(Path(tmp) / "short.wav")
        save_wav(wav, synthesize("Hello there, this is a short test."))
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", STARTUP.format(model=model, wav=wav)], capture_output=True,
                             text=True, check=True)
        print(f"start-up: {out.stdout.strip()} (process wall {time.perf_counter() - t0:.2f} s)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="MODA checkpoint (default: the shipped model)")
    ap.add_argument("--hour", action="store_true", help="also run one hour of audio")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--startup", action="store_true", help="first time a short clip's start-up in a fresh process")
    args = ap.parse_args()
    if args.startup:
        startup(args.model)
    import torch

    from kpanim.animate.bundle import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    model = load_model(args.model)
    model.frontend(speech(1.0), 25, 25.0)  # load + warm up the audio front-end
    from kpanim.speech.speech_check import no_speech_probability

    no_speech_probability(speech(1.0))  # and the speech check's Whisper model
    print(f"model load + warm-up: {time.perf_counter() - t0:.2f} s, peak RSS {peak_rss_mb():.0f} MB "
          f"(cpus: {os.cpu_count()}, torch threads: {torch.get_num_threads()})")
    cases = [60.0] + ([3600.0] if args.hour else [])
    with tempfile.TemporaryDirectory() as tmp:
        for sec, check in [(c, k) for c in cases for k in (True, False)]:
            r = run(model, sec, Path(tmp), check)
            print(f"{sec:>6.0f} s audio{'' if check else ' (check_speech=False)'}: predict {r['predict_s']:.2f} s + save {r['save_s']:.2f} s = "
                  f"{r['total_s']:.2f} s, RTF {r['rtf']:.4f}, peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
