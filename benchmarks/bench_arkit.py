"""Speed of the ARKit-52 curves (kpanim.animate.arkit) for 60 s of animation, and of writing the files.

    python benchmarks/bench_arkit.py [--seconds 60] [--fps 25] [--repeat 5] [--threads N] [--precision P]

The animation is bench_gltf's synthetic 60 s clip (template face, jaw/lips/brows/lids/smile motion, head
turns). Timed: the first call (weights load + torch warm-up), then the median of --repeat calls of
``animation_curves`` (frontal projection + the batched Blendshape V2 port), and of writing the Live Link
Face CSV and the JSON (curves given, so only the formatting and the atomic write). Wall clock and process
CPU. torch uses --threads threads (default: torch's own choice); --precision is animation_curves' number type
(auto: bfloat16 MLPs where the CPU has AMX / AVX512-BF16; both are timed, alternating, with --precision both).
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
    ap.add_argument("--precision", default="both", choices=["both", "auto", "float32", "bfloat16"])
    args = ap.parse_args()
    import torch

    from kpanim.animate import arkit

    if args.threads:
        torch.set_num_threads(args.threads)
    anim = synthetic_clip(args.seconds, args.fps)
    print(f"{anim.n_frames} frames ({anim.duration:.0f} s at {anim.fps:g} fps), torch threads {torch.get_num_threads()}")
    kinds = ["float32", "bfloat16"] if args.precision == "both" else [args.precision]
    for kind in kinds:
        w0 = time.perf_counter()
        curves = arkit.animation_curves(anim, precision=kind)
        print(f"first call, {kind} (loads the weights): {time.perf_counter() - w0:.3f} s")
    runs = {kind: [] for kind in kinds}
    for _ in range(args.repeat):  # alternating, so a change of machine load hits both alike
        for kind in kinds:
            runs[kind].append(timed(lambda: arkit.animation_curves(anim, precision=kind), 1))
    for kind, values in runs.items():
        wall, cpu = statistics.median(v[0] for v in values), statistics.median(v[1] for v in values)
        print(f"animation_curves {kind}: {wall:.3f} s wall, {cpu:.3f} s CPU ({1e3 * wall / anim.n_frames:.3f} "
              f"ms/frame; median of {args.repeat})")
    curves = arkit.animation_curves(anim, precision=kinds[-1])
    with tempfile.TemporaryDirectory() as tmp:
        for suffix in (".arkit.csv", ".arkit.json"):
            path = Path(tmp) / f"a{suffix}"
            wall, cpu = timed(lambda: arkit.write_curves(anim, path, curves), args.repeat)
            print(f"write {suffix}: {wall:.3f} s wall, {cpu:.3f} s CPU, {path.stat().st_size / 1024:.0f} KiB")
    assert curves.shape == (anim.n_frames, 52) and np.isfinite(curves).all()


if __name__ == "__main__":
    main()
