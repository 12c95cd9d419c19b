"""Real-time animation: audio chunks in, finished frames out (``kpanim.Stream``; ``kpanim serve`` uses it).

The offline pipeline (:mod:`kpanim.animate.predict`) sees a whole clip; a stream sees the past and a short,
fixed look-ahead. The scheme (docs/STREAMING.md):

- **Steps.** Every ``hop`` frames (default 3, 120 ms) of new audio the stream finalises those frames.
  A step runs as soon as the audio reaches ``lookahead`` (default 160 ms) past its last frame: the
  look-ahead is the fixed part of the latency. Steps are triggered by sample counts only, so the
  frames do not depend on how the audio was chunked.
- **Sliding encoder window.** The model's front-end (``whisper_l<layers>_nopad``) encodes every
  segment at its own length, so each step encodes a window of ``lookback`` (default 2.4 s) of past audio
  + the step's frames + the look-ahead (≈ 2.7 s, like a short training clip), followed by ``tail`` (0.2 s)
  of silence, and keeps the states of the window's frames; MODA runs over the same window (SpecAttn: causal self-attention, cross-attention
  ±align_radius frames) and only the step's frames are kept.
- **Sampled streams.** Blinks, head and torso are sampled per stream from the seed: one ProbAttn prior
  latent per absolute latent step (drawn once, reused by every window that covers it), the blink times
  of :func:`~kpanim.animate.predict.blink_track` drawn lazily, head/torso smoothed over the frames already
  sent plus the look-ahead. Same seed and audio → same frames, whatever the chunking.
- **Speech gate**: :func:`~kpanim.animate.predict.speech_gate` over the window; a pause rests the mouth once
  it is known to last 1 s.

Each frame carries the MODA streams (lip, eye, dense, head pose, torso; absolute, like an
:class:`~kpanim.formats.animation.Animation`) and the 52 ARKit weights (:mod:`kpanim.animate.arkit`).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import KpanimError
from ..face import constants
from ..nets.precision import resolve_precision
from ..speech.audio import SAMPLE_RATE

FPS = 25.0
FRAME_SAMPLES = 640  # 40 ms at 16 kHz: frame t shows the audio around sample 640 t
STATE_SAMPLES = 320  # one Whisper encoder state per 20 ms
DEFAULT_LOOKBACK = 2.4  # seconds of past audio in every encoder window
DEFAULT_LOOKAHEAD = 0.16  # seconds of audio past a frame before it is final (≥ 4 frames: MODA's align radius)
DEFAULT_HOP = 3  # frames finalised per step
DEFAULT_TAIL = 0.2  # seconds of silence appended to every encoder window
HISTORY = 10  # frames of raw head/torso kept to smooth across steps (Gaussian sigma 2.5, radius 10)
FADE = 4.0  # frames: a new window's offset from the frames already sent fades out with this time constant


@dataclasses.dataclass
class StreamFrames:
    """Consecutive finished frames of a stream (arrays over n frames, absolute like an Animation).

    Attributes:
        index: (n,) frame numbers from the start of the stream; frame i shows time i / fps.
        lip (n, 40, 3), eye (n, 60, 3), dense (n, 478, 3): canonical-frame points, metres.
        head_pose: (n, 6) rotation vector + translation; torso: (n, 18, 3) camera frame.
        arkit: (n, 52) ARKit blendshape weights in [0, 1] (:data:`kpanim.animate.arkit.NAMES` order), or None.
        fps: frames per second (25).
    """

    index: np.ndarray
    lip: np.ndarray
    eye: np.ndarray
    dense: np.ndarray
    head_pose: np.ndarray
    torso: np.ndarray
    arkit: np.ndarray | None = None
    fps: float = FPS

    FIELDS = ("lip", "eye", "dense", "head_pose", "torso", "arkit")

    def __len__(self) -> int:
        return len(self.index)

    @property
    def time(self) -> np.ndarray:
        """(n,) seconds of each frame."""
        return self.index / self.fps

    @classmethod
    def empty(cls, with_arkit: bool = True) -> StreamFrames:
        z = np.zeros
        c = constants
        return cls(index=z(0, np.int64), lip=z((0, c.N_LIP, 3), np.float32), eye=z((0, c.N_EYE, 3), np.float32),
                   dense=z((0, c.N_DENSE, 3), np.float32), head_pose=z((0, c.POSE_DIM), np.float32),
                   torso=z((0, c.N_TORSO, 3), np.float32),
                   arkit=z((0, 52), np.float32) if with_arkit else None)

    @classmethod
    def concat(cls, parts: list[StreamFrames]) -> StreamFrames:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        arkit = None if any(p.arkit is None for p in parts) else np.concatenate([p.arkit for p in parts])
        return cls(index=np.concatenate([p.index for p in parts]),
                   **{f: np.concatenate([getattr(p, f) for p in parts]) for f in cls.FIELDS if f != "arkit"},
                   arkit=arkit, fps=parts[0].fps)

    def to_animation(self, meta: dict | None = None):
        """The frames as an :class:`~kpanim.formats.animation.Animation` (they must start at frame 0 and be consecutive)."""
        from ..formats.animation import Animation

        if len(self) and (self.index[0] != 0 or np.any(np.diff(self.index) != 1)):
            raise KpanimError("these stream frames are not consecutive from frame 0; concatenate every part first")
        return Animation(lip=self.lip, eye=self.eye, dense=self.dense, head_pose=self.head_pose, torso=self.torso,
                         fps=self.fps, meta=dict(meta or {}), arkit=self.arkit)


class _Resampler:
    """Stateful rate conversion to 16 kHz (low-pass + linear interpolation): the output does not depend on
    how the input is chunked."""

    def __init__(self, rate: int):
        from scipy.signal import butter, sosfilt_zi

        self.ratio = rate / SAMPLE_RATE  # input samples per output sample
        self.sos = butter(8, 0.45 * SAMPLE_RATE / (rate / 2), output="sos") if rate > SAMPLE_RATE else None
        self.zi = sosfilt_zi(self.sos) * 0.0 if self.sos is not None else None
        self.pos = 0.0  # next output sample's position in input samples, relative to ``self.prev``'s index 0
        self.prev = np.zeros(0, np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from scipy.signal import sosfilt

        if self.sos is not None and len(x):
            x, self.zi = sosfilt(self.sos, x, zi=self.zi)
        buf = np.concatenate([self.prev, np.asarray(x, np.float32)])
        if len(buf) < 2:
            self.prev = buf
            return np.zeros(0, np.float32)
        n = int(math.floor((len(buf) - 1 - self.pos) / self.ratio)) + 1 if self.pos <= len(buf) - 1 else 0
        k = self.pos + self.ratio * np.arange(n)
        k0 = np.floor(k).astype(np.int64)
        w = (k - k0).astype(np.float32)
        out = buf[k0] * (1 - w) + buf[np.minimum(k0 + 1, len(buf) - 1)] * w
        self.pos += self.ratio * n
        drop = max(0, int(math.floor(self.pos)))
        self.prev, self.pos = buf[drop:], self.pos - drop
        return out.astype(np.float32)


class _Blinks:
    """:func:`~kpanim.animate.predict.blink_track`'s blinks, drawn lazily as the stream advances (same values)."""

    PROFILE_T = np.array([0.0, 0.04, 0.08, 0.12, 0.2, 0.28])
    PROFILE_V = np.array([0.0, 0.6, 1.0, 0.8, 0.3, 0.0])

    def __init__(self, fps: float, rate_per_min: float, seed: int):
        self.fps, self.times = fps, []
        self.on = rate_per_min > 0
        if self.on:
            self.rng = np.random.default_rng(seed + 7)
            self.mean_gap = 60.0 / rate_per_min
            self.next = self.rng.uniform(0.2, self.mean_gap)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        track = np.zeros(len(frames), np.float32)
        if not self.on or not len(frames):
            return track
        times = frames / self.fps
        while self.next < times[-1] + 1.0:
            self.times.append(self.next)
            self.next += max(0.6, self.rng.gamma(2.0, self.mean_gap / 2.0))
        self.times = [t for t in self.times if t > times[0] - 1.0]
        for t in self.times:
            v = np.interp(times - t, self.PROFILE_T, self.PROFILE_V, left=0, right=0).astype(np.float32)
            track = np.maximum(track, v)
        return track


