"""Benchmarks of ``kpanim render``: speed, flicker, fidelity, realism, per-subject fine-tuning.

    python benchmarks/bench_render.py [--renderer PATH] [--videos DIR] [--only speed,flicker,...]

* speed: frames/s at 512² on this CPU, warp-only and with the neural renderer, time per stage.
* flicker: mean absolute difference of consecutive frames (face crop) on a still-face animation.
* fidelity: MediaPipe run on the rendered video; its mouth/eye points vs the driving keypoints
  (LMD, % of inter-ocular distance), for motion taken from held-out real clips, retargeted onto the
  astronaut photo. Baseline: the same distance for the neutral face under the same head poses.
* realism: held-out real clips (benchmarks/renderer_val_videos.txt), reference = first tracked
  frame, each other tracked frame re-rendered from its own keypoints; PSNR/SSIM vs the real frame on
  the face crop and mouth box, warp-only vs warp + U-Net.
* mouth: on the realism pairs whose target mouth is open, the mouth interior: sharpness ratio
  (Laplacian variance of the mouth box, rendered / real) and the share of teeth-like pixels inside the
  inner-lip polygon, rendered vs real (``renderer.metrics.mouth_interior_metrics``).
* blinks: held-out prepared clips' closed-eye frames rendered from an open-eye reference frame;
  MediaPipe re-detects the eyes on the real, warp-only and neural crops; eye aspect ratio (EAR) of
  each, relative to the reference photo's, vs the driving keypoints'.
* realism_v1val: realism + mouth on the val clips (unseen speakers) of the prepared dataset.
* finetune: 3 min of `train renderer` on the first 60 % of one held-out video, scored on its last 40 %.
* sheet: contact sheet PNG (docs/img/render_contact_sheet.png).
``--baseline PATH`` also scores a second renderer (e.g. the previous default) in realism/mouth/blinks.
Needs ../shared/data (real clips) for fidelity/realism/finetune/sheet; writes benchmarks/results/render.json.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from kpanim.renderer import data as rdata
from kpanim.renderer.metrics import face_box, mouth_interior_metrics
from kpanim.renderer.render import Rig, load_renderer, render, retarget
from kpanim.renderer.train import TrainConfig, evaluate, network_frames, train

from kpanim.dataset.clip import PreparedClip
from kpanim.evaluation.metrics import eye_aspect_ratio
from kpanim.face import constants, topology
from kpanim.formats.animation import Animation

ROOT = Path(__file__).resolve().parents[1]
VAL_LIST = ROOT / "benchmarks" / "renderer_val_videos.txt"
OUT = ROOT / "benchmarks" / "results"
TMP = Path(tempfile.gettempdir()) / "kpanim_bench_render"


def astronaut_subject():
    from PIL import Image
    from skimage.data import astronaut

    from kpanim.tracking.subject import make_subject

    TMP.mkdir(parents=True, exist_ok=True)
    path = TMP / "astronaut.png"
    Image.fromarray(astronaut()).save(path)
    return path, make_subject(path)


def talking(subject, n: int) -> Animation:
    y = subject.neutral[:, 1]
    jaw = np.clip((subject.neutral[13, 1] - y) / 0.03, 0, 1) * (np.abs(subject.neutral[:, 0]) < 0.05)
    amp = 0.012 * np.sin(np.linspace(0, 6 * np.pi, n)) ** 2
    dense = subject.neutral[None] - amp[:, None, None] * jaw[None, :, None] * np.array([0, 1, 0])
    pose = np.repeat(subject.head_pose[None], n, 0)
    pose[:, 1] += 0.08 * np.sin(np.linspace(0, 2 * np.pi, n))
    return Animation.from_dense(dense, pose, np.repeat(subject.torso[None], n, 0), 25.0,
                                {"subject_sha256": subject.image_sha256})


UPPER_LIDS = {"right": topology.RIGHT_UPPER_LID, "left": topology.LEFT_UPPER_LID}
LOWER_LIDS = {"right": topology.RIGHT_LOWER_LID, "left": topology.LEFT_LOWER_LID}


def blinking(subject, n: int = 24) -> Animation:
    """Still head, the mouth opening once and the eyes closing fully twice (upper lids onto the lower)."""
    closure = np.clip(1.6 * np.sin(np.linspace(0, 2 * np.pi, n)) ** 2 - 0.3, 0, 1)
    base = talking(subject, n)
    dense = base.dense.copy()
    for side, iris in (("right", list(topology.RIGHT_IRIS)), ("left", list(topology.LEFT_IRIS))):
        up, lo = list(UPPER_LIDS[side]), list(LOWER_LIDS[side])
        gap = subject.neutral[lo, 1] - subject.neutral[up, 1]  # negative: lower lid sits below (+Y up)
        dense[:, up, 1] += closure[:, None] * gap[None]
        # the iris collapses onto the lid line too (else the eye's triangles fold over)
        lid_y = subject.neutral[lo, 1].mean()
        dense[:, iris, 1] += closure[:, None] * (lid_y - subject.neutral[iris, 1])[None]
    pose = np.repeat(subject.head_pose[None], n, 0)
    return Animation.from_dense(dense, pose, base.torso, 25.0, {"subject_sha256": subject.image_sha256})


def bench_speed(photo, subject, net, n: int = 100) -> dict:
    """Per-stage timing of the frame loop at 512², plus end-to-end render() (includes H.264 encode)."""
    anim = talking(subject, n)
    rig = Rig(cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB), subject, size=512)
    stages = {"points": 0.0, "warp": 0.0, "sketch+crop": 0.0, "unet": 0.0, "paste": 0.0}
    with torch.inference_mode():
        for i in range(n):
            t0 = time.perf_counter()
            dst = rig.points(anim.dense[i], anim.head_pose[i], anim.torso[i])
            t1 = time.perf_counter()
            warped = rig.warp_frame(dst, anim.head_pose[i])
            t2 = time.perf_counter()
            sketch, wnet = rig.net_inputs(warped, dst)
            t3 = time.perf_counter()
            ts = [torch.from_numpy(a).permute(2, 0, 1)[None].contiguous().float() / 255
                  for a in (sketch, wnet, rig.photo_net)]
            frame, _ = net(*ts, torch.tensor([i]))
            t4 = time.perf_counter()
            rig.paste_correction(warped, frame[0].permute(1, 2, 0).numpy() * 255 - wnet.astype(np.float32))
            t5 = time.perf_counter()
            for k, a, b in (("points", t0, t1), ("warp", t1, t2), ("sketch+crop", t2, t3), ("unet", t3, t4),
                            ("paste", t4, t5)):
                stages[k] += (b - a) * 1000 / n
    out = {"stages_ms": {k: round(v, 2) for k, v in stages.items()}}
    for name, r in (("warp_only", "none"), ("neural", net)):
        s = render(anim, photo, TMP / f"speed_{name}.mp4", renderer=r, subject=subject, progress=False, threads=2)
        out[f"{name}_fps_end_to_end"] = round(s.frames / s.seconds, 1)
    return out


def decode(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def bench_flicker(photo, subject, net, n: int = 50) -> dict:
    still = Animation.from_dense(np.repeat(subject.neutral[None], n, 0), np.repeat(subject.head_pose[None], n, 0),
                                 np.repeat(subject.torso[None], n, 0), 25.0, {"subject_sha256": subject.image_sha256})
    out = {}
    fy, fx = face_box(512)
    for name, r in (("warp_only", "none"), ("neural", net)):
        render(still, photo, TMP / f"still_{name}.mp4", renderer=r, subject=subject, progress=False)
        frames = np.stack(decode(TMP / f"still_{name}.mp4")).astype(np.float32)[:, fy, fx]
        out[f"{name}_mean_abs_frame_diff"] = round(float(np.abs(np.diff(frames, axis=0)).mean()), 3)
    return out


def consecutive_track(path: Path, start: int, n: int) -> dict:
    """Track n consecutive frames (from ``start``) of a video."""
    from kpanim.face.camera import Camera
    from kpanim.face.facefit import fit_landmarks
    from kpanim.tracking.landmarks import FaceTracker
    from kpanim.tracking.shoulders import PersonSegmenter, shoulder_points_px

    rows = {k: [] for k in ("dense", "head_pose", "torso")}
    with FaceTracker() as tr, PersonSegmenter() as seg:
        for i, rgb in rdata.decode_frames(path, set(range(start, start + n))):
            pts = tr.track(rgb)
            if pts is None:
                continue
            cam = Camera.for_image(rgb.shape[1], rgb.shape[0])
            dense, pose, torso = fit_landmarks(pts, shoulder_points_px(seg.mask(rgb), pts), cam)
            for k, v in (("dense", dense), ("head_pose", pose), ("torso", torso)):
                rows[k].append(v)
    return {k: np.stack(v) for k, v in rows.items()}


def lmd_percent(a: np.ndarray, b: np.ndarray, idx: np.ndarray, iod: np.ndarray) -> float:
    return float(np.mean(np.linalg.norm(a[:, idx] - b[:, idx], axis=-1).mean(1) / iod) * 100)


def bench_fidelity(photo, subject, net, videos: list[Path], n: int = 75) -> dict:
    """Drive the astronaut with held-out clips' motion; re-detect with MediaPipe; LMD vs the driving points."""
    from kpanim.tracking.landmarks import FaceTracker

    mouth, eyes = constants.lip_index(), constants.eye_index()
    eyes = eyes[~np.isin(eyes, np.arange(468, 478))]  # irises: MediaPipe's iris is too noisy for this
    res = {"warp_only": [], "neural": [], "no_expression_baseline": []}
    for video in videos:
        tr = consecutive_track(video, 0, n)
        anim = retarget(Animation.from_dense(tr["dense"], tr["head_pose"], tr["torso"], 25.0), subject)
        rig = Rig(np.zeros((subject.camera.height, subject.camera.width, 3), np.uint8), subject, size=512,
              fit_photo=True)  # the framing render() uses
        drive = np.stack([rig.points(anim.dense[i], anim.head_pose[i], anim.torso[i])[:478] for i in range(len(anim))])
        iod = np.linalg.norm(drive[:, 468] - drive[:, 473], axis=-1)
        for name, r in (("warp_only", "none"), ("neural", net)):
            render(anim, photo, TMP / f"fid_{name}.mp4", renderer=r, subject=subject, progress=False)
            with FaceTracker() as ft:
                det = [ft.track(f) for f in decode(TMP / f"fid_{name}.mp4")]
            ok = np.array([d is not None for d in det])
            got = np.stack([d[:, :2] for d in det if d is not None])
            res[name].append({"video": video.name, "detected": float(ok.mean()),
                              "mouth": lmd_percent(got, drive[ok], mouth, iod[ok]),
                              "eyes": lmd_percent(got, drive[ok], eyes, iod[ok])})
        # baseline: the neutral face under each frame's head pose (what a render ignoring expressions would give)
        still = np.stack([rig.points(subject.neutral, anim.head_pose[i], anim.torso[i])[:478] for i in range(len(anim))])
        res["no_expression_baseline"].append({"video": video.name, "mouth": lmd_percent(still, drive, mouth, iod),
                                          "eyes": lmd_percent(still, drive, eyes, iod)})
    return {k: {"mouth_lmd_pct": round(float(np.mean([r["mouth"] for r in v])), 2),
                "eyes_lmd_pct": round(float(np.mean([r["eyes"] for r in v])), 2), "per_video": v} for k, v in res.items()}


