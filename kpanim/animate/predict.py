"""Speech → animation with the trained MODA + FaCo-Net (``kpanim predict``; Python API ``kpanim.predict``).

Pipeline: audio (any format/rate) → front-end features at the frame rate → MODA over overlapping
windows (cross-faded, so any length runs in bounded memory) → lip/eye/head/torso displacements →
articulation gain and a speech gate (silence → closed, still mouth) → FaCo-Net composes the dense
mesh → :class:`~kpanim.formats.animation.Animation` for the subject's face.
"""

from __future__ import annotations

import itertools
import os
import warnings
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import KpanimError
from ..face import constants
from ..formats.animation import Animation
from ..nets.stats import MotionStats
from .bundle import Model, load_model

FPS = 25.0  # the networks' native frame rate; other --fps values are resampled
GATE_FLOOR_DB = -55.0  # speech gate (speech_gate): silence is quieter than this, dBFS ...
GATE_MIN_SILENCE = 25  # ... for at least this many frames (1 s at 25 fps)
DEFAULT_SMOOTHING = {"lip": 0.0, "eye": 0.0, "head": 2.5, "torso": 2.5}  # Gaussian sigma in frames


# ----------------------------------------------------------------------------- core inference
def moda_windows(moda, feats: np.ndarray, subject_vec: np.ndarray, window: int = 200, overlap: int = 40,
                 temperature: float = 1.0, seed: int = 0, batch: int = 8,
                 lips_only: bool = False) -> dict[str, np.ndarray]:
    """Run MODA over (T, D) features in overlapping windows, linearly cross-faded; returns normalised
    streams {name: (T, dim)} (only "lip" with ``lips_only``: the extra networks of a lip ensemble). Memory
    is O(T · outputs) plus one batch of windows."""
    import torch

    T = len(feats)
    hop = window - overlap
    starts = list(range(0, max(1, T - overlap), hop)) if T > window else [0]
    gen = torch.Generator().manual_seed(int(seed))
    out: dict[str, np.ndarray] | None = None
    weight = np.zeros((T, 1), np.float32)
    up = np.linspace(0, 1, overlap + 2, dtype=np.float32)[1:-1]
    subj = torch.from_numpy(subject_vec)[None]
    for b0 in range(0, len(starts), batch):
        group = starts[b0:b0 + batch]
        L = min(window, T)
        x = np.zeros((len(group), L, feats.shape[1]), np.float32)
        pad = np.ones((len(group), L), bool)
        for j, s in enumerate(group):
            n = min(L, T - s)
            x[j, :n], pad[j, :n] = feats[s:s + n], False
        with torch.no_grad():
            pred, _ = moda(torch.from_numpy(x), subj.expand(len(group), -1), pad=torch.from_numpy(pad),
                           temperature=temperature, generator=gen, lips_only=lips_only)
        if out is None:
            out = {k: np.zeros((T, v.shape[-1]), np.float32) for k, v in pred.items()}
        for j, s in enumerate(group):
            n = min(L, T - s)
            w = np.ones(n, np.float32)
            if s > 0:
                w[:overlap] = up[: min(overlap, n)]
            if s + n < T:
                w[n - overlap:] *= up[::-1]
            for k in out:
                out[k][s:s + n] += pred[k][j, :n].numpy() * w[:, None]
            weight[s:s + n] += w[:, None]
    np.maximum(weight, 1e-6, out=weight)
    for v in out.values():
        v /= weight  # in place: an hour's streams are 130 MB
    return out


