"""Phone front-end: pocketsphinx allphone segmentation → per-frame phone occupancy (no downloaded weights).

Rhubarb Lip Sync's recipe: pocketsphinx's shipped US-English acoustic model (``pip install pocketsphinx``,
model files inside the wheel) decodes the speech as a free phone loop (``allphone`` with the shipped
phone language model), which needs no transcript and no vocabulary. The Python API exposes only the
best segmentation (no lattice or senone scores), so the features are *hard* labels turned soft by
time: row t of the output holds, for each of the 40 classes (39 CMU phones + silence), the share of
a triangular window of ±1 animation frame around t / fps that the phone occupies (rows sum to 1).
Neighbouring frames overlap, so the features change smoothly at phone boundaries.

English phones on other languages still segment voiced/unvoiced and open/closed sounds, just with
English labels (see docs/MODEL.md for the measured mouth motion on nine languages).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from ..errors import KpanimError
from .audio import SAMPLE_RATE
from .whisper_frontends import segment_at_pauses

# The CMU/ARPAbet phone set of pocketsphinx's en-us model, plus silence (fillers map to it).
PHONES = ("SIL", "AA", "AE", "AH", "AO", "AW", "AY", "B", "CH", "D", "DH", "EH", "ER", "EY", "F", "G", "HH", "IH",
          "IY", "JH", "K", "L", "M", "N", "NG", "OW", "OY", "P", "R", "S", "SH", "T", "TH", "UH", "UW", "V", "W",
          "Y", "Z", "ZH")
PHONE_INDEX = {p: i for i, p in enumerate(PHONES)}
SEG_RATE = 100.0           # pocketsphinx frames per second (10 ms)
MAX_SEGMENT_SECONDS = 30   # long audio is decoded in pause-cut utterances (bounded memory, like Whisper)


def _decoder():
    try:
        from pocketsphinx import Config, Decoder, get_model_path
    except ImportError:
        raise KpanimError("the phone front-end needs pocketsphinx (its wheel ships the en-US model): "
                          "pip install 'kpanim[phones]'") from None
    model = get_model_path()
    cfg = Config(hmm=os.path.join(model, "en-us", "en-us"), allphone=os.path.join(model, "en-us-phone.lm.bin"),
                 lm=None, dict=None, samprate=SAMPLE_RATE, loglevel="FATAL")
    return Decoder(cfg)


def segments_to_labels(segments: list[tuple[str, int, int]], n: int) -> np.ndarray:
    """(phone, first frame, last frame) segments at 100 Hz → (n,) class index per 10 ms frame (silence
    where nothing was decoded; unknown/filler phones count as silence)."""
    labels = np.zeros(n, np.int64)
    for phone, start, end in segments:
        labels[max(0, start):min(n, end + 1)] = PHONE_INDEX.get(phone, 0)
    return labels


def occupancy(labels: np.ndarray, n_frames: int, fps: float, n_classes: int = len(PHONES)) -> np.ndarray:
    """(K,) class labels at 100 Hz (label k covers [k, k+1) * 10 ms) → (n_frames, n_classes) shares of a
    triangular window of half-width 1/fps centred on t / fps. Rows sum to 1 (silence past the end)."""
    onehot = np.zeros((len(labels) + 1, n_classes), np.float32)
    onehot[np.arange(len(labels)), labels] = 1.0
    onehot[len(labels), 0] = 1.0  # beyond the audio: silence
    half = 1.0 / fps
    offsets = np.arange(-np.ceil(half * SEG_RATE), np.ceil(half * SEG_RATE) + 1)
    out = np.zeros((n_frames, n_classes), np.float32)
    centres = np.arange(n_frames) / fps
    for off in offsets:
        k = np.floor(centres * SEG_RATE).astype(np.int64) + int(off)
        mid = (k + 0.5) / SEG_RATE  # centre of 10 ms frame k
        w = np.clip(1.0 - np.abs(mid - centres) / half, 0.0, None).astype(np.float32)
        k = np.where((k < 0) | (k >= len(labels)), len(labels), k)
        out += onehot[k] * w[:, None]
    return out / np.maximum(out.sum(1, keepdims=True), 1e-6)


class PhoneFrontend:
    """pocketsphinx allphone segmentation (en-US model shipped in the wheel) → (n_frames, 40) phone
    occupancy per animation frame. Audio longer than 30 s is cut at pauses and decoded per piece."""

    name = "phones"
    dim = len(PHONES)

    def __init__(self):
        self.decoder = _decoder()
        self._lock = threading.Lock()

    def segments(self, audio: np.ndarray) -> list[tuple[str, int, int]]:
        """(N,) float 16 kHz → [(phone, first 10 ms frame, last 10 ms frame)] over the whole audio."""
        out = []
        hop = int(SAMPLE_RATE / SEG_RATE)
        for start, end in segment_at_pauses(audio, MAX_SEGMENT_SECONDS * SAMPLE_RATE, hop):
            pcm = (np.clip(audio[start:end], -1.0, 1.0) * 32767).astype("<i2").tobytes()
            with self._lock:
                self.decoder.start_utt()
                self.decoder.process_raw(pcm, full_utt=True)
                self.decoder.end_utt()
                segs = [(s.word, s.start_frame, s.end_frame) for s in self.decoder.seg()]
            f0 = start // hop
            out += [(w, a + f0, b + f0) for w, a, b in segs]
        return out

    def labels(self, audio: np.ndarray) -> np.ndarray:
        """(N,) → (ceil(N / 160),) phone class per 10 ms frame."""
        n = max(1, int(np.ceil(len(audio) * SEG_RATE / SAMPLE_RATE)))
        return segments_to_labels(self.segments(np.asarray(audio, np.float32)), n)

    def __call__(self, audio: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
        return occupancy(self.labels(audio), n_frames, fps)