def first_frame_pairs(video: Path, dataset: Path | None, n_frames: int = 32) -> tuple[dict, str]:
    """Pairs (first tracked frame → each other frame) of a held-out clip: its prepared keypoints
    (``kpanim prepare`` dataset) when the dataset has the clip, else tracked here."""
    clip = dataset / "clips" / f"{video.stem}.npz" if dataset else None
    if clip is not None and clip.is_file():
        track, how = rdata.prepared_clip_frames(clip, n_frames), "prepared"
    else:
        track, how = rdata.track_frames(video, n_frames, seed=1), "tracked"
    return rdata.make_pairs(track, len(track["frames"]) - 1, reference=0), how


def bench_realism(net, videos: list[Path], dataset: Path | None, baseline=None) -> tuple[dict, dict]:
    per, all_pairs = [], []
    for v in videos:
        try:
            pairs, how = first_frame_pairs(v, dataset)
        except Exception as err:  # a held-out clip without a trackable face
            print(f"skip {v.name}: {err}")
            continue
        all_pairs.append(pairs)
        per.append({"video": v.name, "keypoints": how, **evaluate(net, pairs, max_pairs=64)})
    merged = {k: np.concatenate([p[k] for p in all_pairs]) for k in all_pairs[0]}
    summary = evaluate(net, merged, max_pairs=10_000)
    if baseline is not None:
        summary["baseline"] = evaluate(baseline, merged, max_pairs=10_000)["neural"]
    return {"pairs": int(len(merged["target"])), "videos": len(per), **summary, "per_video": per}, merged


