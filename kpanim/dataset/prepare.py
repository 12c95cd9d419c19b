"""``kpanim prepare``: talking-face videos → a training dataset of 25 fps keypoint animations.

Per clip (docs/DATASET.md): audio → 16 kHz mono aligned to the first video frame; video → 25 fps
by nearest frame in time (:mod:`kpanim.tracking.video`); per frame MediaPipe's 478 points in tracking mode
and the shoulder points from the person mask; lost frames interpolated and flagged; a light
Savitzky–Golay filter on the pixel landmarks (tracker jitter); lifting to the camera frame, the head
pose and the canonical mesh with :mod:`kpanim.face.facefit`; the clip's neutral shape, a reference frame
and per-clip statistics (mouth opening, A/V lag, jitter before/after smoothing). Clips run in
worker processes; a clip whose ``.npz`` loads is done and skipped on the next run; one bad file
never stops the batch, it lands in ``report.json`` with the reason.

Sharding (``--shard K/N``) lets any batch scheduler split the work (a Slurm array, Kubernetes jobs,
plain ``&``): every shard lists the same inputs, takes the videos whose clip id hashes to it, and
writes its clips into the one dataset folder (clip ids are unique over all inputs, so shards never
write the same file). Each shard ends by rebuilding ``index.json``, the split and ``report.json``
from every clip in the folder under an exclusive lock (``.prepare.lock``), so the shard that
finishes last leaves the complete dataset, even when two finish at once. Shards resume like any run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import multiprocessing
import os
import time
import traceback
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import FormatError, KpanimError
from ..evaluation import metrics
from ..formats.animation import Animation, audio_meta
from .clip import PreparedClip
from .index import (
    STATS_VERSION,
    collect_videos,
    file_stamp,
    finalize,
    index_row,
    previous_runs,
    speaker_of,
    unique_clip_ids,
    write_json,
)

# Skip reasons (report.json groups by these).
BROKEN, NO_AUDIO, SILENT, NO_FACE, FACE_LOST, TOO_SHORT, TIMEOUT, ERROR = (
    "broken file", "no audio track", "silent audio", "no face", "face lost too often", "clip too short",
    "timeout", "unexpected error")


@dataclasses.dataclass(frozen=True)
class PrepareConfig:
    """Settings of ``kpanim prepare`` (the CLI options set the main ones; see docs/DATASET.md)."""

    fps: float = 25.0
    """Frame rate of the prepared animations (video resampled by nearest frame in time)."""
    sample_rate: int = 16000
    """Sample rate of the prepared audio (mono PCM16)."""
    min_seconds: float = 1.0
    """Clips shorter than this are skipped ("clip too short")."""
    min_valid: float = 0.8
    """Skip a clip when the face is tracked in fewer than this fraction of its frames."""
    smooth_window: int = 5
    """Savitzky–Golay window (frames, odd) on the pixel landmarks and shoulder points; 1 = off."""
    smooth_order: int = 2
    """Savitzky–Golay polynomial order (2 keeps lip peaks while removing frame-to-frame noise)."""
    pose_smooth_window: int = 9
    """Extra Savitzky–Golay window (frames) on the fitted head pose only; heads move slower than lips."""
    closed_percentile: float = 20.0
    """Frames whose mouth opening is below this percentile define the clip's neutral shape."""
    max_seconds: float = 600.0
    """Longer videos are cut to this length (memory bound: all 478 points per frame are kept)."""
    clip_timeout: float = 1800.0
    """Give up on one clip after this many seconds (reported as "timeout"); 0 = no limit."""


@dataclasses.dataclass
class ClipResult:
    source: str
    clip_id: str
    status: str  # "done", "resumed", "skipped"
    reason: str = ""
    detail: str = ""
    seconds: float = 0.0
    process_seconds: float = 0.0
    file_stamp: str = ""  # size and mtime of the input: an unchanged skipped file is not retried


