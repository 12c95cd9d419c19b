"""Training pairs for the TPE renderer, cut from talking-face videos.

A pair is (reference frame R, target frame T) of the same video. R plays the photo: it is warped
to T's keypoints exactly as ``kpanim render`` warps a portrait, and the network learns to turn
that warp into the real frame T. All images are the 256² face crop the renderer works on.

Keypoints come either from a prepared dataset (``kpanim prepare``: clip .npz + its video) or,
for a single video (per-subject fine-tuning), from tracking it here with MediaPipe.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from kpanim.dataset.clip import PreparedClip
from kpanim.errors import KpanimError
from kpanim.face.camera import Camera
from kpanim.face.facefit import fit_landmarks
from kpanim.tracking.subject import Subject

from .render import Rig
from .sketch import region_mask
from .warp import crop_image

IMAGE_KEYS = ("photo", "warped", "sketch", "target", "weight")
PAIRS_VERSION = 3
"""Bumped whenever the warp or the sketch changes: cached pairs hold warped images (2: lash band and
lid layer of ``eyelids``; 3: mouth interior of ``mouth``)."""


def decode_frames(path: str | Path, indices: set[int] | None = None, max_side: int = 720):
    """Yield (index, RGB frame) of a video's frames (only ``indices`` if given), downscaled to ``max_side``."""
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise KpanimError(f"{path}: not a readable video ({str(err).splitlines()[0][:120]})") from None
    with container:
        if not container.streams.video:
            raise KpanimError(f"{path}: has no video track; give a video of the person talking")
        for i, frame in enumerate(container.decode(video=0)):
            if indices is not None and i not in indices:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            scale = max_side / max(rgb.shape[:2])
            if scale < 1:
                rgb = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            yield i, rgb
            if indices is not None and i >= max(indices):
                break


def count_frames(path: str | Path) -> int:
    import av

    with av.open(str(path)) as c:
        n = c.streams.video[0].frames
        if n:
            return int(n)
        return sum(1 for _ in c.decode(video=0))


def track_frames(path: str | Path, n_frames: int = 48, seed: int = 0, max_side: int = 720) -> dict:
    """Track ``n_frames`` evenly spread frames of a video; returns frames + per-frame keypoints.

    Returns a dict: ``frames`` list of (H, W, 3) uint8, ``index`` (K,) source frame numbers,
    ``dense`` (K, 478, 3), ``head_pose`` (K, 6), ``torso`` (K, 18, 3), ``landmarks_px`` (K, 478, 3),
    ``camera`` (the frames' Camera). Frames where no face is found are dropped.
    """
    from kpanim.tracking.landmarks import FaceTracker
    from kpanim.tracking.shoulders import PersonSegmenter, shoulder_points_px

    total = count_frames(path)
    rng = np.random.default_rng(seed)
    wanted = np.unique(np.clip(np.linspace(0, total - 1, n_frames) + rng.integers(0, 3, n_frames), 0, total - 1))
    out = {k: [] for k in ("frames", "index", "dense", "head_pose", "torso", "landmarks_px")}
    camera = None
    with FaceTracker() as tracker, PersonSegmenter() as seg:
        for i, rgb in decode_frames(path, set(int(w) for w in wanted), max_side):
            pts = tracker.track(rgb)
            if pts is None:
                continue
            camera = camera or Camera.for_image(rgb.shape[1], rgb.shape[0])
            dense, pose, torso = fit_landmarks(pts, shoulder_points_px(seg.mask(rgb), pts), camera)
            for k, v in (("frames", rgb), ("index", i), ("dense", dense), ("head_pose", pose), ("torso", torso),
                         ("landmarks_px", pts)):
                out[k].append(v)
    if len(out["frames"]) < 2:
        raise KpanimError(f"{path}: a face was found in only {len(out['frames'])} of {len(wanted)} sampled frames; "
                          "give a video where the person's face is clearly visible")
    result = {k: np.stack(v) for k, v in out.items() if k != "frames"}
    result["frames"] = out["frames"]
    result["camera"] = camera
    return result


