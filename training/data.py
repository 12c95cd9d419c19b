"""Training data over prepared clips (docs/DATASET_SCHEMA: ``DIR/index.json`` + ``DIR/clips/<id>.npz|.wav``).

- :func:`load_clips` reads every clip of a split into memory as *unnormalised* displacement targets
  (lip/eye from the clip's neutral, head pose and torso from the clip's mean) plus the clip's audio
  features, which are computed once per (front-end, augmentation) and cached as ``.npy`` under
  ``DIR/features/<frontend>/``.
- :func:`compute_norm` gives the per-stream statistics that normalise every target stream (stored
  in checkpoints, so inference undoes exactly the training normalisation).
- :class:`WindowSampler` draws fixed-length windows: speaker-balanced (each speaker equally likely,
  so one long speaker cannot swamp the rest), random audio augmentation variant, and mirroring
  (x-flip with the face-mesh left/right index swap) with probability ``mirror_p``; optionally a fixed
  fraction of the windows from extra "mix" clips (e.g. one large single-speaker corpus).
- Speed perturbation (Kaldi-style, :func:`speed_perturb_audio` / :func:`speed_perturb_frames`): a clip
  loaded with ``speed=f`` has its audio resampled so tempo and pitch scale by ``f`` and its targets
  time-resampled by the same factor, so audio and motion stay in sync; its features are cached under
  ``DIR/features/<frontend>_sp<f>/``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zlib
from collections.abc import Collection
from fractions import Fraction
from pathlib import Path

import numpy as np

from kpanim.dataset.clip import PreparedClip
from kpanim.errors import KpanimError
from kpanim.face import constants
from kpanim.nets.normalise import denormalise, mouth_width, normalise, normalise_subject, opening_spread  # noqa: F401

LIP_TARGETS = ("raw", "clip_z")


@dataclasses.dataclass
class Clip:
    clip_id: str
    speaker: str
    neutral: np.ndarray      # (478, 3) metres, canonical
    lip: np.ndarray          # (T, 40, 3) displacement from neutral
    eye: np.ndarray          # (T, 60, 3)
    dense: np.ndarray        # (T, 478, 3) displacement from neutral
    head: np.ndarray         # (T, 6) deviation from the clip's mean pose
    torso: np.ndarray        # (T, 18, 3) deviation from the clip's mean torso
    valid: np.ndarray        # (T,) bool
    mean_pose: np.ndarray    # (6,)
    mean_torso: np.ndarray   # (18, 3) camera frame
    audio: list[np.ndarray]  # feature variants, each (T, D); [0] is the clean audio
    speed: float = 1.0       # speed-perturbation factor the clip was loaded with (1 = as recorded)
    lip_spread: float = 1.0  # the clip's mouth-opening std in metres (normalise.opening_spread)

    @property
    def n_frames(self) -> int:
        return len(self.valid)


def is_duplicate(clip_id: str, ids: Collection[str]) -> bool:
    """Whether ``clip_id`` names a clip already in ``ids``: the same id, or an id ending in ``_<clip_id>``
    (prepare names clips after their source file, e.g. GRID's ``bbaf2n`` inside a corpus folder
    becomes ``LipNet__evaluation_samples_GRID_bbaf2n``)."""
    return clip_id in ids or any(i.endswith("_" + clip_id) for i in ids)


def read_index(dataset_dir: str | Path) -> list[dict]:
    path = Path(dataset_dir) / "index.json"
    if not path.is_file():
        raise KpanimError(f"{dataset_dir}: no index.json; prepare the dataset first (kpanim prepare VIDEOS -o DIR)")
    clips = json.loads(path.read_text())
    return clips["clips"] if isinstance(clips, dict) else clips


def select_clips(dataset_dir: str | Path, split: str | None, min_av_corr: float | None = None,
                 max_abs_lag: int | None = None) -> list[dict]:
    """Index rows of one split, optionally dropping clips whose measured audio-visual sync is poor
    (``av_corr``/``av_lag`` from prepare: multi-speaker, dubbed or out-of-sync clips)."""
    rows = [c for c in read_index(dataset_dir) if split is None or c.get("split") == split]
    if min_av_corr is not None:
        rows = [c for c in rows if c.get("av_corr") is None or c["av_corr"] >= min_av_corr]
    if max_abs_lag is not None:
        rows = [c for c in rows if c.get("av_lag") is None or abs(c["av_lag"]) <= max_abs_lag]
    return rows


def augment_audio(audio: np.ndarray, variant: int, seed: int) -> np.ndarray:
    """Variant 0 = clean; 1 = white+pink-ish noise at 10–25 dB SNR; 2 = gain ±10 dB with mild noise."""
    if variant == 0:
        return audio
    rng = np.random.default_rng(seed * 7919 + variant)
    power = float(np.mean(audio.astype(np.float64) ** 2)) + 1e-10
    if variant == 1:
        snr_db = rng.uniform(10, 25)
        noise = rng.standard_normal(len(audio))
        noise = np.convolve(noise, np.ones(4) / 4, mode="same")  # tilt towards low frequencies
    else:
        audio = audio * 10 ** (rng.uniform(-10, 10) / 20)
        power = float(np.mean(audio.astype(np.float64) ** 2)) + 1e-10
        snr_db = rng.uniform(25, 40)
        noise = rng.standard_normal(len(audio))
    noise *= np.sqrt(power / 10 ** (snr_db / 10) / (np.mean(noise ** 2) + 1e-12))
    return np.clip(audio + noise, -1, 1).astype(np.float32)


def speed_perturb_audio(audio: np.ndarray, factor: float) -> np.ndarray:
    """Kaldi-style speed perturbation ``(N,) → (ceil(N / factor),)``: resample by 1/factor and play at
    the same rate (sox ``speed``), so tempo and pitch both scale by ``factor``. Output sample k is the
    input at sample k·factor (polyphase filter, zero phase: no delay)."""
    if factor == 1.0:
        return audio
    if not 0.5 <= factor <= 2.0:
        raise KpanimError(f"speed factor must be in [0.5, 2], got {factor}")
    from scipy.signal import resample_poly

    ratio = Fraction(1.0 / factor).limit_denominator(1000)
    return resample_poly(audio.astype(np.float32), ratio.numerator, ratio.denominator).astype(np.float32)


def speed_frames(n_frames: int, factor: float) -> int:
    """Frame count of a clip of ``n_frames`` after speed perturbation by ``factor``."""
    return max(1, int(round(n_frames / factor)))


def speed_perturb_frames(x: np.ndarray, factor: float) -> np.ndarray:
    """(T, ...) → (speed_frames(T, factor), ...): frame j of the perturbed clip is the original at
    frame j·factor (linear interpolation; a bool array is True where both neighbours are), which is
    where :func:`speed_perturb_audio` puts that moment of the audio."""
    if factor == 1.0:
        return x
    pos = np.minimum(np.arange(speed_frames(len(x), factor)) * factor, len(x) - 1)
    i0 = np.floor(pos).astype(int)
    i1 = np.minimum(i0 + 1, len(x) - 1)
    if x.dtype == bool:
        return x[i0] & x[i1]
    w = (pos - i0).reshape(-1, *([1] * (x.ndim - 1))).astype(np.float32)
    return (x[i0] * (1 - w) + x[i1] * w).astype(x.dtype)


def feature_dir(dataset_dir: Path, frontend, speed: float = 1.0) -> Path:
    """Cache folder of a front-end's features (``<frontend>`` or ``<frontend>_sp<factor>``)."""
    return dataset_dir / "features" / (frontend.name if speed == 1.0 else f"{frontend.name}_sp{speed:g}")


