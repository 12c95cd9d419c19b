"""MP4 output that plays in browsers: H.264 (yuv420p) video + AAC audio, written atomically.

Frames go to a temp file next to the destination; only a complete file is renamed into place,
so an error or Ctrl-C never leaves a partial MP4. Audio is encoded in step with the video so the
two streams are interleaved (progressive playback starts at once).
"""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

from kpanim.errors import KpanimError

AUDIO_RATE = 48000
AUDIO_CHUNK = 1024  # AAC frame size


def check_writable(path: str | os.PathLike) -> Path:
    """Fail early (before any rendering) when ``path`` cannot be written."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise KpanimError(f"cannot write {path}: folder {folder} does not exist; create it first")
    if path.is_dir():
        raise KpanimError(f"cannot write {path}: it is a folder; give a file name like talk.mp4")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise KpanimError(f"cannot write {path}: permission denied; choose another output path")
    return path


class Mp4Writer:
    """``with Mp4Writer(path, w, h, fps, audio) as out: out.write(frame_rgb)``.

    Args:
        path: destination .mp4.
        width, height: frame size (even numbers: yuv420p halves chroma).
        fps: frame rate (exact for 25, 30, 29.97, ...).
        audio: optional (N,) float32 mono samples at ``sample_rate``; frame i ↔ samples from i/fps.
        crf: x264 quality (lower is better; 18 is visually lossless-ish).
    """

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float,
                 audio: np.ndarray | None = None, sample_rate: int = AUDIO_RATE, crf: int = 20,
                 preset: str = "veryfast"):
        if width % 2 or height % 2:
            raise ValueError(f"H.264 yuv420p needs even frame sizes, got {width}x{height}")
        self.path = check_writable(path)
        self.width, self.height = int(width), int(height)
        self.rate = Fraction(fps).limit_denominator(1001)
        self.audio = None if audio is None else np.asarray(audio, dtype=np.float32).reshape(-1)
        self.sample_rate = int(sample_rate)
        self.crf, self.preset = crf, preset
        self.n_frames = 0
        self._audio_pos = 0

    def __enter__(self) -> "Mp4Writer":
        import av

        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".mp4", dir=self.path.parent)
        os.close(fd)
        self._container = av.open(self._tmp, mode="w", format="mp4", options={"movflags": "+faststart"})
        self._video = self._container.add_stream("libx264", rate=self.rate)
        self._video.width, self._video.height = self.width, self.height
        self._video.pix_fmt = "yuv420p"
        self._video.options = {"crf": str(self.crf), "preset": self.preset}
        self._astream = None
        if self.audio is not None:
            self._astream = self._container.add_stream("aac", rate=self.sample_rate)
            self._astream.layout = "mono"
            self._astream.bit_rate = 96000
        return self

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame."""
        import av

        if frame_rgb.shape != (self.height, self.width, 3) or frame_rgb.dtype != np.uint8:
            raise ValueError(f"frame: expected ({self.height}, {self.width}, 3) uint8, got {frame_rgb.shape} "
                             f"{frame_rgb.dtype}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_rgb), format="rgb24")
        frame.pts = self.n_frames
        frame.time_base = 1 / self.rate
        self._container.mux(self._video.encode(frame))
        self.n_frames += 1
        self._write_audio_until(self.n_frames / self.rate)

    def _write_audio_until(self, seconds: float | None) -> None:
        import av

        if self._astream is None:
            return
        end = len(self.audio) if seconds is None else min(len(self.audio), int(round(float(seconds) * self.sample_rate)))
        while self._audio_pos + AUDIO_CHUNK <= end or (seconds is None and self._audio_pos < end):
            chunk = self.audio[self._audio_pos:self._audio_pos + AUDIO_CHUNK]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="flt", layout="mono")
            frame.sample_rate = self.sample_rate
            frame.pts = self._audio_pos
            frame.time_base = Fraction(1, self.sample_rate)
            self._container.mux(self._astream.encode(frame))
            self._audio_pos += len(chunk)

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._write_audio_until(None)
                self._container.mux(self._video.encode(None))
                if self._astream is not None:
                    self._container.mux(self._astream.encode(None))
            self._container.close()
            if exc_type is None:
                os.replace(self._tmp, self.path)
        finally:
            Path(self._tmp).unlink(missing_ok=True)