def bench_mouth(net, pairs: dict, baseline=None) -> dict:
    """Mouth interior on the open-mouth pairs: sharpness ratio and teeth share, rendered vs real."""
    n = len(pairs["target"])
    preds = {"warp": pairs["warped"], "neural": network_frames(net, pairs, n)}
    if baseline is not None:
        preds["baseline"] = network_frames(baseline, pairs, n)
    return mouth_interior_metrics(preds, pairs["target"], pairs["sketch"], pairs["weight"])


def held_out_prepared_clips(dataset: Path, videos: list[Path]) -> list[Path]:
    """Prepared clips cut from the held-out videos (renderer_val_videos.txt) of the dataset."""
    index = json.loads((dataset / "index.json").read_text())
    names = {v.name for v in videos}
    return [dataset / "clips" / f"{r['clip_id']}.npz" for r in index if Path(r["source"]).name in names]


def blink_pairs(clip: Path, per_clip: int = 8) -> dict | None:
    """Pairs of one prepared clip: reference = an open-eye frame, targets = closed-eye frames (EAR below
    60 % of the clip's median), spread over its blinks. None if the clip has no blink."""
    prepared = PreparedClip.load(clip, require=("landmarks_px",))
    pts, valid = prepared.landmarks_px, prepared.valid
    idx = np.flatnonzero(valid)
    ear = eye_aspect_ratio(pts[idx])
    shut = idx[ear < 0.6 * np.median(ear)]
    if len(shut) == 0:
        return None
    shut = shut[np.unique(np.linspace(0, len(shut) - 1, min(per_clip, len(shut))).round().astype(int))]
    ref = idx[np.argsort(np.abs(ear - np.median(ear)))[0]]  # a typical open-eye frame plays the photo
    track = rdata.prepared_clip_frames(clip, frames=np.concatenate([[ref], shut]))
    pairs = rdata.make_pairs(track, len(track["frames"]) - 1, reference=0)
    pairs["driving_ear"] = eye_aspect_ratio(track["landmarks_px"][1:])
    pairs["driving_ref_ear"] = np.full(len(track["frames"]) - 1, eye_aspect_ratio(track["landmarks_px"][:1])[0])
    return pairs