def clip_features(dataset_dir: Path, clip_id: str, n_frames: int, frontend, variants: int,
                  speed: float = 1.0) -> list[np.ndarray]:
    """Front-end features of a clip's audio (and its augmented variants), cached as .npy files;
    ``speed`` ≠ 1 perturbs the audio first (``n_frames`` is then the perturbed clip's)."""
    from kpanim.speech.audio import load_audio

    if getattr(frontend, "parts", None):  # a concatenation (e.g. whisper_ct2+phones): each part's own cache
        per_part = [clip_features(dataset_dir, clip_id, n_frames, p, variants, speed) for p in frontend.parts]
        return [np.concatenate(fs, axis=1) for fs in zip(*per_part)]
    cache = feature_dir(dataset_dir, frontend, speed)
    cache.mkdir(parents=True, exist_ok=True)
    out, audio = [], None
    for v in range(variants):
        path = cache / f"{clip_id}.v{v}.npy"
        if path.is_file():
            feats = np.load(path)
            if feats.shape == (n_frames, frontend.dim):
                out.append(feats)
                continue
        if audio is None:
            audio = load_audio(dataset_dir / "clips" / f"{clip_id}.wav", allow_empty=True)
            audio = speed_perturb_audio(audio, speed)
        feats = frontend(augment_audio(audio, v, zlib.crc32(clip_id.encode())), n_frames, 25.0).astype(np.float32)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")  # parallel trainings may fill one cache
        np.save(tmp, feats)
        tmp.replace(path)
        out.append(feats)
    return out


