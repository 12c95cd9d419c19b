"""A prepared dataset on disk: clip ids, speaker ids, the train/val split, the index and the report.

Layout (docs/DATASET.md): ``clips/<clip_id>.npz`` (+ ``.wav``, ``.ref.png``), ``index.json`` /
``index.tsv`` and ``report.json``. The index is rebuilt from the clips' own metadata, so a dataset
grown over several ``kpanim prepare`` runs stays consistent.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np

from ..errors import KpanimError
from ..evaluation import metrics
from ..formats.animation import meta_audio_name
from ..formats.fileio import atomic_output
from .clip import TRACKING, ClipHeader, PreparedClip, read_clip_header, rewrite_clip_meta

VIDEO_EXTENSIONS = {".mp4", ".m4v", ".mov", ".mpg", ".mpeg", ".avi", ".webm", ".mkv", ".flv", ".wmv", ".ts", ".3gp"}

# Same person across files whose names don't say it (HDTF / styletalk clips, muxed copies in derived/):
# lower-cased substring of the file stem → speaker id.
KNOWN_PEOPLE = {
    "klobuchar": "hdtf-amy-klobuchar",
    "mouth_source": "hdtf-amy-klobuchar",  # EDTalk's mouth_source.mp4 is an HDTF Klobuchar crop
    "pose_source2": "hdtf-ted-lieu",
    "lieu": "hdtf-ted-lieu",
    "schiff": "hdtf-adam-schiff",
    "vanhollen": "hdtf-chris-van-hollen",
    "dorgan": "hdtf-byron-dorgan",
    "kristinoem": "kristi-noem",
    "andrew_clip": "styletalk-andrew",
    "feifeili": "feifei-li",
    "reagan": "ronald-reagan",
    "trump": "donald-trump",
    # LipNet's sample bbaf2n is GRID s1's bbaf2n (same recording: audio correlation 0.98).
    "lipnet__evaluation_samples_grid_bbaf2n": "grid-s1",
}

# (pattern on the file stem, speaker template); the first match wins. See docs/DATASET.md.
SPEAKER_RULES: tuple[tuple[str, str], ...] = (
    (r"(id\d{5})", "vox-{0}"),                                   # VoxCeleb identity
    (r"(?:^|_)([MW]\d{3})_", "mead-{0}"),                        # MEAD actor (M003, W015, ...)
    (r"(RD_Radio\d+|WDA_\w+?|WRA_\w+?)_\d+", "hdtf-{0}"),         # HDTF video name without its clip number
    (r"^LipNet__evaluation_samples", "grid-lipnet-samples"),    # GRID speakers not named: one group, no leak
    (r"(?:LRS3|dataset_examples)_([A-Za-z0-9_-]{11})_\d+_?$", "yt-{0}"),  # YouTube id of LRS3 / AVSpeech
    (r"^PC-AVS__\w+_(\d{4})\d{5}$", "vox-pcavs-{0}"),            # 9-digit VoxCeleb2 names: video id + segment
    (r"^HelloMeme__.*_(xzy)\d$", "hellomeme-{0}"),
    (r"^(.*?)_clip_?\d+(?:_short)?$", "{0}"),                    # <name>_clip1, <name>_clip_2: same person
)


def clip_id_for(path: Path) -> str:
    """File stem made safe for file names (letters, digits, ``-_.``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", path.stem).strip("._") or "clip"


def speaker_of(path: Path) -> str:
    """Speaker id from a video's file name and folder (rules in docs/DATASET.md)."""
    stem = path.stem
    low = stem.lower()
    for part in (p.lower() for p in path.parts[:-1]):
        m = re.fullmatch(r"(?:grid_)?(s\d{1,2})", part)
        if m:
            return f"grid-{m.group(1)}"
    for key, speaker in KNOWN_PEOPLE.items():
        if key in low:
            return speaker
    for pattern, template in SPEAKER_RULES:
        m = re.search(pattern, stem)
        if m:
            return template.format(*m.groups()).lower()
    return clip_id_for(path).lower()


def unique_clip_ids(paths: list[Path]) -> list[str]:
    """Clip ids for a batch: the stem, plus a short path hash when two inputs share a stem."""
    ids = [clip_id_for(p) for p in paths]
    dup = {i for i in ids if ids.count(i) > 1}
    return [f"{i}-{hashlib.sha1(str(p).encode()).hexdigest()[:6]}" if i in dup else i for i, p in zip(ids, paths)]


def _unit_hash(text: str) -> float:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16) / 2**32


