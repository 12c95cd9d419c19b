"""``kpanim preview``: an animation's keypoints drawn as a sketch video, for a quick look without the renderer.

Each frame shows the face mesh (grey), face oval, brows, eyes, irises, lips and the shoulder line in
the camera view (head pose applied). A prepared clip (``kpanim prepare``) carries its source
camera, so the sketch lines up with the source video; any other animation is framed to fit.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import click
import numpy as np

from ..errors import KpanimError
from ..face import topology
from ..face.camera import Camera
from ..face.geometry import apply_pose
from ..formats.animation import Animation, load_npz_checked, meta_audio_path
from ..formats.fileio import same_file

COLORS = {  # RGB
    "mesh": (70, 70, 70), "face_oval": (200, 200, 200), "left_eyebrow": (255, 150, 40),
    "right_eyebrow": (40, 150, 255), "left_eye": (255, 230, 0), "right_eye": (0, 230, 255),
    "left_iris": (255, 0, 255), "right_iris": (170, 60, 255), "lips": (255, 40, 40), "torso": (130, 220, 130),
}


@lru_cache(maxsize=1)
def part_edges() -> dict[str, np.ndarray]:
    """Part name → (E, 2) point-index pairs: the mesh's triangle edges and the face parts (no nose)."""
    parts = topology.part_edges("face_oval", "left_eyebrow", "right_eyebrow", "left_eye", "right_eye", "left_iris",
                                "right_iris", "lips")
    return {"mesh": topology.mesh_edges(), **parts}


def project_animation(anim: Animation, camera: np.ndarray | None, size: int) -> tuple[np.ndarray, np.ndarray, tuple]:
    """Face (T, 478, 2) and torso (T, 18, 2) pixels on a canvas (W, H) whose longer side is ``size``.

    With ``camera`` (the (5,) array of :meth:`~kpanim.face.camera.Camera.to_array`) the source view is
    reproduced (scaled); without,
    a pinhole view of the points is framed to fit with a 5 % margin.
    """
    face = apply_pose(anim.head_pose, anim.dense)
    pts = np.concatenate([face, np.asarray(anim.torso, np.float64)], axis=1)
    depth = np.maximum(-pts[..., 2], 1e-6)
    uv = np.stack([pts[..., 0] / depth, -pts[..., 1] / depth], axis=-1)  # unit-focal image plane, y down
    if camera is not None:
        c = Camera.from_array(camera)
        scale = size / max(c.width, c.height)
        px = (uv * c.focal + [c.cx, c.cy]) * scale
        wh = (int(round(c.width * scale)) // 2 * 2, int(round(c.height * scale)) // 2 * 2)
    else:
        lo, hi = uv.reshape(-1, 2).min(0), uv.reshape(-1, 2).max(0)
        span = np.maximum(hi - lo, 1e-9)
        scale = 0.9 * size / span.max()
        wh = tuple(int(v) // 2 * 2 for v in np.maximum(np.ceil(span * scale / 0.9), 16))
        px = (uv - (lo + hi) / 2) * scale + np.array(wh) / 2
    return px[:, :478], px[:, 478:], wh


def draw_frame(face_px: np.ndarray, torso_px: np.ndarray, wh: tuple[int, int], label: str = "") -> np.ndarray:
    """One (H, W, 3) uint8 sketch from face (478, 2) and torso (18, 2) pixels."""
    import cv2

    w, h = wh
    img = np.zeros((h, w, 3), np.uint8)
    shift = 4
    fixed = np.round(face_px * (1 << shift)).astype(np.int32)
    for name, edges in part_edges().items():
        cv2.polylines(img, list(fixed[edges]), False, COLORS[name], 1, cv2.LINE_AA, shift)
    t = np.round(torso_px * (1 << shift)).astype(np.int32)
    cv2.polylines(img, [np.concatenate([t[:9][::-1], t[9:]])], False, COLORS["torso"], 2, cv2.LINE_AA, shift)
    if label:
        cv2.putText(img, label, (6, h - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (160, 160, 160), 1, cv2.LINE_AA)
    return img


def render_preview(anim: Animation, out: Path, audio: np.ndarray | None = None, camera: np.ndarray | None = None,
                   size: int = 512, sample_rate: int = 16000) -> Path:
    """Write the sketch video of ``anim`` to ``out`` (H.264 + AAC if ``audio`` (N,) is given)."""
    from ..tracking.video import write_mp4

    face, torso, wh = project_animation(anim, camera, size)
    frames = (draw_frame(face[i], torso[i], wh, f"{i / anim.fps:6.2f} s  frame {i}") for i in range(anim.n_frames))
    return write_mp4(out, frames, anim.fps, audio, sample_rate)


@click.command("preview")
@click.argument("animation", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output .mp4 (default: ANIMATION with suffix .preview.mp4).")
@click.option("--audio", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Speech to mux in (default: a prepared clip's own .wav, if present).")
@click.option("--size", default=512, show_default=True, help="Longer side of the video in pixels.")
def preview_command(animation: Path, output: Path | None, audio: Path | None, size: int) -> None:
    """Draw an animation's keypoints (face mesh, eyes, lips, shoulders) as a sketch video with its audio."""
    from ..formats.fileio import check_output
    from ..speech.audio import fit_to_duration, load_audio
    from .checks import check_number

    check_number("--size", size, 32, 2048, integer=True, example=512, why=" pixels")
    output = check_output(output or animation.with_suffix(".preview.mp4"),
                          {"ANIMATION": animation, "--audio": audio}, (".mp4",), what="video")
    anim = Animation.load(animation)
    if anim.n_frames == 0:
        raise KpanimError(f"{animation}: has no frames; nothing to preview: predict a longer one")
    z = load_npz_checked(animation, "animation")
    camera = z["camera"] if "camera" in z and z["camera"].shape == (5,) and np.isfinite(z["camera"]).all() else None
    if audio is None:
        audio = meta_audio_path(anim.meta, animation.parent)
        if audio is not None and same_file(audio, output):
            audio = None
    wav = fit_to_duration(load_audio(audio), anim.duration, 16000) if audio is not None else None
    render_preview(anim, output, wav, camera, size)
    click.echo(f"Wrote {output}: {anim.n_frames} frames at {anim.fps:g} fps"
               + (f", audio from {audio}" if audio is not None else ", no audio"))