def detected_ear(images: np.ndarray) -> np.ndarray:
    """MediaPipe EAR of each 256² crop (upscaled 2× for the detector); NaN where no face is found."""
    from kpanim.tracking.landmarks import detect_faces, quiet_native_stderr

    out = []
    with quiet_native_stderr():
        for img in images:
            faces = detect_faces(cv2.resize(img, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC), max_faces=1)
            out.append(eye_aspect_ratio(faces[0][None])[0] if faces else np.nan)
    return np.array(out)


def bench_blinks(net, dataset: Path, videos: list[Path], baseline=None) -> dict:
    """Are closed eyes painted? EAR re-detected on rendered closed-eye frames, relative to the open-eye
    reference photo's, vs the real frames and the driving keypoints."""
    parts = [p for c in held_out_prepared_clips(dataset, videos) if (p := blink_pairs(c)) is not None]
    pairs = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n = len(pairs["target"])
    ref_ear = detected_ear(pairs["photo"])
    images = {"real": pairs["target"], "warp": pairs["warped"], "neural": network_frames(net, pairs, n)}
    if baseline is not None:
        images["baseline"] = network_frames(baseline, pairs, n)
    out = {"clips": len(parts), "pairs": n,
           "driving": round(float(np.mean(pairs["driving_ear"] / pairs["driving_ref_ear"])), 3)}
    for name, imgs in images.items():
        rel = detected_ear(imgs) / ref_ear
        out[name] = {"ear_relative": round(float(np.nanmean(rel)), 3), "detected": round(float(np.isfinite(rel).mean()), 3),
                     "closed_share": round(float(np.nanmean(rel < 0.6)), 3)}
    blink_sheet({"photo": pairs["photo"], **images}, TMP / "render_blinks_real.png")
    return out