def assign_split(clips: list[dict], val_fraction: float = 0.15, by: str = "speaker") -> dict[str, str]:
    """clip_id → "train" / "val".

    ``by="speaker"``: a speaker is held out when a hash of its id falls below ``val_fraction``
    (so adding clips or speakers never moves an existing speaker), with at least one validation
    speaker when there are two or more. ``by="clip"`` does the same per clip id (one-speaker sets).
    """
    if by not in ("speaker", "clip"):
        raise ValueError(f"split by 'speaker' or 'clip', got {by!r}")
    key = (lambda c: c["speaker"]) if by == "speaker" else (lambda c: c["clip_id"])
    groups = sorted({key(c) for c in clips}, key=_unit_hash)
    val = {g for g in groups if _unit_hash(g) < val_fraction}
    if not val and len(groups) >= 2 and val_fraction > 0:
        val = {groups[0]}
    return {c["clip_id"]: "val" if key(c) in val else "train" for c in clips}


def load_index(dataset_dir: str | Path, split: str | None = None) -> list[dict]:
    """The clips of a prepared dataset (index.json), optionally only one split ("train" / "val")."""
    path = Path(dataset_dir) / "index.json"
    if not path.is_file():
        raise KpanimError(f"{dataset_dir}: no index.json; prepare the dataset first (kpanim prepare VIDEOS -o DIR)")
    clips = json.loads(path.read_text())
    return [c for c in clips if split is None or c["split"] == split]


INDEX_COLUMNS = ("clip_id", "speaker", "split", "n_frames", "seconds", "valid_ratio", "src_fps", "width", "height",
                 "face_iod_px", "mouth_open_mean", "mouth_open_std", "av_lag", "av_corr", "jitter_raw", "jitter",
                 "head_rot_std_deg", "head_trans_std_mm", "blink_rate", "process_seconds", "source")


def write_index(dataset_dir: Path, clips: list[dict]) -> None:
    """index.json (list of per-clip dicts) and index.tsv (the same, one row per clip)."""
    _write_text(dataset_dir / "index.json", json.dumps(clips, indent=1, sort_keys=True) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=INDEX_COLUMNS, delimiter="\t", extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for c in clips:
        writer.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in c.items()})
    _write_text(dataset_dir / "index.tsv", buf.getvalue())


def write_json(path: Path, data) -> None:
    _write_text(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def load_clip(dataset_dir: str | Path, clip_id: str) -> dict:
    """One prepared clip: ``animation`` (Animation), its tracking arrays (``valid``, ``landmarks_px``, ``camera``,
    ``neutral``, ... as :class:`~kpanim.dataset.clip.PreparedClip` has them), ``audio`` (N,) float32 16 kHz on the
    clip's clock, and the ``reference`` image path."""
    import soundfile as sf

    clips = Path(dataset_dir) / "clips"
    clip = PreparedClip.load(clips / f"{clip_id}.npz")
    extra = {k: getattr(clip, k) for k in TRACKING if getattr(clip, k) is not None}
    audio, _ = sf.read(clips / meta_audio_name(clip.meta), dtype="float32")
    return {"animation": clip.animation, **extra, "audio": audio, "reference": clips / clip.meta["reference"]}


# ------------------------------------------------------------------- maintained by kpanim prepare
# Version of the statistics computed from a clip's own files (A/V sync, blinks); clips from an older
# kpanim get them recomputed by the next prepare run on their folder, without tracking again.
STATS_VERSION = 2


def index_row(meta: dict) -> dict:
    """A clip's row in index.json / index.tsv, from its meta."""
    keys = ("clip_id", "speaker", "split", "source", "reference_frame")
    extra = {"duplicate_of": meta["duplicate_of"]} if "duplicate_of" in meta else {}
    return {**{k: meta[k] for k in keys}, **meta["stats"], **extra}


def collect_videos(inputs: list[Path]) -> list[Path]:
    """Files as given, and every video file (by extension) under given folders, sorted."""
    out: list[Path] = []
    for p in inputs:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS)
        elif p.exists():
            out.append(p)
        else:
            raise KpanimError(f"{p}: no such file or folder; give video files or folders of videos")
    seen: set[Path] = set()
    return [p for p in out if not (p.resolve() in seen or seen.add(p.resolve()))]


def file_stamp(path: Path) -> str:
    """Size and mtime of an input file: a skipped input with the same stamp is unchanged."""
    try:
        st = path.stat()
        return f"{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return ""


def _file_stats(npz: Path, meta: dict) -> dict:
    """The statistics that need only the clip's .npz and .wav (recomputed for clips of older versions)."""
    from ..speech.audio import load_audio

    anim = PreparedClip.load(npz, pixels=False).animation
    aligned = metrics.align_to_template(anim.dense)
    env = metrics.audio_envelope(load_audio(npz.parent / meta_audio_name(meta)), anim.n_frames, anim.fps)
    lag, corr = metrics.av_sync(metrics.mouth_opening(aligned), env)
    return {"av_lag": int(lag), "av_corr": float(corr), "blink_rate": metrics.blink_rate(aligned, anim.fps),
            "stats_version": STATS_VERSION}