def load_clip(dataset_dir: Path, row: dict, frontend=None, variants: int = 1, speed: float = 1.0) -> Clip:
    """One prepared clip as displacement targets (+ audio features when a front-end is given),
    speed-perturbed by ``speed`` (targets and audio alike)."""
    prepared = PreparedClip.load(dataset_dir / "clips" / f"{row['clip_id']}.npz", pixels=False)
    # copies: the clip's arrays are read-only, these are edited by augmentation
    dense, head_pose, torso = (getattr(prepared.animation, k).astype(np.float32) for k in ("dense", "head_pose", "torso"))
    valid, neutral = prepared.valid.copy(), prepared.neutral.astype(np.float32)
    dense, valid, head_pose, torso = (speed_perturb_frames(a, speed) for a in (dense, valid, head_pose, torso))
    good = valid if valid.any() else np.ones_like(valid)
    mean_pose = head_pose[good].mean(0)
    mean_torso = torso[good].mean(0)
    delta = dense - neutral[None]
    feats = clip_features(dataset_dir, row["clip_id"], len(dense), frontend, variants, speed) if frontend else []
    lip = delta[:, constants.lip_index()]
    return Clip(clip_id=row["clip_id"], speaker=str(row.get("speaker", row["clip_id"])), neutral=neutral,
                lip=lip, eye=delta[:, constants.eye_index()], dense=delta,
                head=head_pose - mean_pose, torso=torso - mean_torso, valid=valid, mean_pose=mean_pose,
                mean_torso=mean_torso, audio=feats, speed=speed, lip_spread=opening_spread(lip, valid))


def load_clips(dataset_dirs, split: str | None, frontend=None, variants: int = 1, min_av_corr: float | None = None,
               max_abs_lag: int | None = None, progress: bool = True, speed: float = 1.0,
               exclude: Collection[str] = ()) -> list[Clip]:
    """Every clip of ``split`` (None = all) in ``dataset_dirs``, speed-perturbed by ``speed``, minus the
    clips that duplicate one named in ``exclude`` (:func:`is_duplicate`)."""
    from tqdm import tqdm

    jobs = [(Path(d), row) for d in dataset_dirs for row in select_clips(d, split, min_av_corr, max_abs_lag)
            if not (exclude and is_duplicate(row["clip_id"], exclude))]
    desc = f"loading {split or 'all'} clips" + (f" (speed {speed:g})" if speed != 1.0 else "")
    return [load_clip(d, row, frontend, variants, speed)
            for d, row in tqdm(jobs, desc=desc, disable=not progress, unit="clip")]


def sync_filters(cfg) -> dict:
    """``load_clips`` keyword arguments that drop badly synced training clips (``cfg.min_av_corr``,
    ``cfg.max_av_lag``; -1 = off)."""
    return {"min_av_corr": None if cfg.min_av_corr <= -1 else cfg.min_av_corr,
            "max_abs_lag": None if getattr(cfg, "max_av_lag", -1) < 0 else cfg.max_av_lag}


def load_train_val(cfg, frontend, progress: bool = True) -> tuple[list[Clip], list[Clip]]:
    """The 'train' clips of ``cfg.data`` (``cfg.audio_variants`` audio versions, badly synced clips
    dropped: :func:`sync_filters`) and the 'val' clips (clean audio, all kept)."""
    filters = sync_filters(cfg)
    train = load_clips(cfg.data, "train", frontend, cfg.audio_variants, progress=progress, **filters)
    if not train:
        from kpanim.errors import KpanimError

        raise KpanimError(f"no usable training clip in {', '.join(map(str, cfg.data))}: none is in the 'train' split"
                          + (f" with A/V sync above --min-av-corr {cfg.min_av_corr:g}"
                             if filters["min_av_corr"] is not None else "")
                          + (f" and A/V lag within --max-av-lag {cfg.max_av_lag}" if filters["max_abs_lag"] is not None
                             else "")
                          + "; prepare more videos (kpanim prepare) or lower --min-av-corr")
    return train, load_clips(cfg.data, "val", frontend, 1, progress=progress)


