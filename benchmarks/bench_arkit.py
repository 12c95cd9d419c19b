"""Speed of the ARKit-52 curves (kpanim.arkit) for 60 s of animation, and of writing the files.

    python benchmarks/bench_arkit.py [--seconds 60] [--fps 25] [--repeat 5] [--threads N]

The animation is bench_gltf's synthetic 60 s clip (template face, jaw/lips/brows/lids/smile motion, head
turns). Timed: the first call (weights load + torch warm-up), then the median of --repeat calls of
``animation_curves`` (frontal projection + the batched Blendshape V2 port), and of writing the Live Link
Face CSV and the JSON (curves given, so only the formatting and the atomic write). Wall clock and process
CPU. torch uses --threads threads (default: torch's own choice).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_gltf import synthetic_clip  # noqa: E402


def timed(fn, repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    import torch

    from kpanim import arkit

    if args.threads:
        torch.set_num_threads(args.threads)
    anim = synthetic_clip(args.seconds, args.fps)
    print(f"{anim.n_frames} frames ({anim.duration:.0f} s at {anim.fps:g} fps), torch threads {torch.get_num_threads()}")
    w0 = time.perf_counter()
    curves = arkit.animation_curves(anim)
    print(f"first call (loads the weights): {time.perf_counter() - w0:.3f} s")
    wall, cpu = timed(lambda: arkit.animation_curves(anim), args.repeat)
    print(f"animation_curves: {wall:.3f} s wall, {cpu:.3f} s CPU ({1e3 * wall / anim.n_frames:.3f} ms/frame)")
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".arkit.csv", ".arkit.json"):
            path = Path(tmp) / f"a{suffix}"
            wall, cpu = timed(lambda: arkit.write_curves(anim, path, curves), args.repeat)
            print(f"write {suffix}: {wall:.3f} s wall, {cpu:.3f} s CPU, {path.stat().st_size / 1024:.0f} KiB")
    assert curves.shape == (anim.n_frames, 52) and np.isfinite(curves).all()


if __name__ == "__main__":
    main()
