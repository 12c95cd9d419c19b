"""``kpanim eval``: score predicted animations against real ones, next to two baselines.

Metrics (see :mod:`kpanim.evaluation.metrics`; distances in template IOD after a similarity alignment on
stable points): LMD on the 40 lip points, LMD of the motion only, LMD-v on frame differences, MA
(mouth-region IoU), mouth-opening correlation and lag against the reference, articulation ratio,
blink rate, head rotation/translation std, jitter; with audio, the lag and correlation of the
mouth opening against the audio loudness. Baselines any model must beat: ``static`` (the
person's neutral face, still), ``loudness`` (the neutral face with the jaw opened in
proportion to the audio loudness) and, on a dataset, ``probe`` (the neutral face with the lips of a
ridge read-out from Whisper's middle layers fitted on the dataset's train split:
:mod:`kpanim.training.linear_probe`).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from ..dataset.clip import PreparedClip
from ..errors import KpanimError
from ..face import constants
from ..formats.animation import Animation
from . import metrics

BASELINES = ("static", "loudness", "probe")
LOUD_MAX_OPEN = 0.15  # IOD: the loudness baseline's widest extra jaw opening (real speech: std ≈ 0.05)
LOUD_RANGE_DB = 30.0  # loudness mapped to [0, 1] over this many dB below the clip's 95th percentile
TABLE_COLUMNS = (("lmd", "LMD", "{:.4f}"), ("lmd_motion", "LMD-m", "{:.4f}"), ("lmd_v", "LMD-v", "{:.4f}"),
                 ("ma", "MA", "{:.3f}"), ("open_corr", "corr", "{:.3f}"), ("open_lag", "lag", "{:+d}"),
                 ("articulation", "artic", "{:.2f}"), ("av_lag", "AV lag", "{:+d}"), ("av_corr", "AV corr", "{:.3f}"),
                 ("blink_rate", "blink/min", "{:.1f}"), ("head_rot_std_deg", "rot°", "{:.2f}"),
                 ("head_trans_std_mm", "trans mm", "{:.1f}"), ("jitter", "jitter", "{:.5f}"))


# ------------------------------------------------------------------------------------ the metrics
def evaluate(pred: Animation, ref: Animation, audio: np.ndarray | None = None, sample_rate: int = 16000) -> dict:
    """All metrics of one prediction against its reference (both Animations; audio (N,) on the ref's clock).

    The prediction is resampled to the reference's fps and both are cut to the shorter length.
    """
    if pred.fps != ref.fps:
        pred = pred.resample(ref.fps)
    n = min(pred.n_frames, ref.n_frames)
    if n < 3:
        raise KpanimError(f"need at least 3 frames to evaluate, got {pred.n_frames} (prediction) and "
                          f"{ref.n_frames} (reference)")
    if abs(pred.n_frames - ref.n_frames) > 2:
        warnings.warn(f"prediction has {pred.n_frames} frames, reference {ref.n_frames}; comparing the first {n}",
                      stacklevel=2)
    pred, ref = pred[:n], ref[:n]
    ap, ar = metrics.align_to_template(pred.dense), metrics.align_to_template(ref.dense)
    lips = constants.lip_index()
    op, orf = metrics.mouth_opening(ap), metrics.mouth_opening(ar)
    lag, lag_corr = metrics.lagged_correlation(op, orf)
    rot, trans = metrics.head_motion_std(pred.head_pose)
    out = {
        "frames": n, "seconds": n / ref.fps,
        "lmd": metrics.lmd(ap[:, lips], ar[:, lips]),
        "lmd_motion": metrics.lmd_motion(ap[:, lips], ar[:, lips]),
        "lmd_v": metrics.lmd_velocity(ap[:, lips], ar[:, lips]),
        "ma": metrics.mouth_area_iou(ap, ar),
        "open_corr": metrics.pearson(op, orf), "open_lag": lag, "open_lag_corr": lag_corr,
        "articulation": metrics.articulation_ratio(op, orf),
        "blink_rate": metrics.blink_rate(ap, ref.fps),
        "head_rot_std_deg": rot, "head_trans_std_mm": trans,
        "jitter": metrics.jitter(pred.dense, pred.head_pose),
    }
    if audio is not None:
        env = metrics.audio_envelope(audio, n, ref.fps, sample_rate)
        out["av_lag"], out["av_corr"] = metrics.av_sync(op, env)
    return out


def reference_stats(ref: Animation, audio: np.ndarray | None = None, sample_rate: int = 16000) -> dict:
    """The naturalness numbers of the real sequence itself (what a model should resemble)."""
    return evaluate(ref, ref, audio, sample_rate)


# ------------------------------------------------------------------------------------- baselines
def static_baseline(ref: Animation, neutral: np.ndarray) -> Animation:
    """The neutral face (478, 3) held still at the reference's median head pose and mean torso."""
    n = ref.n_frames
    pose = np.median(ref.head_pose, axis=0)
    return Animation.from_dense(np.repeat(neutral[None], n, 0), np.repeat(pose[None], n, 0),
                                np.repeat(ref.torso.mean(0, keepdims=True), n, 0), ref.fps,
                                {"model": "baseline-static"})


def loudness_baseline(ref: Animation, neutral: np.ndarray, audio: np.ndarray, sample_rate: int = 16000) -> Animation:
    """The neutral face with the lower lip and jaw moved down by ``LOUD_MAX_OPEN`` IOD × loudness.

    Loudness is the frame's RMS level mapped linearly from (95th percentile − 30 dB) → 0 to the
    95th percentile → 1, clipped; nothing is fitted to the reference motion.
    """
    env = metrics.audio_envelope(audio, ref.n_frames, ref.fps, sample_rate)
    top = np.percentile(env, 95)
    loud = np.clip((env - (top - LOUD_RANGE_DB)) / LOUD_RANGE_DB, 0.0, 1.0)
    drop = loud * LOUD_MAX_OPEN * metrics.template_iod()
    dense = np.repeat(neutral[None], ref.n_frames, 0).astype(np.float64)
    dense[:, jaw_index(neutral), 1] -= drop[:, None]
    static = static_baseline(ref, neutral)
    return Animation.from_dense(dense, static.head_pose, static.torso, ref.fps, {"model": "baseline-loudness"})


def probe_baseline(ref: Animation, neutral: np.ndarray, lips: np.ndarray) -> Animation:
    """The neutral face with the linear probe's lips (T, 40, 3 displacements), static pose."""
    dense = np.repeat(neutral[None], ref.n_frames, 0).astype(np.float64)
    n = min(len(lips), ref.n_frames)
    dense[:n, constants.lip_index()] += lips[:n]
    static = static_baseline(ref, neutral)
    return Animation.from_dense(dense, static.head_pose, static.torso, ref.fps, {"model": "baseline-probe"})


def jaw_index(neutral: np.ndarray) -> np.ndarray:
    """Points that move with the jaw: the lower lip (both contours, corners excluded) and the chin
    below it between the mouth corners, minus the stable points the alignment relies on."""
    from ..face.topology import LOWER_INNER_LIP, LOWER_OUTER_LIP, MOUTH_CORNERS

    lower = np.array(LOWER_INNER_LIP[1:-1] + LOWER_OUTER_LIP[1:-1])
    corners = neutral[list(MOUTH_CORNERS)]
    below = neutral[:, 1] < neutral[17, 1]  # under the lowest point of the lower lip
    inside = (neutral[:, 0] > corners[:, 0].min()) & (neutral[:, 0] < corners[:, 0].max())
    return np.setdiff1d(np.union1d(lower, np.flatnonzero(below & inside)), constants.stable_index())


# ----------------------------------------------------------------------------------- reading refs
def load_reference(path: Path) -> tuple[PreparedClip, Path | None]:
    """A reference animation as a prepared clip (its neutral face stored by prepare, else filled the same way:
    :class:`~kpanim.dataset.clip.PreparedClip`), and the audio its meta names, if found."""
    clip = PreparedClip.load(path)
    return clip, clip.audio_file()


def score_all(pred: Animation | None, ref: Animation, neutral: np.ndarray, audio: np.ndarray | None,
              pred_name: str = "prediction") -> dict[str, dict]:
    """Metrics of the prediction (if any), the two baselines (loudness needs audio) and the reference itself."""
    rows: dict[str, dict] = {}
    if pred is not None:
        rows[pred_name] = evaluate(pred, ref, audio)
    rows["baseline-static"] = evaluate(static_baseline(ref, neutral), ref, audio)
    if audio is not None:
        rows["baseline-loudness"] = evaluate(loudness_baseline(ref, neutral, audio), ref, audio)
    rows["reference"] = reference_stats(ref, audio)
    return rows


def format_table(rows: dict[str, dict]) -> str:
    cols = [c for c in TABLE_COLUMNS if any(c[0] in r for r in rows.values())]
    width = max(len(k) for k in rows) + 2
    head = "".join(f"{'':<{width}}" if i == 0 else "" for i in range(1)) + "".join(f"{t:>10}" for _, t, _ in cols)
    lines = [head]
    for name, r in rows.items():
        cells = []
        for key, _, fmt in cols:
            v = r.get(key)
            if v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append(f"{'-':>10}")
            else:
                cells.append(f"{(fmt.format(int(round(v))) if 'd}' in fmt else fmt.format(v)):>10}")
        lines.append(f"{name:<{width}}" + "".join(cells))
    return "\n".join(lines)


def mean_rows(per_clip: list[dict[str, dict]]) -> dict[str, dict]:
    """Frame-weighted mean of every metric over clips, per model; lags get the frame-weighted median
    instead (a low-correlation clip's lag can sit at the search border and would drag a mean)."""
    out: dict[str, dict] = {}
    names = [n for n in per_clip[0]] if per_clip else []
    for name in names:
        rows = [c[name] for c in per_clip if name in c]
        w = np.array([r["frames"] for r in rows], np.float64)
        agg = {"clips": len(rows), "frames": int(w.sum()), "seconds": float(sum(r["seconds"] for r in rows))}
        for key in rows[0]:
            if key in ("frames", "seconds"):
                continue
            vals = np.array([r.get(key, np.nan) for r in rows], np.float64)
            ok = np.isfinite(vals)
            if not ok.any():
                agg[key] = float("nan")
            elif key.endswith("_lag"):
                agg[key] = weighted_median(vals[ok], w[ok])
            else:
                agg[key] = float(np.average(vals[ok], weights=w[ok]))
        out[name] = agg
    return out


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value at which the cumulative weight first reaches half of the total. values, weights: (N,)."""
    order = np.argsort(values, kind="stable")
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, 0.5 * cum[-1])])


def plot_mouth(path: Path, rows: dict[str, tuple[np.ndarray, str]], audio: np.ndarray | None, fps: float,
               sample_rate: int = 16000, title: str = "") -> None:
    """PNG: mouth opening over time (one line per sequence) above the audio waveform."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise KpanimError("--plot needs matplotlib: pip install matplotlib") from None
    fig, axes = plt.subplots(2 if audio is not None else 1, 1, figsize=(11, 5), sharex=True, squeeze=False,
                             gridspec_kw={"height_ratios": [3, 1] if audio is not None else [1]})
    ax = axes[0, 0]
    for name, (opening, style) in rows.items():
        ax.plot(np.arange(len(opening)) / fps, opening, style, label=name, lw=1.2)
    ax.set_ylabel("mouth opening (IOD)")
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=9)
    if audio is not None:
        axw = axes[1, 0]
        axw.plot(np.arange(len(audio)) / sample_rate, audio, color="0.4", lw=0.4)
        axw.set_ylabel("audio")
    axes[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(path)


# ----------------------------------------------------------------------------------------- driver
def clip_subject(clip: PreparedClip):
    """The prepared clip as a :class:`~kpanim.tracking.subject.Subject`: its own neutral face, and the camera, head
    pose, shoulders and landmarks of its reference frame (so the model animates the same person)."""
    from ..tracking.subject import Subject

    ref = clip.animation
    i = int(ref.meta.get("reference_frame", 0))
    if clip.camera is None or clip.landmarks_px is None:  # not made by prepare: use its picture
        png = clip.reference_image()
        return str(png) if png is not None else None
    return Subject(neutral=clip.neutral.copy(), head_pose=ref.head_pose[i].astype(np.float64),
                   camera=clip.pinhole(), torso=ref.torso[i].astype(np.float64),
                   landmarks_px=clip.landmarks_px[i].astype(np.float64), image_sha256=ref.meta.get("source_sha256", ""),
                   subject_id=ref.meta.get("clip_id", clip.path.stem))


def evaluate_dataset(dataset: Path, models: tuple = (), split: str = "val", limit: int | None = None,
                     progress: bool = True, baselines: bool = True) -> dict:
    """Score ``models`` (checkpoint paths or loaded :class:`~kpanim.animate.bundle.Model` s, each run through
    kpanim.predict) and, with ``baselines``, the baselines on a prepared dataset's split. A loaded model's
    rows are named by its ``path``."""
    from tqdm import tqdm

    from ..dataset.index import load_index
    from ..speech.audio import load_audio

    clips = load_index(dataset, split)
    if not clips:
        raise KpanimError(f"{dataset}: no '{split}' clips in index.json; try --split train")
    clips = clips[:limit] if limit else clips
    from ..animate.predict import predict

    runners = [m for m in models if not isinstance(m, str) or m not in BASELINES]
    probe_lips = _lip_probe(dataset, progress) if baselines else None
    per_clip: dict[str, dict] = {}
    for c in tqdm(clips, desc="eval", unit="clip", disable=not progress):
        clip, audio_path = load_reference(dataset / "clips" / f"{c['clip_id']}.npz")
        ref, neutral = clip.animation, clip.neutral
        audio = load_audio(audio_path) if audio_path else None
        rows = score_all(None, ref, neutral, audio) if baselines else {}
        if probe_lips is not None and audio is not None:
            lips = probe_lips(c["clip_id"], ref.n_frames, neutral)
            rows["baseline-probe"] = evaluate(probe_baseline(ref, neutral, lips), ref, audio)
        if runners and audio_path is None:
            raise KpanimError(f"{dataset}: clip {c['clip_id']} has no audio file next to it (its meta names "
                              f"{ref.meta.get('audio')!r}); re-run kpanim prepare, or score the baselines only")
        for m in runners:
            out = predict(str(audio_path), subject=clip_subject(clip), model=m, seed=0,
                          check_speech=False)  # known speech: the no-speech check would only cost time
            pred = out if isinstance(out, Animation) else Animation.load(out)
            rows = {m if isinstance(m, str) else m.path: evaluate(pred, ref, audio), **rows}
        per_clip[c["clip_id"]] = rows
    return {"dataset": str(dataset), "split": split, "models": [m if isinstance(m, str) else m.path for m in models],
            "mean": mean_rows(list(per_clip.values())), "per_clip": per_clip}


def _lip_probe(dataset: Path, progress: bool):
    """``lips(clip_id, n_frames, neutral) → (T, 40, 3)`` of the linear probe fitted on the dataset's train
    split, or None (with a warning) when it has none."""
    from ..speech.frontends import make_frontend
    from ..training.data import clip_features
    from ..training.linear_probe import PROBE_FRONTEND, fit_lip_probe, probe_lips

    try:
        frontend, arrays = make_frontend(PROBE_FRONTEND), fit_lip_probe(dataset, progress)
    except KpanimError as e:
        warnings.warn(f"skipping the linear-probe baseline: {e}", stacklevel=2)
        return None
    return lambda clip_id, n_frames, neutral: probe_lips(
        arrays, clip_features(dataset, clip_id, n_frames, frontend, 1)[0], neutral)