def astronaut_blinks(net, photo, subject, baseline=None) -> dict:
    """The astronaut driven by ``blinking``: MediaPipe EAR of the rendered frames vs the driving keypoints'
    EAR, on the frames where the driving eyes are nearly shut (below 30 % of the open EAR)."""
    from kpanim.tracking.landmarks import detect_faces, quiet_native_stderr

    anim = blinking(subject)
    rig = Rig(np.zeros((subject.camera.height, subject.camera.width, 3), np.uint8), subject, size=512,
              fit_photo=True)  # the framing render() uses
    drive = eye_aspect_ratio(np.stack([rig.points(anim.dense[i], anim.head_pose[i], anim.torso[i])[:478]
                                       for i in range(len(anim))]))
    shut = drive < 0.3 * drive[0]
    out = {"frames_shut": int(shut.sum()), "driving_shut_ear_relative": round(float(np.mean(drive[shut] / drive[0])), 3)}
    for name, r in (("warp", "none"), ("baseline", baseline), ("neural", net)):
        if r is None:
            continue
        render(anim, photo, TMP / f"blink_{name}.mp4", renderer=r, subject=subject, progress=False)
        with quiet_native_stderr():
            faces = [detect_faces(f, max_faces=1) for f in decode(TMP / f"blink_{name}.mp4")]
        ear = np.array([eye_aspect_ratio(f[0][None])[0] if f else np.nan for f in faces])
        out[name] = {"shut_ear_relative": round(float(np.nanmean(ear[shut] / ear[0])), 3),
                     "open_ear_relative": round(float(np.nanmean(ear[~shut] / ear[0])), 3)}
    return out


def blink_sheet(images: dict[str, np.ndarray], out: Path, rows: int = 6) -> None:
    """Eye band of closed-eye pairs, enlarged: columns photo | real | warp | [baseline |] neural."""
    from PIL import Image

    fy, fx = face_box(images["photo"].shape[1])
    band = slice(fy.start + (fy.stop - fy.start) // 5, fy.start + (fy.stop - fy.start) // 2)
    picks = np.linspace(0, len(images["photo"]) - 1, rows).round().astype(int)
    grid = [np.concatenate([cv2.resize(images[k][i][band, fx], None, fx=1.5, fy=1.5) for k in images], 1) for i in picks]
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(grid, 0)).save(out, optimize=True)


def bench_finetune(net, video: Path, minutes: float = 3.0) -> dict:
    track = rdata.track_frames(video, 96, seed=2)
    k = len(track["frames"])
    cut = int(0.6 * k)

    def subset(idx):
        return {key: (val[idx] if isinstance(val, np.ndarray) else [val[i] for i in idx] if isinstance(val, list)
                      else val) for key, val in track.items()}

    train_pairs = rdata.make_pairs(subset(np.arange(cut)), 300)
    test_idx = np.concatenate([[0], np.arange(cut, k)])
    test_pairs = rdata.make_pairs(subset(test_idx), len(test_idx) - 1, reference=0)
    before = evaluate(net, test_pairs, max_pairs=1000)
    tuned, info = train(train_pairs, None, TrainConfig(minutes=minutes, lr=1e-4), model=copy.deepcopy(net),
                        progress=False)
    after_regions = evaluate(tuned, test_pairs, max_pairs=1000)
    tuned.paint_scope = "face"  # what `kpanim train renderer VIDEO` ships
    after = evaluate(tuned, test_pairs, max_pairs=1000)
    return {"video": video.name, "minutes": minutes, "steps": info["steps"], "test_pairs": len(test_idx) - 1,
            "general": before, "finetuned": after, "finetuned_regions_only": after_regions}