def speech_gate(audio: np.ndarray, n_frames: int, fps: float, sample_rate: int = 16000,
                floor_db: float = GATE_FLOOR_DB, min_silence: int = GATE_MIN_SILENCE) -> np.ndarray:
    """(n_frames,) in [0, 1]: 0 in silence (the mouth rests at the neutral face), 1 elsewhere.

    Silence is frame loudness (RMS over 40 ms) below ``floor_db`` dBFS (10 dB soft ramp) lasting at
    least ``min_silence`` frames: padding and pauses of synthetic speech, not the quiet stretches of a
    recording, where a speaker's mouth still moves and the network's own output is right (a gate at
    the loudest frame - 40 dB cut the mouth-opening corr on unseen speakers from 0.54 to 0.45, and
    -55 dBFS over 0.4 s to 0.47; docs/MODEL.md). Speech is widened by 3 frames each side (lips move before and after the sound).
    """
    from scipy.ndimage import gaussian_filter1d, label, maximum_filter1d

    from ..speech.audio import frame_power

    db = 10 * np.log10(np.maximum(frame_power(audio, n_frames, fps, sample_rate), 1e-16))
    gate = np.clip((db - floor_db) / 10.0, 0, 1)
    runs, n_runs = label(gate < 1)
    if n_runs:  # quiet runs shorter than min_silence are not silence
        sizes = np.bincount(runs)[1:]
        gate[np.isin(runs, 1 + np.flatnonzero(sizes < min_silence))] = 1.0
    gate = maximum_filter1d(gate, size=7)
    return np.clip(gaussian_filter1d(gate, 1.0), 0, 1).astype(np.float32)