_BF16: dict[int, object] = {}
_BF16_LOCK = threading.Lock()


def _bf16_copy(encoder):
    """A bfloat16 copy of a (read-only) encoder module, made once and shared by every stream."""
    with _BF16_LOCK:
        if id(encoder) not in _BF16:
            import copy

            import torch

            _BF16[id(encoder)] = (encoder, copy.deepcopy(encoder).to(torch.bfloat16))
        return _BF16[id(encoder)][1]


def stream_frontend_kind(model) -> str:
    """'whisper' for a ``whisper_l<layers>_nopad`` front-end, 'local' for ``mel``; KpanimError for the rest."""
    from ..speech.whisper_frontends import WhisperLayersFrontend

    fe = model.frontend
    if isinstance(fe, WhisperLayersFrontend) and not fe.pad:
        return "whisper"
    if fe.name == "mel":
        return "local"
    raise KpanimError(f"{Path(model.path).name}: its audio front-end '{fe.name}' cannot stream (it encodes whole "
                      "30 s windows or whole clips); stream a model trained with a whisper_l<layers>_nopad "
                      "front-end, e.g. 'kpanim train moda --frontend whisper_l2-3-4_nopad'")


class Stream:
    """Speech in chunks → animation frames as they become final.

    ``push(chunk)`` takes audio of any length (float32 in [-1, 1] or int16, mono, at ``sample_rate``)
    and returns the :class:`StreamFrames` that became final (possibly none); ``close()`` flushes the
    rest (a stream covers ``round(seconds · 25)`` frames, like :func:`kpanim.predict`).

    Args:
        model: a loaded :class:`~kpanim.animate.bundle.Model`, a checkpoint path, or None for the default.
            Its front-end must be ``whisper_l<layers>_nopad`` (or ``mel``).
        subject: a :class:`~kpanim.tracking.subject.Subject`, portrait, ``.subject.npz`` or None (template face).
        seed: seed of blinks, head and torso; same seed and audio → same frames.
        temperature: spread of the sampled motion (0 = mean motion).
        sample_rate: rate of the pushed audio; other than 16 kHz is converted (low-pass + interpolation).
        lookback, lookahead: seconds of past audio per encoder window, and of audio past a frame before
            it is final (a multiple of 20 ms; the fixed part of the latency).
        hop: frames finalised per step (more: less CPU, more latency).
        tail: seconds of silence appended to every encoder window (a multiple of 20 ms).
        precision: the Whisper encoder's number type: "float32", "bfloat16" (2.5× faster where the CPU has
            bfloat16 instructions, AMX / AVX512-BF16; states within ~5 % of float32) or "auto" (bfloat16
            when the CPU has them).
        arkit: compute the 52 ARKit weights of every frame.
        blink_rate: blinks per minute (None: the model's).
    """

    def __init__(self, model=None, subject=None, seed: int = 0, temperature: float = 1.0,
                 sample_rate: int = SAMPLE_RATE, lookback: float = DEFAULT_LOOKBACK,
                 lookahead: float = DEFAULT_LOOKAHEAD, hop: int = DEFAULT_HOP, arkit: bool = True,
                 blink_rate: float | None = None, tail: float = DEFAULT_TAIL, precision: str = "auto"):
        from .bundle import Model, load_model
        from .predict import DEFAULT_SMOOTHING, _load_subject, default_subject_arrays

        self.model = model if isinstance(model, Model) else load_model(model)
        self.kind = stream_frontend_kind(self.model)
        if not 8000 <= int(sample_rate) <= 192000:
            raise KpanimError(f"sample rate {sample_rate} Hz is not supported; give audio at 8-192 kHz (16 kHz best)")
        if temperature < 0:
            raise KpanimError(f"temperature must be >= 0, got {temperature}")
        if not 1 <= int(hop) <= 25:
            raise KpanimError(f"hop must be 1-25 frames, got {hop}")
        la_states = round(lookahead * SAMPLE_RATE / STATE_SAMPLES)
        if not 0 <= la_states <= 50 or abs(la_states * STATE_SAMPLES / SAMPLE_RATE - lookahead) > 1e-6:
            raise KpanimError(f"lookahead must be a multiple of 0.02 s between 0 and 1 s, got {lookahead}")
        if not 0.4 <= lookback <= 25:
            raise KpanimError(f"lookback must be 0.4-25 s, got {lookback}")
        tail_states = round(tail * SAMPLE_RATE / STATE_SAMPLES)
        if not 0 <= tail_states <= 50 or abs(tail_states * STATE_SAMPLES / SAMPLE_RATE - tail) > 1e-6:
            raise KpanimError(f"tail must be a multiple of 0.02 s between 0 and 1 s, got {tail}")
        self.tail_samples = tail_states * STATE_SAMPLES
        self.precision = resolve_precision(precision)
        self.sample_rate, self.seed, self.temperature = int(sample_rate), int(seed), float(temperature)
        self.hop, self.lookahead_samples = int(hop), la_states * STATE_SAMPLES
        self.lookback_frames = int(round(lookback * FPS))
        self.with_arkit = arkit
        subj = _load_subject(subject)
        stats = self.model.stats
        if subj is None:
            self.neutral, self.pose0, self.torso0 = default_subject_arrays(stats)
        else:
            self.neutral, self.pose0, self.torso0 = (subj.neutral.astype(np.float32), subj.head_pose.astype(np.float32),
                                                     subj.torso.astype(np.float32))
        self.subject_id = getattr(subj, "subject_id", "template")
        self._subj_moda = stats.normalise_subject(self.neutral)
        self._subj_members = [m.stats.normalise_subject(self.neutral) for m in self.model.lip_members]
        self._readout_radius = max(st.readout_radius  # the lip read-outs' context, in frames
                                   for st in [self.model.stats] + [m.stats for m in self.model.lip_members])
        self._smoothing = dict(DEFAULT_SMOOTHING)
        if stats.blink is None:
            self._blinks = None
        else:
            rate = stats.blink.rate if blink_rate is None else blink_rate
            self._blinks = _Blinks(FPS, min(rate, 24.0), self.seed)
        self._resampler = _Resampler(self.sample_rate) if self.sample_rate != SAMPLE_RATE else None
        cfg = self.model.moda.cfg
        self._stride = int(cfg.latent_stride)
        self._z = np.zeros((0, cfg.latent_dim), np.float32)
        self._z_rng = np.random.default_rng(self.seed)
        self._z_start = 0  # absolute latent step of self._z[0]
        self.audio = np.zeros(0, np.float32)  # kept audio: samples [audio_start, audio_start + len)
        self.audio_start = 0
        self.n_samples = 0  # total 16 kHz samples received
        self.next_frame = 0  # first frame not yet final
        self._raw_hist: dict[str, np.ndarray] = {"head": np.zeros((0, constants.POSE_DIM), np.float32),
                                                 "torso": np.zeros((0, constants.N_TORSO * 3), np.float32)}
        self._last: dict[str, np.ndarray] = {}  # the last frame sent of eye (without blinks), head, torso
        self.closed = False

    # ------------------------------------------------------------------ public
    @property
    def lookahead(self) -> float:
        """Seconds of audio needed past a frame before it is final."""
        return self.lookahead_samples / SAMPLE_RATE

    def push(self, chunk) -> StreamFrames:
        """Add audio; returns the frames that became final (maybe none)."""
        if self.closed:
            raise KpanimError("this stream is closed; start a new one")
        x = np.asarray(chunk)
        if x.dtype == np.int16:
            x = x.astype(np.float32) / 32768.0
        elif x.dtype.kind == "f":
            x = x.astype(np.float32)
        else:
            raise KpanimError(f"audio chunks must be float32 in [-1, 1] or int16 samples, got {x.dtype}")
        if x.ndim != 1:
            raise KpanimError(f"audio chunks must be mono (one dimension), got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise KpanimError("audio chunk contains NaN or infinite samples")
        x = np.clip(x, -1.0, 1.0)
        if self._resampler is not None:
            x = self._resampler(x)
        self.audio = np.concatenate([self.audio, x])
        self.n_samples += len(x)
        parts = []
        while True:
            last = self.next_frame + self.hop - 1
            if last * FRAME_SAMPLES + self.lookahead_samples > self.n_samples:
                break
            parts.append(self._step(self.next_frame, self.next_frame + self.hop,
                                    last * FRAME_SAMPLES + self.lookahead_samples))
        return StreamFrames.concat(parts) if parts else StreamFrames.empty(self.with_arkit)

    def close(self) -> StreamFrames:
        """Flush: the remaining frames up to the end of the audio (no look-ahead left). The stream then ends."""
        from ..speech.mel import n_frames_for

        if self.closed:
            return StreamFrames.empty(self.with_arkit)
        self.closed = True
        total = n_frames_for(self.n_samples, FPS) if self.n_samples else 0
        parts = []
        while self.next_frame < total:
            end = min(total, self.next_frame + self.hop)
            parts.append(self._step(self.next_frame, end, self.n_samples))
        self.audio = np.zeros(0, np.float32)
        return StreamFrames.concat(parts) if parts else StreamFrames.empty(self.with_arkit)

    # ------------------------------------------------------------------ one step
    def _latents(self, c0: int, c1: int) -> np.ndarray:
        """Prior latents of absolute latent steps [c0, c1): drawn in order, once; window starts never go back,
        so the ones before c0 are dropped (a long stream keeps a bounded number)."""
        while self._z_start + len(self._z) < c1:
            more = self._z_rng.standard_normal((64, self._z.shape[1])).astype(np.float32)
            self._z = np.concatenate([self._z, more])
        if c0 > self._z_start:
            self._z, self._z_start = self._z[c0 - self._z_start:], c0
        return self.temperature * self._z[c0 - self._z_start:c1 - self._z_start]

    def _features(self, audio: np.ndarray, n_frames: int) -> np.ndarray:
        """(n_frames, D) features of a window starting on frame boundary 0."""
        if self.kind == "local":
            return self.model.frontend(audio, n_frames, FPS)
        import torch

        from ..speech.mel import log_mel

        fe = self.model.frontend
        n_states = max(1, int(math.ceil(len(audio) / STATE_SAMPLES)))
        # the window's end is not the end of the speech: a little silence after it makes its last states
        # look less like an utterance's end (val mouth-opening corr +0.01; docs/BENCHMARKS.md)
        n_all = n_states + self.tail_samples // STATE_SAMPLES
        mel = log_mel(np.pad(audio, (0, n_all * STATE_SAMPLES - len(audio))))[:, : 2 * n_all]
        x = torch.from_numpy(np.ascontiguousarray(mel))[None]
        with torch.inference_mode():  # no lock: the encoder module is read-only, streams run it in parallel
            if self.precision == "bfloat16":
                h = _bf16_copy(fe.encoder).hidden_states(x.to(torch.bfloat16), fe.layers).float()
            else:
                h = fe.encoder.hidden_states(x, fe.layers)
        states = h[0, :n_states].reshape(n_states, -1).numpy()
        idx = np.minimum(2 * np.arange(n_frames), n_states - 1)  # frame t ↔ state 2t (resample_features)
        return states[idx]

    def _step(self, f0: int, f1: int, audio_end: int) -> StreamFrames:
        """Finalise frames [f0, f1) from the audio up to sample ``audio_end``."""
        import torch

        from .predict import _smooth, compose_dense, ensemble_lips, speech_gate

        model, stats, K = self.model, self.model.stats, self._stride
        s = max(0, f0 - self.lookback_frames) // K * K  # window start: a latent-step boundary
        a0 = s * FRAME_SAMPLES
        audio = self.audio[a0 - self.audio_start: audio_end - self.audio_start]
        n = -(-len(audio) // FRAME_SAMPLES) if self.kind == "local" else \
            -(-int(math.ceil(len(audio) / STATE_SAMPLES)) // 2)
        n = max(n, f1 - s)
        feats = self._features(audio, n)
        C = -(-n // K)
        z = torch.from_numpy(self._latents(s // K, s // K + C))[None]
        x = torch.from_numpy(feats)[None]
        with torch.inference_mode():
            pred, _ = model.moda(x, torch.from_numpy(self._subj_moda)[None], temperature=self.temperature, prior_z=z)
            out = {k: v[0].numpy() for k, v in pred.items()}
            lip_z = [out["lip"]] + [  # the members' lips alone (SpecAttn)
                m.moda(x, torch.from_numpy(v)[None], lips_only=True)[0]["lip"][0].numpy()
                for m, v in zip(model.lip_members, self._subj_members)]
        i0, i1 = f0 - s, f1 - s
        r = self._readout_radius
        a, b = max(0, i0 - r), min(n, i1 + r)  # (the window's own edges stay edges: same result)
        lip = ensemble_lips(model, [v[a:b] for v in lip_z], feats[a:b], self.neutral)[i0 - a:i1 - a]
        gate = speech_gate(audio, n, FPS)[i0:i1, None]
        lip = (lip * gate).reshape(-1, constants.N_LIP, 3)
        # Sampled streams: each window predicts them anew (ProbAttn sees the whole window), so a new window
        # starts where the last one left off: its offset at the last frame sent fades out over FADE frames.
        # Head/torso: raw values of the frames already sent + this window's from f0 on, smoothed together.
        moved = {}
        for name in ("eye", "head", "torso"):
            j0 = max(0, i0 - 1)  # the last frame sent, as this window sees it
            raw = stats.denormalise(name, out[name][j0:])
            if name == "head" and stats.head_gain is not None:
                raw = raw * np.repeat(stats.head_gain, 3)[None]
            if name == "eye":
                cur = raw
            else:
                hist = self._raw_hist[name]
                both = _smooth(np.concatenate([hist, raw[i0 - j0:]]), self._smoothing[name])
                cur = both[len(hist) - (i0 - j0):]
                self._raw_hist[name] = np.concatenate([hist, raw[i0 - j0: i0 - j0 + i1 - i0]])[-HISTORY:]
            value = cur[i0 - j0: i0 - j0 + i1 - i0]
            last = self._last.get(name)
            if last is not None and i0 > j0:
                fade = np.exp(-np.arange(1, i1 - i0 + 1, dtype=np.float32) / FADE)[:, None]
                value = value - (cur[0] - last)[None] * fade
            self._last[name] = value[-1].copy()
            moved[name] = value.astype(np.float32)
        eye = moved["eye"].reshape(-1, constants.N_EYE, 3)
        frames = np.arange(f0, f1)
        if self._blinks is not None:
            eye = eye + self._blinks(frames)[:, None, None] * stats.blink.shape[None]
        smoothed = moved
        dense = compose_dense(model, {"lip": lip, "eye": eye}, self.neutral)
        dense += self.neutral[None]
        result = StreamFrames(index=frames, lip=lip + self.neutral[constants.lip_index()],
                              eye=eye + self.neutral[constants.eye_index()], dense=dense,
                              head_pose=self.pose0[None] + smoothed["head"],
                              torso=(self.torso0[None] + smoothed["torso"].reshape(-1, constants.N_TORSO, 3)).astype(np.float32))
        if self.with_arkit:
            from . import arkit

            result.arkit = arkit.scores_from_points(arkit.project_frontal(dense))  # float32: the same frames whatever the chunking
        self.next_frame = f1
        keep = max(0, f1 - self.lookback_frames - K) // K * K * FRAME_SAMPLES  # the next windows' start
        if keep > self.audio_start:
            self.audio = self.audio[keep - self.audio_start:]
            self.audio_start = keep
        return result

    def meta(self) -> dict:
        """Provenance for an :class:`~kpanim.formats.animation.Animation` made of this stream's frames."""
        return {"kpanim_version": __version__, "generator": "kpanim stream", "model": Path(self.model.path).name,
                "model_sha256": self.model.sha256, "frontend": self.model.frontend.name, "seed": self.seed,
                "temperature": self.temperature, "subject": self.subject_id, "lookahead_s": self.lookahead,
                "lookback_s": self.lookback_frames / FPS, "hop_frames": self.hop, "tail_s": self.tail_samples / SAMPLE_RATE,
                "precision": self.precision}


def stream_file(audio, model=None, subject=None, chunk: float = 0.1, **kwargs):
    """Run a whole recording (path or 16 kHz samples) through a :class:`Stream` in ``chunk``-second pieces;
    returns an :class:`~kpanim.formats.animation.Animation` (what a live stream of it would have shown)."""
    from ..speech.audio import load_audio

    if isinstance(audio, (str, Path)):
        audio = load_audio(audio)
    st = Stream(model, subject, **kwargs)
    step = max(1, int(chunk * st.sample_rate))
    parts = [st.push(audio[i:i + step]) for i in range(0, len(audio), step)]
    parts.append(st.close())
    return StreamFrames.concat(parts).to_animation(st.meta())
