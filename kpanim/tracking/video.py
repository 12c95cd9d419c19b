"""Video in: any container FFmpeg (through PyAV) reads → RGB frames at a fixed frame rate.

Resampling to ``fps`` (25 by default) is *nearest frame in time*: output frame i shows the source
frame whose presentation time (relative to the first video frame) is nearest to ``i / fps``. No
frames are blended, so every output frame is a real camera image whose landmarks are real ones;
a 30 fps source drops one frame in six, a 24 fps source repeats one in twenty-four. The output
covers the source's duration: ``round(duration * fps)`` frames where duration = last frame time
+ one source frame. Audio is aligned to the same clock by :func:`audio_offset` (the audio
stream's start relative to the first video frame), so output frame i ↔ audio time ``i / fps``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import KpanimError, brief


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What a video file holds (from its container header, before decoding)."""

    path: str
    width: int
    height: int
    fps: float  # the source frame rate (average)
    duration: float  # seconds, from the header (may be approximate)
    n_frames: int  # from the header; 0 when the container does not say
    has_audio: bool
    video_start: float  # seconds, presentation time of the first video frame
    audio_start: float  # seconds, of the audio stream's start (= video_start without audio)


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.is_file():
        raise KpanimError(f"{path}: no such video file")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise KpanimError(f"{path}: not a readable video ({brief(err)}); the file is damaged or not a video: give "
                          "a video file (mp4, mov, avi, mpg, webm)") from None


def _stream_start(stream) -> float | None:
    if stream.start_time is None or stream.time_base is None:
        return None
    return float(stream.start_time * stream.time_base)


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's header: size, source fps, duration, audio presence and stream start times."""
    import av

    with _open(path) as container:
        if not container.streams.video:
            raise KpanimError(f"{path}: has no video track; give a talking-face video (mp4, mov, avi, mpg, webm)")
        vs = container.streams.video[0]
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        fps = float(rate) if rate else 25.0
        if vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        elif container.duration is not None:
            duration = container.duration / 1e6
        else:
            duration = 0.0
        v0 = _stream_start(vs) or 0.0
        try:  # the first decoded frame's time is the clock's zero (stream start_time can differ)
            first = next(container.decode(vs), None)
            if first is not None and first.time is not None:
                v0 = float(first.time)
        except av.error.FFmpegError:
            pass
        has_audio = bool(container.streams.audio)
        a0 = _stream_start(container.streams.audio[0]) if has_audio else None
        return VideoInfo(path=str(path), width=int(vs.codec_context.width), height=int(vs.codec_context.height),
                         fps=fps, duration=duration, n_frames=int(vs.frames or 0), has_audio=has_audio,
                         video_start=v0, audio_start=v0 if a0 is None else a0)


def audio_offset(info: VideoInfo) -> float:
    """Seconds by which the audio stream starts after the first video frame (negative: before)."""
    return info.audio_start - info.video_start


def read_video_frames(path: str | Path, fps: float = 25.0, max_frames: int | None = None) -> Iterator[np.ndarray]:
    """Yield the video's frames resampled to ``fps`` as (H, W, 3) uint8 RGB arrays.

    Output frame i is the source frame nearest in time to ``i / fps`` (see the module doc); the
    stream stops after ``max_frames`` output frames if given. Frame i here is frame i of the
    animation that ``kpanim prepare`` makes from the same file. A decoding error mid-stream ends
    the generator after the frames that decoded (a damaged tail is common in real files); an error
    before the first frame raises :class:`KpanimError`.
    """
    import av

    if not (fps > 0 and math.isfinite(fps)):
        raise KpanimError(f"fps must be a positive number, got {fps}")
    container = _open(path)
    with container:
        if not container.streams.video:
            raise KpanimError(f"{path}: has no video track; give a talking-face video (mp4, mov, avi, mpg, webm)")
        vs = container.streams.video[0]
        vs.thread_type = "AUTO"
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        src_dt = 1.0 / float(rate) if rate else 1.0 / 25.0
        t0 = None
        prev = None  # the last decoded source frame: [time, av frame, its RGB array or None]
        out_i = 0
        n_src = 0

        def rgb_of(entry: list) -> np.ndarray:  # convert lazily: most 30 fps frames are never shown twice
            if entry[2] is None:
                entry[2] = entry[1].to_ndarray(format="rgb24")
            return entry[2]

        try:
            for frame in container.decode(vs):
                t = frame.time if frame.time is not None else n_src * src_dt
                n_src += 1
                if t0 is None:
                    t0 = t
                cur = [t - t0, frame, None]
                # Emit every output time lying between the previous source frame and this one.
                while out_i / fps <= cur[0]:
                    target = out_i / fps
                    near = prev if prev is not None and abs(prev[0] - target) <= abs(cur[0] - target) else cur
                    yield rgb_of(near)
                    out_i += 1
                    if max_frames is not None and out_i >= max_frames:
                        return
                prev = cur
        except av.error.FFmpegError as err:
            if prev is None:
                raise KpanimError(f"{path}: cannot decode the video ({str(err).splitlines()[0][:120]}); the file "
                                  "is damaged") from None
        if prev is None:
            raise KpanimError(f"{path}: the video track has no frames; the file is empty or damaged")
        # Tail: the last source frame is shown until its end (its time + one source frame).
        end = prev[0] + src_dt
        while (out_i + 0.5) / fps <= end + 1e-6 and (max_frames is None or out_i < max_frames):
            yield rgb_of(prev)
            out_i += 1


def write_mp4(path: str | Path, frames, fps: float, audio: np.ndarray | None = None, sample_rate: int = 16000,
              crf: int = 23) -> Path:
    """Encode RGB frames (an iterable of (H, W, 3) uint8, even H and W) as H.264 + AAC mono, atomically.

    ``audio`` (N,) float32 on the video clock (sample ``i * sample_rate / fps`` ↔ frame i) is cut
    or padded to the video's length. The file appears only when complete (temp file + rename).
    """
    from fractions import Fraction

    import av

    from ..formats.fileio import atomic_output

    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    n = 0
    with atomic_output(path, suffix=".mp4") as tmp:
        # faststart: the index goes first, so browsers can play while downloading
        with av.open(str(tmp), mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            vs = out.add_stream("libx264", rate=rate)
            vs.pix_fmt = "yuv420p"
            vs.options = {"crf": str(crf), "preset": "veryfast"}
            ast = None
            if audio is not None:
                ast = out.add_stream("aac", rate=sample_rate)
                ast.layout = "mono"
            for rgb in frames:
                if n == 0:
                    vs.height, vs.width = rgb.shape[:2]
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                frame.pts = n
                frame.time_base = 1 / rate
                out.mux(vs.encode(frame))
                n += 1
            if n == 0:
                raise KpanimError(f"cannot write {path}: no frames to encode")
            out.mux(vs.encode(None))
            if ast is not None:
                n_samples = int(round(n / float(rate) * sample_rate))
                pcm = np.zeros(n_samples, np.float32)
                a = np.asarray(audio, np.float32).reshape(-1)[:n_samples]
                pcm[:len(a)] = a
                for start in range(0, n_samples, 1024):
                    chunk = pcm[start:start + 1024]
                    af = av.AudioFrame.from_ndarray(chunk[None], format="flt", layout="mono")
                    af.sample_rate = sample_rate
                    af.pts = start
                    af.time_base = Fraction(1, sample_rate)
                    out.mux(ast.encode(af))
                out.mux(ast.encode(None))
    return path
