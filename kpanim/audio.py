"""Audio in: any file FFmpeg (through PyAV) decodes → mono float32 at one sample rate.

Handles wav/flac/ogg/mp3/m4a/aiff and the audio track of video containers, at any sample rate and
channel count. Problems the user can fix raise :class:`~kpanim.errors.KpanimError` with one line.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .errors import KpanimError

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


def is_silent(audio: np.ndarray, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """True when the whole signal stays below ``threshold_dbfs`` RMS (e.g. a muted recording)."""
    if audio.size == 0:
        return True
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return 20 * np.log10(max(rms, 1e-12)) < threshold_dbfs


def save_wav(path: str | Path, audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write 16-bit PCM mono wav atomically."""
    import soundfile as sf

    from .fileio import atomic_output

    with atomic_output(path, suffix=".wav") as tmp:
        sf.write(tmp, np.asarray(audio, dtype=np.float32), sample_rate, subtype="PCM_16")
    return Path(path)


def _short(err: Exception) -> str:
    return str(err).splitlines()[0][:160]