class SkipClip(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason, self.detail = reason, detail


# ---------------------------------------------------------------------------------------- tracking
def track_video(path: Path, cfg: PrepareConfig) -> dict:
    """Decode at ``cfg.fps`` and track: landmarks_px (T, 478, 3) NaN where lost, torso_px (T, 18, 2), size."""
    from ..tracking.landmarks import FaceTracker, quiet_native_stderr
    from ..tracking.shoulders import PersonSegmenter, shoulder_points_px
    from ..tracking.video import read_video_frames

    lms, torsos = [], []
    size = None
    max_frames = int(cfg.max_seconds * cfg.fps)
    # MediaPipe's worker threads log to fd 2 at any time; the progress bar is drawn between clips.
    with quiet_native_stderr(), FaceTracker() as tracker, PersonSegmenter() as seg:
        for frame in read_video_frames(path, fps=cfg.fps, max_frames=max_frames):
            size = frame.shape[1], frame.shape[0]
            lm = tracker.track(frame)
            if lm is None:
                lms.append(np.full((478, 3), np.nan))
                torsos.append(np.full((18, 2), np.nan))
            else:
                lms.append(lm)
                torsos.append(shoulder_points_px(seg.mask(frame), lm))
    return {"landmarks_px": np.array(lms), "torso_px": np.array(torsos), "size": size}


def fill_gaps(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Linear interpolation in time over frames where ``valid`` (T,) is False (nearest at the ends)."""
    out = np.array(values, dtype=np.float64, copy=True)
    if valid.all():
        return out
    t = np.arange(len(valid))
    flat = out.reshape(len(valid), -1)
    for j in range(flat.shape[1]):
        flat[~valid, j] = np.interp(t[~valid], t[valid], flat[valid, j])
    return out


def smooth(values: np.ndarray, window: int, order: int) -> np.ndarray:
    """Savitzky–Golay filter along time (axis 0); a no-op for ``window`` ≤ order+1 or short clips."""
    from scipy.signal import savgol_filter

    if window <= order + 1 or len(values) < window:
        return np.asarray(values, dtype=np.float64)
    return savgol_filter(values, window, order, axis=0, mode="interp")


def smooth_pose(head_pose: np.ndarray, window: int, order: int = 2) -> np.ndarray:
    """Savitzky–Golay filter on (T, 6) head poses: rotations relative to their mean (small rotation
    vectors, no wrap-around), translations as they are."""
    from scipy.spatial.transform import Rotation

    rot = Rotation.from_rotvec(head_pose[:, :3])
    mean = rot.mean()
    rel = smooth((mean.inv() * rot).as_rotvec(), window, order)
    return np.concatenate([(mean * Rotation.from_rotvec(rel)).as_rotvec(), smooth(head_pose[:, 3:], window, order)],
                          axis=1)


# ---------------------------------------------------------------------------------------- one clip
def prepare_clip(path: Path, clip_id: str, speaker: str, out_dir: Path, cfg: PrepareConfig) -> dict:
    """Prepare one video into ``out_dir/clips``; returns its index row. Raises :class:`SkipClip`."""
    from ..face.camera import Camera
    from ..face.facefit import fit_landmarks, torso_at_head_depth
    from ..formats.fileio import file_sha256
    from ..speech.audio import is_silent, load_audio, save_wav
    from ..tracking.video import audio_offset, probe_video

    t_start = time.perf_counter()
    try:
        info = probe_video(path)
    except KpanimError as err:
        raise SkipClip(BROKEN, str(err)) from None
    if not info.has_audio:
        raise SkipClip(NO_AUDIO, f"{path.name}: the video has no audio track")
    try:
        audio = load_audio(path, cfg.sample_rate)
    except KpanimError as err:
        raise SkipClip(NO_AUDIO if "empty" in str(err) else BROKEN, str(err)) from None
    try:
        tracked = track_video(path, cfg)
    except KpanimError as err:
        raise SkipClip(BROKEN, str(err)) from None
    lm_px, torso_px = tracked["landmarks_px"], tracked["torso_px"]
    n = len(lm_px)
    if n < cfg.min_seconds * cfg.fps:
        raise SkipClip(TOO_SHORT, f"{path.name}: {n / cfg.fps:.2f} s of video, need {cfg.min_seconds:g} s")
    valid = np.isfinite(lm_px).all(axis=(1, 2))
    if not valid.any():
        raise SkipClip(NO_FACE, f"{path.name}: no face found in any of {n} frames")
    if valid.mean() < cfg.min_valid:
        raise SkipClip(FACE_LOST, f"{path.name}: face tracked in {valid.mean():.0%} of frames, need "
                                  f"{cfg.min_valid:.0%}")

    audio = align_audio(audio, audio_offset(info), n, cfg.fps, cfg.sample_rate)
    if is_silent(audio):
        raise SkipClip(SILENT, f"{path.name}: the audio track is silent (below -60 dBFS)")

    camera = Camera.for_image(*tracked["size"])
    lm_raw = fill_gaps(lm_px, valid)
    torso_raw = fill_gaps(torso_px, valid)
    lm_s = smooth(lm_raw, cfg.smooth_window, cfg.smooth_order)
    torso_s = smooth(torso_raw, cfg.smooth_window, cfg.smooth_order)
    dense_raw, pose_raw, _ = fit_landmarks(lm_raw, torso_raw, camera)
    dense, pose, _ = fit_landmarks(lm_s, torso_s, camera)
    pose = smooth_pose(pose, cfg.pose_smooth_window, cfg.smooth_order)
    torso = torso_at_head_depth(torso_s, pose, camera)

    aligned = metrics.align_to_template(dense)
    opening = metrics.mouth_opening(aligned)
    neutral = metrics.closed_mouth_neutral(dense, valid, cfg.closed_percentile)
    mean_shape = dense[valid].mean(0)
    # Reference frame: a valid frame close to the neutral shape, facing the camera.
    dist = np.linalg.norm(aligned[..., :2] - metrics.align_to_template(neutral[None])[..., :2], axis=-1).mean(1)
    score = dist + 0.1 * np.linalg.norm(pose[:, :3], axis=1) + np.where(valid, 0.0, np.inf)
    ref_index = int(np.argmin(score))

    env = metrics.audio_envelope(audio, n, cfg.fps, cfg.sample_rate)
    av_lag, av_corr = metrics.av_sync(opening, env)
    rot_std, trans_std = metrics.head_motion_std(pose)
    iris = lm_px[valid][:, [468, 473], :2]
    stats = {
        "n_frames": n, "seconds": n / cfg.fps, "valid_ratio": float(valid.mean()), "src_fps": info.fps,
        "width": camera.width, "height": camera.height,
        "face_iod_px": float(np.median(np.linalg.norm(iris[:, 0] - iris[:, 1], axis=-1))),
        "mouth_open_mean": float(opening.mean()), "mouth_open_std": float(opening.std()),
        "av_lag": int(av_lag), "av_corr": float(av_corr), "stats_version": STATS_VERSION,
        "jitter_raw": metrics.jitter(dense_raw, pose_raw), "jitter": metrics.jitter(dense, pose),
        "head_rot_std_deg": rot_std, "head_trans_std_mm": trans_std,
        "blink_rate": metrics.blink_rate(aligned, cfg.fps),
    }

    clips = out_dir / "clips"
    _write_reference(path, ref_index, cfg, clips / f"{clip_id}.ref.png")
    save_wav(clips / f"{clip_id}.wav", audio, cfg.sample_rate)
    stats["process_seconds"] = time.perf_counter() - t_start
    meta = {
        "clip_id": clip_id, "speaker": speaker, "source": str(path), "source_sha256": file_sha256(path),
        "src_fps": info.fps, "n_frames": n, "duration": n / cfg.fps,
        "audio": audio_meta(clips / f"{clip_id}.wav", n / cfg.fps),
        "reference": f"{clip_id}.ref.png", "reference_frame": ref_index, "split": "train",
        "kpanim_version": __version__, "stats": stats,
        "prepare": {"smooth_window": cfg.smooth_window, "smooth_order": cfg.smooth_order,
                    "pose_smooth_window": cfg.pose_smooth_window,
                    "resampling": "nearest source frame to i/fps"},
    }
    anim = Animation.from_dense(dense, pose, torso, cfg.fps, meta)
    PreparedClip(anim, valid=valid, neutral=neutral, landmarks_px=lm_px, camera=camera.to_array(),
                 mean_shape=mean_shape, torso_px=torso_s).save(clips / f"{clip_id}.npz")
    return index_row(meta)


def align_audio(audio: np.ndarray, offset: float, n_frames: int, fps: float, sample_rate: int) -> np.ndarray:
    """Audio (N,) that starts ``offset`` s after the first video frame → (n_frames · sr / fps,) on the video
    clock (frame i ↔ sample i · sr / fps): zeros prepended or samples dropped, then cut or zero-padded."""
    shift = int(round(offset * sample_rate))
    audio = np.concatenate([np.zeros(shift, np.float32), audio]) if shift > 0 else audio[-shift:]
    n_samples = int(round(n_frames * sample_rate / fps))
    return np.pad(audio[:n_samples], (0, max(0, n_samples - len(audio))))


def _write_reference(path: Path, index: int, cfg: PrepareConfig, out: Path) -> None:
    from PIL import Image

    from ..tracking.video import read_video_frames

    frame = None
    for frame in read_video_frames(path, fps=cfg.fps, max_frames=index + 1):
        pass
    tmp = out.with_name(f".{out.name}.tmp.png")
    Image.fromarray(frame).save(tmp)
    os.replace(tmp, out)


def _run_job(job: tuple) -> ClipResult:
    """Worker entry point: never raises (one bad file never stops the batch)."""
    import signal
    import threading

    path, clip_id, speaker, out_dir, cfg = job
    t0 = time.perf_counter()
    res = ClipResult(str(path), clip_id, "done", file_stamp=file_stamp(Path(path)))
    # SIGALRM interrupts the clip between Python steps (per frame), so a stuck clip frees its worker.
    alarm = cfg.clip_timeout > 0 and hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if alarm:
        previous = signal.signal(signal.SIGALRM, _on_timeout)
        signal.setitimer(signal.ITIMER_REAL, cfg.clip_timeout)
    try:
        row = prepare_clip(Path(path), clip_id, speaker, Path(out_dir), cfg)
        res.seconds = row["seconds"]
    except _ClipTimeout:
        res.status, res.reason = "skipped", TIMEOUT
        res.detail = f"{Path(path).name}: not finished after {cfg.clip_timeout:g} s"
    except SkipClip as skip:
        res.status, res.reason, res.detail = "skipped", skip.reason, skip.detail
    except Exception as err:  # a bug or an exotic file: report it, keep going
        res.status, res.reason = "skipped", ERROR
        where = " / ".join(line.strip() for line in traceback.format_exc(limit=-2).strip().splitlines()[1:-1])
        res.detail = f"{type(err).__name__}: {err} (at {where})"
    finally:
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    res.process_seconds = time.perf_counter() - t0
    return res


class _ClipTimeout(BaseException):  # BaseException: not swallowed by the clip's own `except Exception`
    pass


def _on_timeout(signum, frame):
    raise _ClipTimeout()


def _worker_init() -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass


# ------------------------------------------------------------------------------------------ a batch
def _earlier_skips(report: Path, cfg: PrepareConfig) -> dict[tuple[str, str], ClipResult]:
    """(source, file stamp) → the skip verdict of the last run, if it used the same settings."""
    try:
        rep = json.loads(report.read_text())
        if rep.get("config") != json.loads(json.dumps(dataclasses.asdict(cfg))):
            return {}
        return {(r["source"], r["file_stamp"]): ClipResult(**r) for r in rep.get("skipped", []) if r.get("file_stamp")}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def _previous_skipped(report: Path) -> list[dict]:
    try:
        return list(json.loads(report.read_text()).get("skipped", []))
    except (OSError, ValueError, AttributeError):
        return []


def _is_done(npz: Path) -> bool:
    """Whether a clip's ``.npz`` is finished: it exists and loads as a prepared clip. A missing, damaged or
    incomplete file (a :class:`FormatError`) means "prepare it again"; anything else is a bug and surfaces
    (swallowing it would silently re-prepare every clip of a resumed run)."""
    if not npz.is_file():
        return False
    try:
        PreparedClip.load(npz)
    except FormatError:
        return False
    return True


def shard_of(clip_id: str, n_shards: int) -> int:
    """The shard (1..n) a clip belongs to: a hash of its id, stable across runs and machines."""
    return int(hashlib.sha1(clip_id.encode()).hexdigest()[:8], 16) % n_shards + 1


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` → (K, N) with 1 ≤ K ≤ N; None for None."""
    if text is None:
        return None
    k, sep, n = text.partition("/")
    try:
        k, n = int(k), int(n)
    except ValueError:
        k = n = 0
    if not sep or not 1 <= k <= n <= 100000:
        raise KpanimError(f"--shard must be K/N with 1 ≤ K ≤ N (this job's number and the number of jobs), got "
                          f"{text!r}; e.g. --shard 2/8 or, in a Slurm array, --shard $((SLURM_ARRAY_TASK_ID+1))/8")
    return k, n


def prepare_dataset(inputs: list[Path], out_dir: Path, cfg: PrepareConfig = PrepareConfig(), workers: int = 2,
                    val_fraction: float = 0.15, split_by: str = "speaker", progress: bool = True,
                    retry_skipped: bool = False, shard: tuple[int, int] | None = None) -> dict:
    """Prepare every video of ``inputs`` into ``out_dir``; returns the report (also in report.json).

    Resuming: clips whose .npz loads are kept; inputs skipped by an earlier run with the same settings
    are not retried while the file is unchanged (same size and mtime) unless ``retry_skipped``.
    ``shard`` (K, N): only the videos of shard K of N (:func:`shard_of`); see the module doc.
    """
    from tqdm import tqdm

    videos = collect_videos(inputs)
    if not videos:
        raise KpanimError("no videos found in the given paths; give .mp4/.mov/.avi/.mpg/.webm files or folders")
    (out_dir / "clips").mkdir(parents=True, exist_ok=True)
    ids = unique_clip_ids(videos)  # over every input, so all shards name clips alike
    if shard is not None:
        mine = [shard_of(cid, shard[1]) == shard[0] for cid in ids]
        videos = [v for v, m in zip(videos, mine) if m]
        ids = [c for c, m in zip(ids, mine) if m]
    jobs, results = [], []
    earlier = _earlier_skips(out_dir / "report.json", cfg)
    for path, cid in zip(videos, ids):
        if _is_done(out_dir / "clips" / f"{cid}.npz"):
            results.append(ClipResult(str(path), cid, "resumed"))
        elif (str(path), file_stamp(path)) in earlier and not retry_skipped:
            results.append(earlier[str(path), file_stamp(path)])
        else:
            jobs.append((str(path), cid, speaker_of(path), str(out_dir), cfg))
    t0 = time.perf_counter()
    bar = tqdm(total=len(jobs), desc="prepare", unit="clip", disable=not progress, dynamic_ncols=True)
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            results.append(_run_job(job))
            bar.update()
    else:
        ctx = multiprocessing.get_context("spawn")  # MediaPipe graphs are per process; fork is unsafe
        with ctx.Pool(workers, initializer=_worker_init, maxtasksperchild=50) as pool:
            for res in pool.imap_unordered(_run_job, jobs):
                results.append(res)
                bar.update()
                bar.set_postfix_str(f"skipped {sum(r.status == 'skipped' for r in results)}")
    bar.close()
    wall = time.perf_counter() - t0
    with _dataset_lock(out_dir, shard is not None):  # shards finishing at once take turns
        return _finish(out_dir, cfg, videos, jobs, results, wall, workers, val_fraction, split_by, shard)


@contextlib.contextmanager
def _dataset_lock(out_dir: Path, enabled: bool):
    """An exclusive lock on the dataset folder (``.prepare.lock``) while the index and report are rebuilt."""
    if not enabled:
        yield
        return
    import fcntl

    with open(out_dir / ".prepare.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _finish(out_dir, cfg, videos, jobs, results, wall, workers, val_fraction, split_by, shard) -> dict:
    clips = finalize(out_dir, val_fraction, split_by)

    done = [r for r in results if r.status == "done"]
    skipped = [r for r in results if r.status == "skipped"]
    new_minutes = sum(r.seconds for r in done) / 60
    report = {
        "inputs": len(videos), "processed_now": len(jobs), "prepared_now": len(done),
        "resumed": sum(r.status == "resumed" for r in results),
        "skipped": [dataclasses.asdict(r) for r in sorted(skipped, key=lambda r: (r.reason, r.source))],
        "skipped_by_reason": {k: sum(r.reason == k for r in skipped) for k in sorted({r.reason for r in skipped})},
        "dataset": {"clips": len(clips), "minutes": sum(c["seconds"] for c in clips) / 60,
                    "speakers": len({c["speaker"] for c in clips}),
                    "train_clips": sum(c["split"] == "train" for c in clips),
                    "val_clips": sum(c["split"] == "val" for c in clips),
                    "val_speakers": sorted({c["speaker"] for c in clips if c["split"] == "val"}),
                    "duplicates": {c["clip_id"]: c["duplicate_of"] for c in clips if "duplicate_of" in c}},
        "wall_seconds": wall, "workers": workers, "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        "seconds_per_minute_of_video": wall / new_minutes if new_minutes > 0 else None,
        "config": dataclasses.asdict(cfg), "kpanim_version": __version__,
    }
    # Keep every run's speed: a resumed run that prepares nothing must not hide the first run's numbers.
    runs = previous_runs(out_dir / "report.json")
    if shard is not None:  # keep the other shards' skipped inputs: report.json covers the whole dataset
        mine = {str(v) for v in videos}
        others = [r for r in _previous_skipped(out_dir / "report.json") if r.get("source") not in mine]
        every = sorted(others + report["skipped"], key=lambda r: (r["reason"], r["source"]))
        report["shard_skipped"] = report["skipped"]
        report["skipped"] = every
        report["skipped_by_reason"] = {k: sum(r["reason"] == k for r in every) for k in sorted({r["reason"] for r in every})}
    runs.append({k: report[k] for k in ("inputs", "processed_now", "prepared_now", "resumed", "wall_seconds", "workers",
                                        "seconds_per_minute_of_video", "shard")}
                | {"minutes_prepared": new_minutes, "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
    report["runs"] = runs
    write_json(out_dir / "report.json", report)
    return report