# ----------------------------------------------------------------------------- normalisation
def compute_norm(clips: list[Clip]) -> dict[str, np.ndarray]:
    """Per-dimension mean/std of every target stream over valid frames (std floored at 5 % of the
    stream's median std so near-constant dimensions do not explode), the subject statistics, and the
    mean torso relative to the head (to place shoulders under a face that has no photo)."""
    def stats(name: str, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
        x = np.concatenate([a.reshape(len(a), -1) for a in arrays]).astype(np.float64)
        std = x.std(0)
        std = np.maximum(std, 0.05 * np.median(std) + 1e-9)
        return {f"{name}_mean": x.mean(0).astype(np.float32), f"{name}_std": std.astype(np.float32)}

    norm: dict[str, np.ndarray] = {}
    for name in ("lip", "eye", "head", "torso", "dense"):
        norm.update(stats(name, [getattr(c, name)[c.valid] for c in clips]))
    # scale-free lip targets (kpanim.nets.normalise): each clip's lips over its own opening spread
    norm.update(stats("lipz", [c.lip[c.valid] / c.lip_spread for c in clips]))
    norm["lip_spread_per_width"] = np.array([np.median([c.lip_spread / mouth_width(c.neutral) for c in clips])],
                                            np.float32)
    offsets = np.stack([c.neutral - constants.template() for c in clips]).reshape(len(clips), -1)
    norm["subject_mean"] = offsets.mean(0).astype(np.float32)
    norm["subject_std"] = np.array([max(float(offsets.std()), 1e-4)], np.float32)
    rel = np.stack([c.mean_torso - c.mean_pose[None, 3:] for c in clips])
    norm["torso_rel_head"] = rel.mean(0).astype(np.float32)
    norm["mean_head_pose"] = np.stack([c.mean_pose for c in clips]).mean(0).astype(np.float32)
    return norm


# ----------------------------------------------------------------------------- mirroring
def _subset_perm(index: np.ndarray) -> np.ndarray:
    """Permutation p within a symmetric index set: mirrored[:, k] = flip(original[:, p[k]])."""
    pos = {int(i): k for k, i in enumerate(index)}
    return np.array([pos[int(constants.mirror_index()[i])] for i in index])


FLIP = np.array([-1.0, 1.0, 1.0], np.float32)


def mirror_clip_arrays(lip, eye, dense, neutral, head, torso):
    """x-flip of one window's arrays with the left/right point swap (subject's left ↔ right)."""
    mi = constants.mirror_index()
    lip_p, eye_p = _subset_perm(constants.lip_index()), _subset_perm(constants.eye_index())
    torso_p = np.r_[np.arange(9, 18), np.arange(0, 9)]
    head = head * np.array([1, -1, -1, -1, 1, 1], np.float32)  # rotvec (x,-y,-z), translation (-x,y,z)
    return (lip[:, lip_p] * FLIP, eye[:, eye_p] * FLIP, dense[:, mi] * FLIP, neutral[mi] * FLIP, head,
            torso[:, torso_p] * FLIP)


# ----------------------------------------------------------------------------- sampling
def clip_probabilities(clips: list[Clip], speaker_balanced: bool = True) -> np.ndarray:
    """(len(clips),) window-sampling probabilities: speaker uniform, then clip ∝ its length within the
    speaker (speed-perturbed copies share their speaker); or simply ∝ length."""
    frames = np.array([c.n_frames for c in clips], np.float64)
    if not speaker_balanced:
        return frames / frames.sum()
    by_speaker: dict[str, list[int]] = {}
    for i, c in enumerate(clips):
        by_speaker.setdefault(c.speaker, []).append(i)
    p = np.zeros(len(clips))
    for idx in by_speaker.values():
        p[idx] = frames[idx] / frames[idx].sum() / len(by_speaker)
    return p / p.sum()


def mask_features(feats: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """SpecAugment-style masking of (T, D) front-end features (a copy): zero ``fraction`` of the channels
    and about ``fraction`` of the frames, in spans of 1-5 frames (the model must lean on context and
    cannot rely on any one feature channel)."""
    out = feats.copy()
    T, D = out.shape
    out[:, rng.choice(D, size=int(round(fraction * D)), replace=False)] = 0
    for _ in range(int(round(fraction * T / 3))):
        s = int(rng.integers(0, max(1, T)))
        out[s:s + int(rng.integers(1, 6))] = 0
    return out


class WindowSampler:
    """Random training windows of ``length`` frames as normalised numpy batches.

    ``mix_clips`` (e.g. a large single-speaker corpus) are drawn for a fraction ``mix_fraction`` of the
    windows (sampled among themselves by the same rule); with ``mix_fraction`` 0 they are pooled with
    ``clips`` (under speaker balancing, one more speaker). ``feature_mask`` > 0 masks the audio features
    of every window (:func:`mask_features`). ``lip_target`` "clip_z" gives the lips scale-free (each
    clip's over its own opening spread, "lipz" statistics), "raw" in metres ("lip" statistics)."""

    def __init__(self, clips: list[Clip], norm: dict[str, np.ndarray], length: int, speaker_balanced: bool = True,
                 mirror_p: float = 0.5, seed: int = 0, mix_clips: list[Clip] = (), mix_fraction: float = 0.0,
                 feature_mask: float = 0.0, lip_target: str = "raw"):
        if lip_target not in LIP_TARGETS:
            raise KpanimError(f"lip target must be one of {', '.join(LIP_TARGETS)}, got {lip_target!r}")
        self.lip_target = lip_target
        if not clips:
            raise KpanimError("no training clips: check the dataset's index.json and its 'split' column")
        if not 0.0 <= mix_fraction < 1.0:
            raise KpanimError(f"mix fraction must be in [0, 1), got {mix_fraction}")
        self.clips, self.norm, self.length, self.mirror_p = list(clips) + list(mix_clips), norm, length, mirror_p
        self.rng = np.random.default_rng(seed)
        self.feature_mask = feature_mask
        if mix_clips and mix_fraction > 0:
            self.p = np.concatenate([(1 - mix_fraction) * clip_probabilities(list(clips), speaker_balanced),
                                     mix_fraction * clip_probabilities(list(mix_clips), speaker_balanced)])
        else:
            self.p = clip_probabilities(self.clips, speaker_balanced)

    def window(self, clip: Clip, start: int, mirror: bool, variant: int) -> dict[str, np.ndarray]:
        L = self.length
        sl = slice(start, start + L)
        lip, eye, dense, neutral, head, torso = (clip.lip[sl], clip.eye[sl], clip.dense[sl], clip.neutral,
                                                 clip.head[sl], clip.torso[sl])
        if mirror:
            lip, eye, dense, neutral, head, torso = mirror_clip_arrays(lip, eye, dense, neutral, head, torso)
        n = len(lip)
        out = {name: normalise(name, arr, self.norm) for name, arr in
               (("eye", eye), ("head", head), ("torso", torso))}
        out["lip"] = (normalise("lipz", lip / clip.lip_spread, self.norm) if self.lip_target == "clip_z"
                      else normalise("lip", lip, self.norm))
        out["audio"] = clip.audio[variant][sl]
        out["valid"] = clip.valid[sl].astype(np.float32)
        if n < L:  # short clip: pad at the end (masked in attention and loss)
            for k in out:
                out[k] = np.concatenate([out[k], np.zeros((L - n, *out[k].shape[1:]), out[k].dtype)])
        out["pad"] = np.arange(L) >= n
        out["subject"] = normalise_subject(neutral, self.norm)
        return out

    def batch(self, size: int) -> dict[str, np.ndarray]:
        items = []
        for i in self.rng.choice(len(self.clips), size=size, p=self.p):
            clip = self.clips[i]
            start = int(self.rng.integers(0, max(1, clip.n_frames - self.length + 1)))
            variant = int(self.rng.integers(0, len(clip.audio)))
            items.append(self.window(clip, start, bool(self.rng.random() < self.mirror_p), variant))
            if self.feature_mask > 0:
                items[-1]["audio"] = mask_features(items[-1]["audio"], self.feature_mask, self.rng)
        return {k: np.stack([it[k] for it in items]) for k in items[0]}
