"""Benchmark the ``phones`` front-end (pocketsphinx allphone) and the viseme track: real-time factor.

Usage: python benchmarks/bench_phones.py [--seconds 60] [--repeat 3] [AUDIO ...]
Without AUDIO, espeak-ng speech (espeakng-loader) tiled to --seconds; with AUDIO files, each file.
Prints, per input, the best of --repeat wall times of the front-end, the viseme track, and the
real-time factor (processing time / audio duration). Run with OMP_NUM_THREADS=1 (pocketsphinx is
single-threaded anyway).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def speech(seconds: float) -> np.ndarray:
    from kpanim.speech.tts import synthesize

    text = ("The quick brown fox jumps over the lazy dog. She sells sea shells by the sea shore. "
            "How much wood would a woodchuck chuck if a woodchuck could chuck wood? ")
    base = synthesize(text)
    return np.tile(base, int(np.ceil(seconds * 16000 / len(base))))[: int(seconds * 16000)]


def best_time(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    from kpanim.animate.visemes import viseme_track
    from kpanim.speech.audio import load_audio
    from kpanim.speech.mel import n_frames_for
    from kpanim.speech.phone_frontend import PhoneFrontend

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("audio", nargs="*", type=Path)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    inputs = [(p.name, load_audio(p)) for p in args.audio] or [(f"espeak {args.seconds:g} s", speech(args.seconds))]
    t0 = time.perf_counter()
    fe = PhoneFrontend()
    print(f"decoder init {time.perf_counter() - t0:.3f} s")
    keys = np.random.default_rng(0).normal(size=(9, 120)).astype(np.float32)
    print(f"{'input':40s} {'sec':>6s} {'phones s':>8s} {'track s':>8s} {'RTF':>6s}")
    for name, audio in inputs:
        T = n_frames_for(len(audio), 25.0)
        t_ph, phones = best_time(lambda: fe(audio, T, 25.0), args.repeat)
        t_tr, _ = best_time(lambda: viseme_track(phones, keys, 25.0), args.repeat)
        dur = len(audio) / 16000
        print(f"{name[:40]:40s} {dur:6.1f} {t_ph:8.3f} {t_tr:8.3f} {(t_ph + t_tr) / dur:6.4f}")


if __name__ == "__main__":
    main()
