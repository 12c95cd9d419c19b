"""Audio in: any file FFmpeg (through PyAV) decodes → mono float32 at one sample rate.

Handles wav/flac/ogg/mp3/m4a/aiff and the audio track of video containers, at any sample rate and
channel count. Problems the user can fix raise :class:`~kpanim.errors.KpanimError` with one line.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..errors import KpanimError

SAMPLE_RATE = 16000
MAX_SECONDS = 4 * 3600  # beyond this, split the audio: a bound on memory and on surprises
SILENCE_DBFS = -60.0


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE, max_seconds: float = MAX_SECONDS,
               allow_empty: bool = False) -> np.ndarray:
    """Decode the first audio stream of ``path`` to (N,) float32 mono in [-1, 1] at ``sample_rate``.

    Channels are averaged; resampling is FFmpeg's (swresample). Raises KpanimError for a missing
    or undecodable file, a file without audio, an empty stream (unless ``allow_empty``), or audio
    longer than ``max_seconds``.
    """
    import av

    path = Path(path)
    if not path.is_file():
        raise KpanimError(f"{path}: no such audio file")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise KpanimError(f"{path}: not a readable audio file ({_short(err)}); use wav, flac, ogg, mp3 or m4a") from None
    chunks: list[np.ndarray] = []
    n_samples = 0
    limit = int(max_seconds * sample_rate)
    with container:
        if not container.streams.audio:
            raise KpanimError(f"{path}: has no audio track; give a speech recording (wav, flac, mp3, ...)")
        stream = container.streams.audio[0]
        # keep the channels through resampling and average them ourselves: FFmpeg's mono downmix
        # of stereo is (L + R) / sqrt(2), which would change the level
        resampler = av.AudioResampler(format="fltp", rate=sample_rate)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().mean(axis=0))
                    n_samples += chunks[-1].size
                if n_samples > limit:
                    raise KpanimError(f"{path}: longer than {max_seconds / 3600:g} h; split it into shorter files")
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().mean(axis=0))
        except av.error.FFmpegError as err:
            if not chunks:
                raise KpanimError(f"{path}: cannot decode the audio ({_short(err)}); the file is damaged") from None
            warnings.warn(f"{path.name}: audio is damaged after {n_samples / sample_rate:.1f} s; using what decoded",
                          stacklevel=2)
    if path.suffix.lower() in (".wav", ".wave"):
        sizes = wav_header_seconds(path)
        if sizes is not None and sizes[0] - sizes[1] > 0.05:
            warnings.warn(f"{path.name}: the WAV header promises {sizes[0]:.2f} s but the file holds {sizes[1]:.2f} s "
                          "(cut short, e.g. by an interrupted copy or recording); using what it holds, or give the "
                          "complete file", stacklevel=2)
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if audio.size == 0 and not allow_empty:
        raise KpanimError(f"{path}: the audio is empty (0 samples); give a recording with speech")
    return np.clip(audio, -1.0, 1.0)


AUDIO_TOLERANCE_S = 0.2  # predicted animations match their audio to a frame; more is a wrong file


def fit_to_duration(samples: np.ndarray, duration: float, sample_rate: int) -> np.ndarray:
    """``samples`` padded/trimmed to exactly ``duration`` seconds, after checking that they last as long
    (±0.2 s): the one rule ``render`` and ``preview`` share for the sound of an animation."""
    seconds = len(samples) / sample_rate
    if abs(seconds - duration) > AUDIO_TOLERANCE_S:
        which = "shorter" if seconds < duration else "longer"
        raise KpanimError(f"the audio ({seconds:.2f} s) is {which} than the animation ({duration:.2f} s); "
                          "give the speech the animation was predicted from")
    n = int(round(duration * sample_rate))
    return np.pad(samples, (0, max(0, n - len(samples))))[:n]


MIN_SECONDS = 0.5  # shorter audio gives a handful of frames: too short to animate a word


def speech_warnings(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, check_speech: bool = True) -> list[str]:
    """What is wrong with ``audio`` as speech to animate (warnings, not errors): silent, too short, or
    no detectable speech (noise or music: :mod:`kpanim.speech.speech_check`)."""
    seconds = audio.size / sample_rate
    if is_silent(audio):
        return ["the audio is silent: the mouth stays closed"]
    out = []
    if seconds < MIN_SECONDS:
        out.append(f"the audio lasts only {seconds * 1000:.0f} ms, too short to animate speech; give at least "
                   f"{MIN_SECONDS:g} s")
    elif check_speech:
        from .speech_check import NO_SPEECH_THRESHOLD, no_speech_probability

        p = no_speech_probability(resample(audio, sample_rate, SAMPLE_RATE))
        if p is not None and p > NO_SPEECH_THRESHOLD:
            out.append(f"no speech detected in the audio (no-speech probability {p:.2f}): noise or music moves the "
                       "mouth without words; give a speech recording")
    return out


def resample(audio: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """(N,) samples at ``rate_in`` → (≈ N · rate_out / rate_in,) float32 at ``rate_out`` (polyphase filter;
    the rate ratio within 1/1000); unchanged when the rates are equal."""
    if rate_in == rate_out:
        return audio
    from fractions import Fraction

    from scipy.signal import resample_poly

    ratio = Fraction(rate_out, rate_in).limit_denominator(1000)
    return resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)


def wav_header_seconds(path: Path) -> tuple[float, float] | None:
    """(seconds the WAV header promises, seconds the file holds) of a RIFF WAV file, or None if it is not
    one or has no usable sizes (streamed WAVs write 0 or 0xFFFFFFFF)."""
    import struct

    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            byte_rate = None
            while True:
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = fh.read(size)
                    if len(fmt) < 12:
                        return None
                    byte_rate = struct.unpack("<I", fmt[8:12])[0]
                    fh.seek(size % 2, 1)
                elif cid == b"data":
                    if not byte_rate or size in (0, 0xFFFFFFFF):
                        return None
                    held = max(0, path.stat().st_size - fh.tell())
                    return size / byte_rate, min(size, held) / byte_rate
                else:
                    fh.seek(size + size % 2, 1)
    except OSError:
        return None


def check_playable(path: str | Path, suffixes: tuple[str, ...] | None = None) -> Path:
    """Check that ``path`` is an audio file that decodes (and, with ``suffixes``, one a browser plays);
    returns it. Reads only the start of the file: a check before slow work."""
    import av

    path = Path(path)
    if not path.is_file():
        raise KpanimError(f"{path}: no such audio file; give the speech file (wav, mp3, ogg, flac, m4a)")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise KpanimError(f"{path}: browsers do not play '{path.suffix or 'no suffix'}' audio; give a "
                          f"{', '.join(s.lstrip('.') for s in suffixes)} file")
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise KpanimError(f"{path}: has no audio track; give a speech recording (wav, mp3, ...)")
            next(container.decode(container.streams.audio[0]))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, StopIteration) as err:
        raise KpanimError(f"{path}: not a readable audio file ({_short(err) or 'no audio frames'}); give a "
                          "speech recording (wav, mp3, ogg, flac, m4a)") from None
    return path


def is_silent(audio: np.ndarray, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """True when the whole signal stays below ``threshold_dbfs`` RMS (e.g. a muted recording)."""
    if audio.size == 0:
        return True
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20 * np.log10(max(rms, 1e-12)) < threshold_dbfs


def save_wav(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write 16-bit PCM mono wav atomically."""
    import soundfile as sf

    from ..formats.fileio import atomic_output

    with atomic_output(path, suffix=".wav") as tmp:
        sf.write(tmp, np.asarray(audio, dtype=np.float32), sample_rate, subtype="PCM_16")
    return Path(path)


