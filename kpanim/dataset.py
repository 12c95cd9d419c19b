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
import os
import re
import tempfile
from pathlib import Path

import numpy as np

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


def read_clip_meta(npz_path: Path) -> dict:
    with np.load(npz_path, allow_pickle=False) as z:
        return json.loads(str(z["meta"]))


def load_index(dataset_dir: str | Path, split: str | None = None) -> list[dict]:
    """The clips of a prepared dataset (index.json), optionally only one split ("train" / "val")."""
    from .errors import KpanimError

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
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
