"""Benchmarks of ``kpanim prepare``: tracker jitter on a still face before/after smoothing, the
smoothing's cost on real lip motion, and the speed recorded by a prepare run.

    python benchmarks/bench_prepare.py                       # still-face jitter (synthetic, no data needed)
    python benchmarks/bench_prepare.py --dataset datasets/shared_v1   # + real clips, speed

Jitter = mean |x[t+1] - 2x[t] + x[t-1]| of the stable face points in the camera frame, in
inter-ocular distances per frame² (kpanim.evaluation.metrics.jitter). Results go in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np


def still_face_video(path: Path, seconds: float = 8.0, fps: int = 25, noise: float = 3.0) -> None:
    """The astronaut photo, motionless, with per-frame sensor noise, H.264-encoded (CRF 23)."""
    import av
    import cv2
    from skimage import data

    img = cv2.resize(data.astronaut(), (384, 384), interpolation=cv2.INTER_AREA).astype(np.float32)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width = vs.height = 384
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": "23", "preset": "veryfast"}
        for i in range(int(seconds * fps)):
            frame = np.clip(img + rng.normal(scale=noise, size=img.shape), 0, 255).astype(np.uint8)
            f = av.VideoFrame.from_ndarray(frame, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(f))
        out.mux(vs.encode(None))


SETTINGS = ((1, 1), (5, 1), (7, 1), (9, 1), (5, 9), (5, 13))  # (landmark window, head-pose window)


def still_face_jitter(settings=SETTINGS) -> list[dict]:
    from kpanim.dataset.prepare import PrepareConfig, fill_gaps, smooth, smooth_pose, track_video
    from kpanim.evaluation import metrics
    from kpanim.face.camera import Camera
    from kpanim.face.facefit import fit_landmarks

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "still.mp4"
        still_face_video(video)
        tracked = track_video(video, PrepareConfig())
    lm, torso = tracked["landmarks_px"], tracked["torso_px"]
    valid = np.isfinite(lm).all(axis=(1, 2))
    lm, torso = fill_gaps(lm, valid), fill_gaps(torso, valid)
    camera = Camera.for_image(*tracked["size"])
    for w, pw in settings:
        dense, pose, _ = fit_landmarks(smooth(lm, w, 2), smooth(torso, w, 2), camera)
        pose = smooth_pose(pose, pw)
        rows.append({"window": w, "pose_window": pw, "frames": len(lm), "valid": float(valid.mean()),
                     "jitter": metrics.jitter(dense, pose), "jitter_canonical": metrics.jitter(dense),
                     "pose_rot_std_deg": metrics.head_motion_std(pose)[0]})
    return rows


def dataset_summary(dataset: Path) -> dict:
    """Real clips: jitter raw vs smoothed, and how much mouth-opening std the smoothing keeps."""
    from kpanim.dataset.clip import PreparedClip
    from kpanim.dataset.prepare import fill_gaps
    from kpanim.evaluation import metrics
    from kpanim.face.facefit import fit_landmarks

    index = json.loads((dataset / "index.json").read_text())
    report = json.loads((dataset / "report.json").read_text())
    keep, rot_keep = [], []
    for c in index[:: max(1, len(index) // 40)]:  # every k-th clip, 40–80 clips
        clip = PreparedClip.load(dataset / "clips" / f"{c['clip_id']}.npz", require=("landmarks_px", "camera"))
        anim, valid, cam = clip.animation, clip.valid, clip.pinhole()
        lm = clip.landmarks_px.astype(np.float64)
        raw_dense, _, _ = fit_landmarks(fill_gaps(lm, valid), np.zeros((len(lm), 18, 2)), cam)
        o_raw = metrics.mouth_opening(metrics.align_to_template(raw_dense))
        o_s = metrics.mouth_opening(metrics.align_to_template(anim.dense))
        keep.append(np.std(o_s) / max(np.std(o_raw), 1e-12))
        _, raw_pose, _ = fit_landmarks(fill_gaps(lm, valid), np.zeros((len(lm), 18, 2)), cam)
        rot_keep.append(metrics.head_motion_std(anim.head_pose)[0] / max(metrics.head_motion_std(raw_pose)[0], 1e-9))
    jr = np.array([c["jitter_raw"] for c in index])
    js = np.array([c["jitter"] for c in index])
    return {"clips": len(index), "minutes": sum(c["seconds"] for c in index) / 60,
            "jitter_raw_median": float(np.median(jr)), "jitter_smoothed_median": float(np.median(js)),
            "jitter_ratio_median": float(np.median(js / jr)),
            "mouth_open_std_kept_median": float(np.median(keep)), "mouth_open_std_kept_min": float(np.min(keep)),
            "head_rot_std_kept_median": float(np.median(rot_keep)), "head_rot_std_kept_min": float(np.min(rot_keep)),
            "seconds_per_minute_of_video": [r["seconds_per_minute_of_video"] for r in report.get("runs", [report])
                                            if r.get("seconds_per_minute_of_video")],
            "process_seconds_per_minute": float(sum(c["process_seconds"] for c in index)
                                                / (sum(c["seconds"] for c in index) / 60))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", type=Path, default=None)
    args = ap.parse_args()
    print("Still face (astronaut, 8 s, sensor noise σ=3, H.264 CRF 23), Savitzky-Golay order 2:")
    print(f"{'window':>7} {'pose window':>12} {'jitter (IOD/frame²)':>21} {'canonical only':>15} {'rot std (deg)':>14}")
    for r in still_face_jitter():
        print(f"{r['window']:>7} {r['pose_window']:>12} {r['jitter']:>21.5f} {r['jitter_canonical']:>15.5f} "
              f"{r['pose_rot_std_deg']:>14.3f}")
    if args.dataset:
        print(json.dumps(dataset_summary(args.dataset), indent=1))


if __name__ == "__main__":
    main()