def _short(err: Exception) -> str:
    from ..errors import brief

    return brief(err, 160)


def frame_power(audio: np.ndarray, n_frames: int, fps: float, sample_rate: int = SAMPLE_RATE,
                chunk: int = 4096) -> np.ndarray:
    """(n_frames,) float64 mean square of ``audio`` over a window one frame long centred on frame i's time
    ``i / fps`` (samples outside the audio count as silence): the loudness per frame of the speech gate and
    of the lip-sync metrics. Chunk by chunk, so an hour of audio needs no full-size float64 copy."""
    audio = np.asarray(audio).reshape(-1)
    half = max(1, int(round(sample_rate / fps / 2)))
    centres = np.round(np.arange(n_frames) * sample_rate / fps).astype(np.int64)
    out = np.zeros(n_frames)
    for f0 in range(0, n_frames, chunk):
        c = centres[f0:f0 + chunk]
        a0, a1 = int(c[0]) - half, int(c[-1]) + half  # the chunk's samples [a0, a1)
        seg = np.zeros(a1 - a0)
        s0, s1 = max(a0, 0), min(a1, len(audio))
        if s1 > s0:
            seg[s0 - a0:s1 - a0] = audio[s0:s1]
        csum = np.concatenate([[0.0], np.cumsum(seg * seg)])
        out[f0:f0 + chunk] = (csum[c + half - a0] - csum[c - half - a0]) / (2 * half)
    return out