def prepared_clip_frames(clip_npz: str | Path, n_frames: int = 48, closed_eyes: int = 0,
                         frames: np.ndarray | None = None) -> dict:
    """Like :func:`track_frames`, from a ``kpanim prepare`` clip (its keypoints + its source video).

    Takes ``n_frames`` tracked frames evenly spread over the clip, the first tracked frame included,
    plus up to ``closed_eyes`` frames with the eyes shut (eye aspect ratio below 60 % of the clip's
    median, spread over the clip): blinks are ~5 % of frames, too rare to learn closed lids from even spacing.
    ``frames`` (clip frame numbers) replaces the selection.
    """
    from kpanim.evaluation.metrics import eye_aspect_ratio
    from kpanim.tracking.video import read_video_frames

    clip = PreparedClip.load(clip_npz, require=("landmarks_px", "camera"))
    arrays = {"dense": clip.animation.dense, "head_pose": clip.animation.head_pose, "torso": clip.animation.torso,
              "landmarks_px": clip.landmarks_px}
    valid = np.flatnonzero(clip.valid)
    wanted = valid[np.unique(np.linspace(0, len(valid) - 1, min(n_frames, len(valid))).round().astype(int))]
    if closed_eyes:
        ear = eye_aspect_ratio(arrays["landmarks_px"][valid])
        shut = valid[ear < 0.6 * np.median(ear)]  # spread over the clip's blinks, not one blink's frames
        shut = shut[np.unique(np.linspace(0, len(shut) - 1, min(closed_eyes, len(shut))).round().astype(int))]
        wanted = np.union1d(wanted, shut)
    if frames is not None:
        wanted = np.asarray(frames, dtype=np.int64)
    camera = clip.pinhole()
    frames = {}
    for i, rgb in enumerate(read_video_frames(clip.meta["source"], fps=25, max_frames=int(wanted[-1]) + 1)):
        if i in set(wanted.tolist()):
            frames[i] = rgb
    index = np.array([i for i in wanted if i in frames])
    return {"frames": [frames[i] for i in index], "index": index, "camera": camera,
            **{k: arrays[k][index] for k in ("dense", "head_pose", "torso", "landmarks_px")}}


def subject_from_frame(track: dict, k: int) -> Subject:
    """A Subject whose 'photo' is tracked frame ``k`` (same camera as the whole video)."""
    return Subject(neutral=track["dense"][k], head_pose=track["head_pose"][k], camera=track["camera"],
                   torso=track["torso"][k], landmarks_px=track["landmarks_px"][k], image_sha256="",
                   subject_id=f"frame{int(track['index'][k])}")


def make_pairs(track: dict, n_pairs: int, size: int = 256, seed: int = 0,
               reference: int | None = None) -> dict[str, np.ndarray]:
    """Random (reference, target) pairs of one tracked video → dict of stacked uint8 images + frame ids.

    With ``reference`` (a tracked-frame number) every pair uses that frame as the photo.
    """
    rng = np.random.default_rng(seed)
    k = len(track["frames"])
    out = {key: [] for key in IMAGE_KEYS + ("frame_index",)}
    rigs: dict[int, Rig] = {}
    for _ in range(n_pairs):
        r, t = rng.choice(k, size=2, replace=False)
        if reference is not None:
            r, t = reference, (reference + 1 + _ % (k - 1)) % k
        if r not in rigs:
            rigs[r] = Rig(track["frames"][r], subject_from_frame(track, r), size=size, net_size=size)
        rig = rigs[r]
        dst = rig.points(track["dense"][t], track["head_pose"][t], track["torso"][t])
        warped = rig.warp_frame(dst, track["head_pose"][t])
        sketch, warped_net = rig.net_inputs(warped, dst)
        target = crop_image(track["frames"][t], rig.to_out, size, size, cv2.INTER_AREA)
        face_net = rig.to_net[:, :2] @ dst[:478].T
        for key, img in (("photo", rig.photo_net), ("warped", warped_net), ("sketch", sketch),
                         ("target", target), ("weight", region_mask(face_net.T + rig.to_net[:, 2], size))):
            out[key].append(img)
        out["frame_index"].append(int(track["index"][t]))
    return {key: np.stack(v) for key, v in out.items()}


def build_cache(sources: list[Path], cache_dir: Path, pairs_per_source: int, frames_per_source: int = 48,
                size: int = 256, progress: bool = True, closed_eyes: int = 0) -> list[Path]:
    """Extract pairs of every source (video file or prepared clip .npz) into ``cache_dir``/<name>.npz.

    Sources already cached are reused; sources without a usable face are skipped with a message.
    """
    import sys

    from tqdm import tqdm

    cache_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for src in tqdm(sources, desc="pairs", unit="video", disable=not progress, file=sys.stderr):
        prepared = str(src).endswith(".npz")
        # prepared-clip pairs (".prep", with extra closed-eye frames) never reuse a tracked video's cache
        tag = f".prep{closed_eyes}" if prepared else ""
        dest = cache_dir / f"{Path(src).stem}{tag}.p{pairs_per_source}.s{size}.v{PAIRS_VERSION}.npz"
        if not dest.is_file():
            try:
                track = (prepared_clip_frames(src, frames_per_source, closed_eyes) if prepared
                         else track_frames(src, frames_per_source))
                pairs = make_pairs(track, pairs_per_source, size)
            except KpanimError as err:
                tqdm.write(f"skip {src}: {err}", file=sys.stderr)
                continue
            tmp = dest.with_suffix(".tmp.npz")
            np.savez(tmp, **pairs)
            tmp.replace(dest)
        done.append(dest)
    return done


def load_cache(files: list[Path]) -> dict[str, np.ndarray]:
    parts = [dict(np.load(f)) for f in files]
    if not parts:
        raise KpanimError("no training pairs could be extracted; check that the videos show a face")
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