def default_subject_arrays(stats: MotionStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(neutral (478, 3), head_pose (6,), torso (18, 3)) of the template face placed like an average
    training video (MODA's statistics)."""
    pose = np.zeros(6, np.float32)
    pose[3:] = stats.mean_head_pose[3:]
    return constants.template().astype(np.float32), pose, pose[None, 3:] + stats.torso_rel_head


def blink_track(n_frames: int, fps: float, rate_per_min: float, seed: int) -> np.ndarray:
    """(n_frames,) closure in [0, 1]: blinks at seeded random times (gamma-distributed intervals with
    the given mean rate, at least 0.6 s apart), each ~0.25 s: fast close, slower open."""
    if rate_per_min <= 0 or n_frames == 0:
        return np.zeros(n_frames, np.float32)
    rng = np.random.default_rng(seed + 7)
    mean_gap = 60.0 / rate_per_min
    profile_t = np.array([0.0, 0.04, 0.08, 0.12, 0.2, 0.28])
    profile_v = np.array([0.0, 0.6, 1.0, 0.8, 0.3, 0.0])
    track = np.zeros(n_frames, np.float32)
    t = rng.uniform(0.2, mean_gap)
    times = np.arange(n_frames) / fps
    while t < n_frames / fps:
        track = np.maximum(track, np.interp(times - t, profile_t, profile_v, left=0, right=0).astype(np.float32))
        t += max(0.6, rng.gamma(2.0, mean_gap / 2.0))
    return track


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma, axis=0, mode="nearest") if sigma and sigma > 0 and len(x) > 1 else x


def ensemble_lips(model: Model, lip_z, feats: np.ndarray, neutral: np.ndarray,
                  visemes: tuple | None = None) -> np.ndarray:
    """The lip networks' outputs (an iterable: main network first, then ``model.lip_members``; each (T, 120)
    normalised) → (T, 120) metric lip displacements: each through its own read-out blend and amplitude (its
    own statistics), then averaged. ``visemes`` (phones, fps, weight) mixes in the viseme keyframe track.
    A generator keeps one network's lips in memory at a time (an hour: 43 MB each)."""
    from ..nets.linear_readout import blend_readout
    from ..nets.normalise import lips_from_network
    from .visemes import blend_lips, viseme_track

    total, n = None, 0
    for z, stats in zip(lip_z, [model.stats] + [m.stats for m in model.lip_members], strict=True):
        z = blend_readout(z, feats, stats)
        if visemes is not None:
            phones, fps_in, weight = visemes
            keys = (stats.visemes or model.stats.visemes).keys  # a member without its own: the main network's
            z = blend_lips(z, viseme_track(phones, keys, fps_in), weight)
        lip = lips_from_network(z, neutral, stats).reshape(len(z), -1)
        total = lip if total is None else np.add(total, lip, out=total)
        n += 1
    return total if n == 1 else total / np.float32(n)


def motion_streams(model: Model, feats: np.ndarray, audio: np.ndarray, neutral: np.ndarray, fps_in: float = FPS,
                    seed: int = 0, temperature: float = 1.0, smoothing: dict | None = None,
                    window: int = 200, overlap: int = 40,
                    blink_rate: float | None = None, viseme_blend: float = 0.0,
                    phones: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Normalised network outputs → metric displacements: lip (T,40,3), eye (T,60,3) (relative to
    ``neutral``), head (T,6), torso (T,18,3) deviations.

    ``viseme_blend`` w > 0 mixes the co-articulated viseme keyframe track of ``phones`` ((T, 40) phone
    occupancy) into the lip stream: (1 - w) · network + w · track, in normalised units."""
    stats = model.stats
    out = moda_windows(model.moda, feats, stats.normalise_subject(neutral), window, overlap, temperature, seed)
    T = len(feats)
    lip_z = itertools.chain([out.pop("lip")], (  # members one at a time (memory)
        moda_windows(m.moda, feats, m.stats.normalise_subject(neutral), window, overlap, lips_only=True)["lip"]
        for m in model.lip_members))
    visemes = (phones, fps_in, viseme_blend) if viseme_blend > 0 else None
    smoothing = {**DEFAULT_SMOOTHING, **(smoothing or {})}
    lip = ensemble_lips(model, lip_z, feats, neutral, visemes)
    eye = stats.denormalise("eye", out["eye"])
    head = stats.denormalise("head", out["head"])
    if stats.head_gain is not None:  # calibrated after training: rotation, translation
        head = head * np.repeat(stats.head_gain, 3)[None]
    head = _smooth(head, smoothing["head"])
    torso = _smooth(stats.denormalise("torso", out["torso"]), smoothing["torso"])
    gate = speech_gate(audio, T, fps_in)[:, None]
    lip = _smooth(lip * gate, smoothing["lip"]).reshape(T, constants.N_LIP, 3)
    eye = _smooth(eye, smoothing["eye"]).reshape(T, constants.N_EYE, 3)
    if stats.blink is not None:  # data-derived blink prior (the decoder averages blinks away)
        rate = stats.blink.rate if blink_rate is None else blink_rate
        eye = eye + blink_track(T, fps_in, min(rate, 24.0), seed)[:, None, None] * stats.blink.shape[None]
    return {"lip": lip, "eye": eye, "head": head, "torso": torso.reshape(T, constants.N_TORSO, 3)}


def compose_dense(model: Model, streams: dict[str, np.ndarray], neutral: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """FaCo-Net: the lip and eye streams of :func:`motion_streams` → (T, 478, 3) dense displacements from
    ``neutral`` (in chunks: an hour composes in bounded memory); the sparse streams are authoritative."""
    import torch

    lip, eye = streams["lip"], streams["eye"]
    T = len(lip)
    fs = model.faco_stats
    dense = np.empty((T, constants.N_DENSE, 3), np.float32)
    subj = torch.from_numpy(fs.normalise_subject(neutral))
    for c0 in range(0, T, chunk):  # chunked: an hour of audio composes in bounded memory
        c1 = min(T, c0 + chunk)
        with torch.no_grad():
            d = model.faco(subj, torch.from_numpy(fs.normalise("lip", lip[c0:c1])),
                           torch.from_numpy(fs.normalise("eye", eye[c0:c1]))).numpy()
        dense[c0:c1] = fs.denormalise("dense", d).reshape(-1, constants.N_DENSE, 3)
    dense[:, constants.lip_index()] = lip  # the sparse streams are authoritative
    dense[:, constants.eye_index()] = eye
    return dense



def _load_subject(subject):
    from ..tracking.subject import Subject, load_or_make_subject

    if subject is None or isinstance(subject, Subject):
        return subject
    return load_or_make_subject(subject)


def predict(audio, subject=None, model=None, seed: int = 0, samples: int = 1, temperature: float = 1.0,
            fps: float = FPS, smoothing: dict | None = None, frontend_path: str | None = None,
            blink_rate: float | None = None, viseme_blend: float | None = None, check_speech: bool = True,
            progress: bool = False):
    """Animate speech.

    Args:
        audio: a path (wav/flac/ogg/mp3/m4a/aiff, any rate/channels) or (N,) float32 16 kHz mono samples.
        subject: a :class:`~kpanim.tracking.subject.Subject`, a portrait image, a ``.subject.npz``, or None for
            the template face.
        model: a :class:`Model`, a checkpoint path, or None for the shipped default model.
        seed: random seed of the probabilistic streams (eyes, head, torso); same seed → same result.
        samples: how many variations; > 1 returns a list.
        temperature: scale of the ProbAttn prior (0 = the mean motion, 1 = as trained).
        fps: output frame rate (the network runs at 25 fps; other rates are resampled).
        smoothing: per-stream Gaussian sigma in frames, e.g. {"head": 2.0}.
        blink_rate: blinks per minute added from the model's blink prior (None: the rate measured in
            its training data, capped at 24; 0: none).
        viseme_blend: weight in [0, 1] of the phone-driven viseme keyframe track in the lips (None: the
            model's default, 0 for models without viseme keyframes); needs pocketsphinx when > 0.
        check_speech: warn when the audio holds no detectable speech (:mod:`kpanim.speech.speech_check`: Whisper's
            no-speech probability on one 30 s window, about 0.4 s of CPU plus loading its model once;
            False skips it, e.g. for batches of known speech).
        progress: show a progress bar on stderr for audio over 30 s (the CLI does).
    Returns:
        An :class:`~kpanim.formats.animation.Animation` (or a list of ``samples`` of them).
    """
    from ..speech.audio import load_audio, speech_warnings
    from ..speech.mel import n_frames_for

    if samples < 1:
        raise KpanimError(f"--samples must be at least 1, got {samples}")
    if temperature < 0:
        raise KpanimError(f"--temperature must be >= 0, got {temperature}")
    model = model if isinstance(model, Model) else load_model(model, frontend_path)
    audio_entry = None
    if isinstance(audio, (str, os.PathLike)):
        from ..formats.animation import audio_meta

        path, audio = audio, load_audio(audio)
        audio_entry = audio_meta(path, audio.size / 16000)
    audio = np.asarray(audio, np.float32).reshape(-1)
    if audio.size == 0:
        raise KpanimError("the audio is empty (0 samples); give a recording with speech")
    for problem in speech_warnings(audio, check_speech=check_speech):
        warnings.warn(problem, stacklevel=2)
    subj = _load_subject(subject)
    if subj is None:
        neutral, pose0, torso0 = default_subject_arrays(model.stats)
    else:
        neutral, pose0, torso0 = (subj.neutral.astype(np.float32), subj.head_pose.astype(np.float32),
                                  subj.torso.astype(np.float32))
    T = n_frames_for(audio.size, FPS)
    bar = _progress_bar(progress and audio.size > 30 * 16000, samples)
    feats = model.frontend(audio, T, FPS)
    bar.update()
    blend = model.viseme_blend(viseme_blend)
    phones = model.phone_features(feats, audio) if blend > 0 else None
    motions = [motion_streams(model, feats, audio, neutral, seed=seed + k, temperature=temperature, smoothing=smoothing,
                              blink_rate=blink_rate, viseme_blend=blend, phones=phones) for k in range(samples)]
    del feats, phones  # an hour's features are 0.55 GB: gone before the dense meshes are composed
    results = []
    for k in range(samples):
        s = motions[k]
        motions[k] = None
        s["dense"] = compose_dense(model, s, neutral)
        meta = {"kpanim_version": __version__, "generator": "kpanim predict", "model": Path(model.path).name,
                "model_sha256": model.sha256, "frontend": model.frontend.name, "seed": seed + k,
                "temperature": temperature, "viseme_blend": blend, "sample": k, "audio": audio_entry,
                "subject": getattr(subj, "subject_id", "template"),
                "subject_sha256": getattr(subj, "image_sha256", None)}
        s["lip"] += neutral[constants.lip_index()]
        s["eye"] += neutral[constants.eye_index()]
        s["dense"] += neutral[None]  # in place: the dense stream is the big one (an hour ≈ 0.5 GB)
        anim = Animation(lip=s["lip"], eye=s["eye"], dense=s["dense"], head_pose=pose0[None] + s["head"],
                         torso=torso0[None] + s["torso"], fps=FPS, meta=meta)
        del s
        results.append(anim if fps == FPS else anim.resample(fps))
        bar.update()
    bar.close()
    return results[0] if samples == 1 else results


def _progress_bar(enabled: bool, samples: int):
    """predict's stages on stderr: the audio features (about half the time), then each sample's motion."""
    import sys

    from tqdm import tqdm

    return tqdm(total=1 + samples, desc="predict", unit="stage", disable=not enabled, file=sys.stderr,
                bar_format="{desc}: {n_fmt}/{total_fmt} stages (audio features, motion) {elapsed}<{remaining}")
