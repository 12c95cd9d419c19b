"""Benchmark of the glTF export: time, file size, morph targets and their error for a 60 s clip.

    python benchmarks/bench_gltf.py                       # synthetic 60 s clip at 25 fps
    python benchmarks/bench_gltf.py --video talk.mp4      # real motion: MediaPipe-tracked video

The synthetic clip is the template face with several independent smooth motions (jaw, lips,
brows, blinks, asymmetric smile) plus 0.05 mm of per-vertex jitter, head turns/nods and moving
shoulders. With --video, every frame is tracked (kpanim.tracking.landmarks.FaceTracker), lifted to metres
and split into canonical dense mesh + head pose (kpanim.face.facefit); the torso is held still there.
Times (wall clock and process CPU) are the median of --repeat runs of ``export_glb`` (morph basis
fit + building + writing the file), with single-threaded BLAS.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from kpanim import Animation  # noqa: E402
from kpanim.face.constants import eye_index, lip_index, template  # noqa: E402
from kpanim.face.morph_basis import max_vertex_error  # noqa: E402
from kpanim.formats.gltf_export import export_glb  # noqa: E402
from kpanim.formats.gltf_import import read_glb_motion  # noqa: E402


def synthetic_clip(seconds: float = 60.0, fps: float = 25.0, seed: int = 0) -> Animation:
    rng = np.random.default_rng(seed)
    tpl = template().astype(np.float64)
    t = np.arange(int(seconds * fps)) / fps
    x, y = tpl[:, 0], tpl[:, 1]
    mouth_y = tpl[lip_index(), 1].mean()
    jaw_w = np.clip((mouth_y - y) / 0.03, 0, 1) * np.exp(-(x / 0.05) ** 2)
    lips_w = np.exp(-((y - mouth_y) / 0.012) ** 2 - (x / 0.03) ** 2)
    brow_w = np.clip((y - 0.03) / 0.02, 0, 1)
    lids = np.zeros(len(tpl))
    lids[eye_index()] = 1.0
    smile_w = np.exp(-((y - mouth_y) / 0.02) ** 2) * np.clip(x / 0.03, 0, 1)

    def signal(freq: float) -> np.ndarray:  # smooth, speech-like: sum of random sines
        return sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 6)) for f in freq * rng.uniform(0.6, 1.4, 3)) / 3

    dense = np.repeat(tpl[None], len(t), 0)
    dense[:, :, 1] -= 0.008 * np.clip(signal(3.0), 0, None)[:, None] * jaw_w
    dense[:, :, 0] += 0.004 * signal(2.0)[:, None] * lips_w * np.sign(x)
    dense[:, :, 2] += 0.003 * signal(2.5)[:, None] * lips_w
    dense[:, :, 1] += 0.003 * np.clip(signal(0.3), 0, None)[:, None] * brow_w
    dense[:, :, 1] -= 0.004 * (signal(0.25) > 0.9)[:, None] * lids
    dense[:, :, 0] += 0.003 * np.clip(signal(0.2), 0, None)[:, None] * smile_w
    dense += rng.normal(0, 5e-5, dense.shape)
    pose = np.zeros((len(t), 6))
    pose[:, 0], pose[:, 1], pose[:, 2] = 0.1 * signal(0.3), 0.3 * signal(0.15), 0.05 * signal(0.2)
    pose[:, 3:] = [0.0, 0.02, -0.55]
    side = np.concatenate([np.linspace(0.04, 0.2, 9), -np.linspace(0.04, 0.2, 9)])
    torso = np.stack([side, -0.12 - 0.4 * np.abs(side) ** 1.5, np.full(18, -0.6)], 1)
    torso = torso[None] + np.array([0, 0.004, 0]) * signal(0.25)[:, None, None]
    return Animation.from_dense(dense, pose, torso, fps, {"source": "bench_gltf synthetic"})


def tracked_clip(video: Path, seconds: float) -> Animation:
    import av
    from tqdm import tqdm

    from kpanim.face.camera import Camera
    from kpanim.face.facefit import fit_head, lift_landmarks
    from kpanim.tracking.landmarks import FaceTracker

    points, last = [], None
    with av.open(str(video)) as container, FaceTracker() as tracker:
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        total = int(min(seconds, float(stream.duration * stream.time_base)) * fps) if stream.duration else None
        for frame in tqdm(container.decode(stream), total=total, desc="tracking", unit="frame", file=sys.stderr):
            rgb = frame.to_ndarray(format="rgb24")
            found = tracker.track(rgb)
            last = found if found is not None else last
            if last is not None:
                points.append(last)
            if len(points) >= seconds * fps:
                break
    h, w = rgb.shape[:2]
    dense, pose = fit_head(lift_landmarks(np.stack(points), Camera.for_image(w, h)))
    torso = np.zeros((len(dense), 18, 3))
    torso[:, :, 2] = -0.6
    return Animation.from_dense(dense, pose, torso, fps, {"source": f"tracked {video.name}"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, help="track this talking-face video instead of the synthetic clip")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    anim = tracked_clip(args.video, args.seconds) if args.video else synthetic_clip(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.glb"
        times, cpu = [], []
        for _ in range(args.repeat):
            start, start_cpu = time.perf_counter(), time.process_time()
            report = export_glb(anim, out)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        error = max_vertex_error(read_glb_motion(out).dense(), anim.dense)
        resampled = export_glb(anim, Path(tmp) / "bench30.glb", fps=30)
    source = f"tracked {args.video.name}" if args.video else "synthetic"
    print(f"clip: {source}, {anim.n_frames} frames at {anim.fps:g} fps ({anim.duration:.1f} s)")
    print(f"export_glb: wall median {statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f} ms), "
          f"CPU median {statistics.median(cpu) * 1000:.0f} ms; {args.repeat} runs, 1 BLAS thread, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"file: {report.n_bytes / 1024:.0f} KiB; morph targets {report.n_targets} "
          f"(clip_offset + {report.n_targets - 1} PCA modes)")
    print(f"max vertex error: {report.max_error_m * 1000:.3f} mm reported, {error * 1000:.3f} mm re-measured "
          f"from the file (bound {report.error_bound_m * 1000:g} mm)")
    print(f"--fps 30: {resampled.n_frames} frames, {resampled.n_bytes / 1024:.0f} KiB, "
          f"{resampled.n_targets} targets, {resampled.seconds * 1000:.0f} ms")


if __name__ == "__main__":
    main()
