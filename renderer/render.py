"""``kpanim render``: animation + one photo → talking-portrait MP4 (Python API).

Per frame: the animated face mesh and shoulders are projected with the subject's camera, the
photo is warped onto them (``warp``), and the TPE U-Net (``unet``) repaints what a warp cannot
show (mouth interior, closed eyes, seams) on a 256² face crop; its correction is upsampled and
added to the full-resolution warp. Without renderer weights the warp alone is rendered.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import warnings
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from kpanim.errors import KpanimError
from kpanim.face.geometry import matrix_to_pose, pose_to_matrix
from kpanim.formats.animation import Animation, check_units
from kpanim.formats.fileio import check_output

from .eyelids import paint_lids
from .mouth import MouthPainter
from .sketch import draw_sketch, feather, region_mask
from .warp import PiecewiseAffineWarp, apply_affine, border_anchors, control_points, crop_image, crop_transform

DEFAULT_SIZE = 512
MAX_SIZE = 2048  # --size: a 2048² crop is already 16x the network's working area
# --full-frame: H.264 level 5.1 (what browsers and phones decode) holds at most 36864 macroblocks of
# 16² pixels (4096x2304) a frame; bigger photos are scaled down to fit, with a warning
MAX_FULL_FRAME_PIXELS = 36864 * 256
MAX_FULL_FRAME_SIDE = 4096
PREVIEW_STEP = 5
AUDIO_RATE = 48000


class Rig:
    """A photo prepared for warping: output framing, source control points, network crop.

    Args:
        photo: (H, W, 3) uint8 RGB portrait.
        subject: its :class:`kpanim.tracking.subject.Subject` (camera, face, shoulders at rest).
        size: output side in pixels (square crop around the face), ignored with ``full_frame``.
        full_frame: keep the photo's framing and size (rounded down to even numbers).
        net_size: the U-Net's working resolution.
        fit_photo: shrink and move the square crop to stay inside the photo where it can (``render`` does;
            training pairs keep the fixed framing of ``crop_transform``, which the metrics assume).
    """

    def __init__(self, photo: np.ndarray, subject, size: int = DEFAULT_SIZE, full_frame: bool = False,
                 net_size: int = 256, fit_photo: bool = False):
        self.subject = subject
        face_photo = subject.project_face()
        if full_frame:
            h, w = photo.shape[:2]
            scale = full_frame_scale(w, h)
            self.width, self.height = int(w * scale) // 2 * 2, int(h * scale) // 2 * 2
            if scale < 1:
                warnings.warn(f"--full-frame: the photo is {w}x{h}, more than H.264 players decode; the video is "
                              f"scaled to {self.width}x{self.height} (or leave out --full-frame for a face crop)",
                              stacklevel=2)
            self.to_out = np.array([[scale, 0, 0], [0, scale, 0]])
        else:
            check_size(size)
            self.width = self.height = int(size)
            bounds = (photo.shape[1], photo.shape[0]) if fit_photo else None
            self.to_out = crop_transform(face_photo, size, bounds=bounds)
        self.photo = crop_image(photo, self.to_out, self.width, self.height,
                                cv2.INTER_AREA if self.to_out[0, 0] < 1 else cv2.INTER_LINEAR)
        self.anchors = border_anchors(self.width, self.height, margin=2.0)
        self.src_points = self.points(subject.neutral, subject.head_pose, subject.torso)
        self.warp = PiecewiseAffineWarp(self.src_points, (self.width, self.height))
        # The network always sees the same face framing (the training crop), at net_size².
        self.net_size = net_size
        self.to_net = crop_transform(self.src_points[:478], net_size)
        self.photo_net = self._to_net(self.photo)
        # the mouth layer is drawn at output resolution: as soft as the photo where it was upscaled
        self.mouth = MouthPainter(self.photo, self.src_points[:478],
                                  blur=0.5 * max(1.0, float(np.sqrt(abs(np.linalg.det(self.to_out[:, :2]))))))

    def points(self, dense: np.ndarray, head_pose: np.ndarray, torso: np.ndarray) -> np.ndarray:
        """Control points (478 + 18 + anchors, 2) in output pixels for one frame's keypoints."""
        face = apply_affine(self.to_out, self.subject.project_face(dense, head_pose))
        shoulders = apply_affine(self.to_out, self.subject.project(torso))
        return control_points(face, shoulders, self.anchors)

    def warp_frame(self, dst_points: np.ndarray, head_pose: np.ndarray) -> np.ndarray:
        """The photo warped to one frame's control points (``points``; ``head_pose`` (6,) of that frame),
        closing lids painted (``eyelids``), an opening mouth's teeth and cavity painted (``mouth``)."""
        warped = self.warp(self.photo, dst_points)
        warped = paint_lids(warped, self.photo, self.src_points[:478], dst_points[:478])
        rest = apply_affine(self.to_out, self.subject.project_face(self.subject.neutral, head_pose))
        return self.mouth(warped, dst_points[:478], rest)

    def _to_net(self, image: np.ndarray) -> np.ndarray:
        return cv2.warpAffine(image, self.to_net, (self.net_size, self.net_size), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REPLICATE)

    def net_inputs(self, warped: np.ndarray, dst_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(sketch, warped) at the network's size for one frame."""
        pts = apply_affine(self.to_net, dst_points)
        sketch = draw_sketch(pts[:478], pts[478:496], self.net_size, self.net_size)
        return sketch, self._to_net(warped)

    def paste_correction(self, warped: np.ndarray, correction: np.ndarray) -> np.ndarray:
        """Add a (S, S, 3) float correction (network frame − warped crop) back at output resolution."""
        back = cv2.invertAffineTransform(self.to_net)
        up = cv2.warpAffine(correction, back, (self.width, self.height), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return np.clip(warped.astype(np.float32) + up, 0, 255).astype(np.uint8)


def full_frame_scale(width: int, height: int) -> float:
    """The scale (≤ 1) that fits a ``--full-frame`` video of a width×height photo into H.264 level 5.1."""
    return min(1.0, MAX_FULL_FRAME_SIDE / max(width, height), math.sqrt(MAX_FULL_FRAME_PIXELS / (width * height)))


def check_size(size) -> None:
    if not (isinstance(size, int) and 64 <= size <= MAX_SIZE and size % 2 == 0):
        raise KpanimError(f"--size must be an even number of pixels from 64 to {MAX_SIZE}, got {size}; e.g. --size 512")


def check_threads(threads) -> None:
    from kpanim.commands.checks import check_number

    check_number("--threads", threads, 1, 256, integer=True, example=2)


def retarget(anim: Animation, subject) -> Animation:
    """Carry another face's motion over to ``subject``: expression and pose *changes* only.

    Expression: each frame's offset from the animation's median face is added to the subject's
    neutral face. Pose: rotation relative to the median rotation is applied on top of the photo's
    pose; translation and shoulder offsets are scaled by the ratio of head distances.
    """
    from scipy.spatial.transform import Rotation

    dense = subject.neutral[None] + (anim.dense - np.median(anim.dense, axis=0, keepdims=True))
    rot, trans = pose_to_matrix(anim.head_pose.astype(np.float64))
    mean_rot = Rotation.from_matrix(rot).mean().as_matrix()
    subj_rot, subj_t = pose_to_matrix(subject.head_pose)
    ratio = subject.head_pose[5] / np.median(anim.head_pose[:, 5])
    new_rot = np.einsum("tij,jk,kl->til", rot, mean_rot.T, subj_rot)
    new_t = subj_t + (trans - np.median(trans, axis=0)) * ratio
    torso = subject.torso[None] + (anim.torso - np.median(anim.torso, axis=0, keepdims=True)) * ratio
    return Animation.from_dense(dense, matrix_to_pose(new_rot, new_t), torso, anim.fps, anim.meta)


def animation_subject_sha(meta: dict) -> str | None:
    """The sha256 of the photo an animation was made for, if its meta says (several producers' keys)."""
    for key in ("subject_sha256", "image_sha256"):
        if isinstance(meta.get(key), str):
            return meta[key]
    subj = meta.get("subject")
    if isinstance(subj, dict):
        for key in ("image_sha256", "sha256"):
            if isinstance(subj.get(key), str):
                return subj[key]
    return None


def default_renderer_path() -> Path | None:
    path = resources.files("kpanim.data").joinpath("renderer_default.pt")
    return Path(str(path)) if path.is_file() else None


@dataclasses.dataclass
class RenderStats:
    frames: int
    width: int
    height: int
    fps: float
    neural: bool
    seconds: float
    retargeted: bool


def load_renderer(renderer):
    """``None``/"default" → the shipped weights (or None if absent), "none" → None, a path → that file."""
    from .unet import TPEUNet, load_checkpoint

    if isinstance(renderer, TPEUNet):
        return renderer.eval()
    if renderer is None or renderer == "default":
        path = default_renderer_path()
        if path is None:
            return None
        return load_checkpoint(path)[0]
    if renderer == "none":
        return None
    return load_checkpoint(renderer)[0]


def prepare_audio(audio, anim_duration: float, sample_rate: int = AUDIO_RATE) -> np.ndarray:
    """The audio track (M,) float32 at ``sample_rate``, padded/trimmed to exactly the animation's duration.

    ``audio`` is a file path (decoded at ``sample_rate``) or (N,) float32 mono samples at 16 kHz
    (:data:`kpanim.speech.audio.SAMPLE_RATE`, what :func:`kpanim.predict` takes), resampled here.
    Its length must match the animation's (±0.2 s, ``fit_to_duration``).
    """
    from kpanim.speech.audio import SAMPLE_RATE, fit_to_duration, load_audio, resample

    if isinstance(audio, (str, Path)):
        return fit_to_duration(load_audio(audio, sample_rate=sample_rate), anim_duration, sample_rate)
    samples = fit_to_duration(np.asarray(audio, dtype=np.float32).reshape(-1), anim_duration, SAMPLE_RATE)
    return fit_to_duration(resample(samples, SAMPLE_RATE, sample_rate), anim_duration, sample_rate)


def photo_and_subject(subject_image, subject=None):
    """The photo (H, W, 3) uint8, read once, and its Subject: ``subject`` as given (a Subject, or a
    ``.subject.npz`` path loaded without face detection), else detected on the photo (``make_subject``).

    A subject file must come from this photo: another image size is an error, other bytes a warning.
    """
    from kpanim.formats.fileio import file_sha256
    from kpanim.tracking.images import read_image_rgb
    from kpanim.tracking.subject import Subject, make_subject

    photo = read_image_rgb(subject_image)
    if subject is None:
        return photo, make_subject(subject_image, rgb=photo)
    if isinstance(subject, Subject):
        return photo, subject
    name = subject
    subject = Subject.load(subject)
    size, expected = (photo.shape[1], photo.shape[0]), (subject.camera.width, subject.camera.height)
    if size != expected:
        raise KpanimError(f"{subject_image}: the photo is {size[0]}x{size[1]} but {name} was made from a "
                          f"{expected[0]}x{expected[1]} image; give the photo the subject was made from")
    if file_sha256(subject_image) != subject.image_sha256:
        warnings.warn(f"{Path(subject_image).name} is not the file {Path(name).name} was made from (sha256 "
                      f"{subject.image_sha256[:8]}…); using it, as it has the same size", stacklevel=3)
    return photo, subject


def render(anim, subject_image, out_path, audio=None, renderer=None, size: int = DEFAULT_SIZE,
           full_frame: bool = False, preview: bool = False, subject=None, progress: bool = True,
           threads: int | None = None) -> RenderStats:
    """Render ``anim`` (Animation or .npz path) on the portrait ``subject_image`` into ``out_path`` (.mp4).

    Args:
        subject_image: the portrait photo (PNG/JPEG path); read once.
        audio: speech muxed as AAC (48 kHz): a path, or (N,) float32 mono samples at 16 kHz like
            :func:`kpanim.predict` takes; must last as long as the animation.
        renderer: None/"default" (shipped weights, warp-only if none), "none" (warp only), a
            checkpoint path from ``kpanim train renderer``, or a TPEUNet.
        size: output side (square crop around the face); ``full_frame`` keeps the photo's frame.
        preview: render every 5th frame (at fps/5) for a quick look.
        subject: the photo's Subject, or a ``.subject.npz`` of it (``kpanim subject``): no face detection;
            None: detected on the photo (``make_subject``).
    """
    import time

    import torch
    from tqdm import tqdm

    from kpanim.tracking.video import write_mp4

    t0 = time.perf_counter()
    if not full_frame:
        check_size(size)
    if threads is not None:
        check_threads(threads)
    subject_file = subject if isinstance(subject, (str, Path)) else None
    inputs = {"ANIMATION": None if isinstance(anim, Animation) else anim,
              "--subject": subject_file or subject_image, "--image": subject_image if subject_file else None,
              "--audio": audio if isinstance(audio, (str, Path)) else None,
              "--renderer": renderer if isinstance(renderer, (str, Path)) and renderer not in ("default", "none") else None}
    out_path = check_output(out_path, inputs, (".mp4",), what="video")
    name = "the animation" if isinstance(anim, Animation) else str(anim)
    anim = anim if isinstance(anim, Animation) else Animation.load(anim)
    check_units(anim, name)
    if anim.n_frames == 0:
        raise KpanimError(f"{name}: has no frames; nothing to render: predict a longer one")
    # the audio and the renderer before the slower photo and face detection: a bad one fails fast
    samples = None if audio is None else prepare_audio(audio, anim.duration, AUDIO_RATE)
    net = load_renderer(renderer)
    photo, subject = photo_and_subject(subject_image, subject)
    wanted = animation_subject_sha(anim.meta)
    retargeted = wanted != subject.image_sha256
    if wanted is not None and retargeted:
        warnings.warn(f"the animation was made for another photo (sha256 {wanted[:8]}…, this one "
                      f"{subject.image_sha256[:8]}…); carrying its motion over to this face", stacklevel=2)
    if retargeted:
        anim = retarget(anim, subject)
    if threads:
        torch.set_num_threads(threads)
    rig = Rig(photo, subject, size=size, full_frame=full_frame,
              net_size=net.config.size if net is not None else 256, fit_photo=True)
    frames = range(0, anim.n_frames, PREVIEW_STEP if preview else 1)
    fps = anim.fps / PREVIEW_STEP if preview else anim.fps
    bar = tqdm(frames, desc="render", unit="frame", disable=not progress, file=sys.stderr)
    write_mp4(out_path, (render_frame(rig, net, anim.dense[i], anim.head_pose[i], anim.torso[i], i) for i in bar),
              fps, samples, sample_rate=AUDIO_RATE)
    return RenderStats(len(frames), rig.width, rig.height, fps, net is not None, time.perf_counter() - t0,
                       retargeted)


def render_frame(rig: Rig, net, dense: np.ndarray, head_pose: np.ndarray, torso: np.ndarray,
                 frame_index: int) -> np.ndarray:
    """One output frame (H, W, 3) uint8: warp, then (with ``net``) the U-Net's correction."""
    dst = rig.points(dense, head_pose, torso)
    warped = rig.warp_frame(dst, head_pose)
    if net is None:
        return warped
    import torch

    sketch, warped_net = rig.net_inputs(warped, dst)
    with torch.inference_mode():
        # contiguous NCHW: a permuted (channels-last strided) input makes the convolutions ~15x slower on CPU
        t = [torch.from_numpy(a).permute(2, 0, 1)[None].contiguous().float() / 255
             for a in (sketch, warped_net, rig.photo_net)]
        frame, _ = net(*t, torch.tensor([frame_index]))
    correction = (frame[0].permute(1, 2, 0).numpy() * 255) - warped_net.astype(np.float32)
    # Keep the network's paint to the mouth and eyes: elsewhere its L1-trained output is a blur of the
    # warp, and the full-resolution warp is sharper there.
    if getattr(net, "paint_scope", "regions") == "regions":
        pts = apply_affine(rig.to_net, dst[:478])
        correction *= feather(region_mask(pts, rig.net_size))[..., None]
    return rig.paste_correction(warped, correction)