def contact_sheet(net, pairs: dict, out: Path, tile: int = 160, baseline=None) -> None:
    """Rows: held-out pairs with the widest mouths: photo | real | warp only | [baseline |] neural | sketch.
    (Real frames: research media, written outside the repository.)"""
    from PIL import Image

    weight_rows = [(w[w.shape[0] // 2:] > 0).sum() for w in pairs["weight"]]
    order = np.argsort(weight_rows)[::-1]
    picked, seen = [], set()
    for i in order:  # widest mouth per distinct reference photo
        key = pairs["photo"][i][::32, ::32].tobytes()
        if key not in seen:
            seen.add(key)
            picked.append(i)
        if len(picked) == 5:
            break
    rows = []
    for i in picked:
        one = {k: v[i:i + 1] for k, v in pairs.items()}
        neural = network_frames(net, one, 1)[0]
        extra = [network_frames(baseline, one, 1)[0]] if baseline is not None else []
        cells = [pairs["photo"][i], pairs["target"][i], pairs["warped"][i], *extra, neural, pairs["sketch"][i]]
        rows.append(np.concatenate([cv2.resize(c, (tile, tile), interpolation=cv2.INTER_AREA) for c in cells], 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(out, optimize=True)


def astronaut_sheet(net, photo, subject, out: Path, baseline=None, frames=(0, 3, 5, 6, 9, 12)) -> None:
    """The public-domain astronaut driven by ``blinking`` (mouth opens, eyes close): one row per renderer
    (warp only, [baseline,] neural), face crops of the frames ``frames``; the committed contact sheet."""
    from PIL import Image

    anim = blinking(subject)
    rows = []
    for name, r in (("warp", "none"), ("baseline", baseline), ("neural", net)):
        if r is None:
            continue
        render(anim, photo, TMP / f"sheet_{name}.mp4", renderer=r, subject=subject, progress=False)
        video = decode(TMP / f"sheet_{name}.mp4")
        fy, fx = face_box(video[0].shape[0])
        rows.append(np.concatenate([cv2.resize(video[j][fy, fx], (192, 192), interpolation=cv2.INTER_AREA)
                                    for j in frames], 1))
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows, 0)).save(out, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--renderer", default="default")
    ap.add_argument("--videos", type=Path, default=Path("../shared/data/video"))
    ap.add_argument("--dataset", type=Path, default=Path("datasets/shared_v2"),
                    help="prepared dataset whose keypoints drive the realism test (clips tracked here otherwise)")
    ap.add_argument("--only", default="speed,flicker,fidelity,realism,mouth,blinks,realism_v1val,finetune,sheet")
    ap.add_argument("--baseline", default=None, help="a second renderer scored alongside (realism/mouth/blinks)")
    ap.add_argument("--sheet-dir", type=Path, default=TMP,
                    help="where sheets of real (research-licensed) frames go; never the repository")
    ap.add_argument("--out", type=Path, default=None, help="results JSON [default: benchmarks/results/render.json]")
    ap.add_argument("--finetune-minutes", type=float, default=3.0)
    args = ap.parse_args()
    torch.set_num_threads(2)
    only = set(args.only.split(","))
    net = load_renderer(args.renderer)
    if net is None:
        raise SystemExit("no renderer weights: pass --renderer PATH")
    photo, subject = astronaut_subject()
    val = [args.videos / n for n in VAL_LIST.read_text().split() if (args.videos / n).is_file()]
    OUT.mkdir(parents=True, exist_ok=True)
    results_path = args.out or OUT / "render.json"
    baseline = load_renderer(args.baseline) if args.baseline else None
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    results["renderer"] = str(args.renderer)
    results["baseline"] = args.baseline
    if "speed" in only:
        results["speed"] = bench_speed(photo, subject, net)
        print("speed", results["speed"])
    if "flicker" in only:
        results["flicker"] = bench_flicker(photo, subject, net)
        print("flicker", results["flicker"])
    if "fidelity" in only:
        results["fidelity"] = bench_fidelity(photo, subject, net, val[:4])
        print("fidelity", {k: {kk: vv for kk, vv in v.items() if kk != "per_video"} for k, v in results["fidelity"].items()})
    pairs = None
    dataset = args.dataset if args.dataset.is_dir() else None
    if only & {"realism", "mouth", "sheet"}:
        results["realism"], pairs = bench_realism(net, val, dataset, baseline)
        print("realism", {k: v for k, v in results["realism"].items() if k != "per_video"})
    if "mouth" in only:
        results["mouth"] = bench_mouth(net, pairs, baseline)
        print("mouth", results["mouth"])
    if "blinks" in only and dataset:
        results["blinks"] = bench_blinks(net, dataset, val, baseline)
        results["blinks"]["astronaut"] = astronaut_blinks(net, photo, subject, baseline)
        print("blinks", results["blinks"])
    if "realism_v1val" in only and dataset:
        index = json.loads((dataset / "index.json").read_text())
        v1val = [Path(r["source"]) for r in index if r["split"] == "val"]
        results["realism_v1val"], v1pairs = bench_realism(net, v1val, dataset, baseline)
        results["realism_v1val"]["mouth"] = bench_mouth(net, v1pairs, baseline)
        print("realism_v1val", {k: v for k, v in results["realism_v1val"].items() if k != "per_video"})
    if "finetune" in only:
        results["finetune"] = bench_finetune(net, val[0], args.finetune_minutes)
        print("finetune", results["finetune"])
    if "sheet" in only:
        contact_sheet(net, pairs, args.sheet_dir / "render_contact_sheet_real.png", baseline=baseline)
        astronaut_sheet(net, photo, subject, ROOT / "docs" / "img" / "render_contact_sheet.png", baseline=baseline)
    results_path.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