def previous_runs(path: Path) -> list[dict]:
    """The ``runs`` history of an existing report.json (empty if none)."""
    try:
        return list(json.loads(path.read_text()).get("runs", []))
    except (OSError, ValueError, AttributeError):
        return []


def find_duplicates(envelopes: dict[str, np.ndarray], min_corr: float = 0.99, min_frames: int = 50) -> dict[str, str]:
    """{duplicate clip id: the clip it repeats}, from the clips' loudness envelopes (T_i,) per video frame.

    Clip a repeats clip b when a's whole envelope matches some stretch of b's (normalised cross-correlation
    ≥ ``min_corr``): the same recording shipped twice, re-encoded or trimmed (public repos share demo
    videos). The longer clip (then the smaller id) is kept. Clips shorter than ``min_frames`` or without
    loudness changes are never called duplicates. Re-encoded copies score r ≥ 0.998; unrelated speech stays
    below 0.94, even GRID sentences of one speaker (same words, same rhythm) against ~1100 clips.
    """
    from scipy.signal import correlate

    ids = sorted(envelopes, key=lambda c: (-len(envelopes[c]), c))  # keepers come first
    z = {}
    for c in ids:
        e = np.asarray(envelopes[c], np.float64)
        if len(e) >= min_frames and e.std() > 1e-3:
            z[c] = e
    dup: dict[str, str] = {}
    for i, a in enumerate(ids):
        if a not in z:
            continue
        ea = (z[a] - z[a].mean()) / z[a].std()
        n = len(ea)
        for b in ids[:i]:  # only longer (or equal-length, smaller-id) clips can contain a
            if b not in z or b in dup:
                continue
            eb = z[b]
            # Pearson r of a against every length-n window of b: sliding sums for b's window stats.
            dot = correlate(eb, ea, mode="valid")  # scipy picks direct or FFT by size
            csum, csq = np.cumsum(np.r_[0.0, eb]), np.cumsum(np.r_[0.0, eb * eb])
            mean = (csum[n:] - csum[:-n]) / n
            var = np.maximum((csq[n:] - csq[:-n]) / n - mean * mean, 1e-12)
            r = dot / (n * np.sqrt(var))
            if r.max() >= min_corr:
                dup[a] = b
                break
    return dup


def _loudness_envelope(npz: Path, head: ClipHeader) -> np.ndarray:
    """(T,) dB per frame of a prepared clip's .wav, on its animation's frame clock."""
    from ..speech.audio import load_audio

    return metrics.audio_envelope(load_audio(npz.parent / meta_audio_name(head.meta)), head.n_frames, head.fps)


def finalize(out_dir: Path, val_fraction: float, split_by: str) -> list[dict]:
    """Assign the split over every clip in the folder, store it in each clip's meta, write the index.

    A clip whose audio repeats another clip's (``find_duplicates``) gets split ``"duplicate"`` (so neither
    training nor validation loads it: a clip in both would leak, one counted twice would skew the scores)
    and ``duplicate_of`` in its meta."""
    import warnings

    npzs = sorted((out_dir / "clips").glob("*.npz"))
    heads = [read_clip_header(p) for p in npzs]  # each file opened once here, again only to rewrite its meta
    metas = [h.meta for h in heads]
    dups = find_duplicates({h.meta["clip_id"]: _loudness_envelope(p, h) for p, h in zip(npzs, heads)})
    unique = [m for m in metas if m["clip_id"] not in dups]
    if split_by == "speaker" and len({m["speaker"] for m in unique}) < 2 and len(unique) >= 2:
        warnings.warn("only one speaker: splitting train/val by clip instead", stacklevel=2)
        split_by = "clip"
    split = assign_split(unique, val_fraction, split_by) | {c: "duplicate" for c in dups}
    for path, meta in zip(npzs, metas):
        stale = meta["stats"].get("stats_version") != STATS_VERSION
        if stale:
            meta["stats"].update(_file_stats(path, meta))
        if stale or meta.get("split") != split[meta["clip_id"]] or meta.get("duplicate_of") != dups.get(meta["clip_id"]):
            meta["split"] = split[meta["clip_id"]]
            meta.pop("duplicate_of", None)
            if meta["clip_id"] in dups:
                meta["duplicate_of"] = dups[meta["clip_id"]]
            rewrite_clip_meta(path, meta)
    rows = [index_row(m) for m in metas]
    write_index(out_dir, rows)
    return rows
