"""Speech → features, the common part: the front-end protocol, frame counts, Whisper's log-mel and the
`mel` front-end, and the resampling of feature rates to the animation's frames."""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol

import numpy as np

from .audio import SAMPLE_RATE

N_FFT = 400          # 25 ms window (Whisper)
HOP = 160            # 10 ms hop → 100 mel frames per second
N_MELS = 80
WHISPER_SECONDS = 30  # Whisper's encoder always sees a 30 s window (3000 mel frames → 1500 states)


class AudioFrontend(Protocol):
    name: str
    dim: int

    def __call__(self, audio: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
        """(N,) float32 16 kHz mono → (n_frames, dim) float32; row t is centred on time t / fps."""


def n_frames_for(n_samples: int, fps: float, sample_rate: int = SAMPLE_RATE) -> int:
    """Frames of an animation covering ``n_samples`` of audio (frame i shows time i / fps)."""
    return max(1, int(round(n_samples / sample_rate * fps)))


# ----------------------------------------------------------------------------- log-mel (Whisper's)
@lru_cache(maxsize=4)
def mel_filters(n_mels: int = N_MELS, n_fft: int = N_FFT, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) Slaney-scale, Slaney-normalised triangular filters (= librosa's default,
    which Whisper's ``mel_filters.npz`` was made with)."""
    def hz_to_mel(f):
        f = np.asarray(f, dtype=np.float64)
        lin = f / (200.0 / 3)
        log = 15.0 + np.log(np.maximum(f, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
        return np.where(f >= 1000.0, log, lin)

    def mel_to_hz(m):
        m = np.asarray(m, dtype=np.float64)
        lin = m * (200.0 / 3)
        log = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m - 15.0))
        return np.where(m >= 15.0, log, lin)

    fft_freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    mel_pts = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    fdiff = np.diff(mel_pts)
    ramps = mel_pts[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_pts[2:n_mels + 2] - mel_pts[:n_mels]))[:, None]
    return weights.astype(np.float32)


def log_mel(audio: np.ndarray, pad_to: int | None = None) -> np.ndarray:
    """Whisper's log-mel: (N,) → (80, frames) at 100 Hz, frame j centred on j * 10 ms, range ~[-1, 1.5].

    ``pad_to`` pads the audio with zeros to that many samples first (Whisper pads every window to 30 s).
    """
    import torch

    x = torch.from_numpy(np.asarray(audio, dtype=np.float32))
    if pad_to is not None and x.numel() < pad_to:
        x = torch.nn.functional.pad(x, (0, pad_to - x.numel()))
    if x.numel() < N_FFT:  # torch.stft's reflect padding needs a few samples
        x = torch.nn.functional.pad(x, (0, N_FFT - x.numel()))
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), return_complex=True)
    power = spec[..., :-1].abs() ** 2
    mel = torch.from_numpy(mel_filters()) @ power
    logspec = torch.clamp(mel, min=1e-10).log10()
    logspec = torch.maximum(logspec, logspec.max() - 8.0)
    return ((logspec + 4.0) / 4.0).numpy()


def resample_features(feats: np.ndarray, rate: float, n_frames: int, fps: float, offset: float = 0.0,
                      chunk: int = 4096) -> np.ndarray:
    """Linear interpolation of (K, D) features whose row k is at time ``offset + k / rate`` onto the
    frame times ``t / fps`` (t < n_frames); times past the end repeat the last row. Works in chunks of
    output frames so an hour of features needs no full-size temporaries."""
    out = np.empty((n_frames, feats.shape[1]), np.float32)
    for c0 in range(0, n_frames, chunk):
        k = (np.arange(c0, min(n_frames, c0 + chunk)) / fps - offset) * rate
        k = np.clip(k, 0, len(feats) - 1)
        k0 = np.floor(k).astype(np.int64)
        k1 = np.minimum(k0 + 1, len(feats) - 1)
        w = (k - k0)[:, None].astype(np.float32)
        out[c0:c0 + len(k)] = feats[k0] * (1 - w) + feats[k1] * w
    return out


class MelFrontend:
    """Log-mel, 4 sub-frames (10 ms apart) stacked per 40 ms animation frame; no weights needed."""

    name = "mel"
    stack = 4
    dim = N_MELS * 4

    def __call__(self, audio: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
        mel = log_mel(audio).T  # (frames, 80), row j at j / 100 s
        subs = [resample_features(mel, 100.0, n_frames, fps, offset=-(j - 1.5) * 0.01) for j in range(self.stack)]
        return np.concatenate(subs, axis=1)


