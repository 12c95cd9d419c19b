"""kpanim prepare on synthetic videos made here: the astronaut photo moved by known affine
transforms at 30 fps with espeak-ng speech muxed in, plus broken inputs that must be skipped."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from kpanim.formats.fileio import file_sha256

FPS_SRC = 30
N_SRC = 66  # 2.2 s at 30 fps → 55 frames at 25 fps
SR = 16000
SPEECH_START = 0.5  # s of silence before the speech


def roll_deg(t: np.ndarray) -> np.ndarray:
    return 8.0 * np.sin(2 * np.pi * 0.6 * t)


def scale(t: np.ndarray) -> np.ndarray:
    return 1.0 + 0.12 * t / (N_SRC / FPS_SRC)


def write_video(path: Path, frames: list[np.ndarray], fps: int, audio: np.ndarray | None) -> None:
    import av

    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        vs.options = {"crf": "18", "preset": "ultrafast"}
        if audio is not None:
            ast = out.add_stream("aac", rate=SR)
            ast.layout = "mono"
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(f))
        out.mux(vs.encode(None))
        if audio is not None:
            for start in range(0, len(audio), 1024):
                af = av.AudioFrame.from_ndarray(audio[None, start:start + 1024].astype(np.float32), format="flt",
                                                layout="mono")
                af.sample_rate, af.pts, af.time_base = SR, start, Fraction(1, SR)
                out.mux(ast.encode(af))
            out.mux(ast.encode(None))


def speech(seconds: float) -> np.ndarray:
    from kpanim.speech.tts import synthesize

    voice = synthesize("Bin blue at f two now, please.", words_per_minute=190)
    audio = np.zeros(int(seconds * SR), np.float32)
    start = min(int(SPEECH_START * SR), len(audio))
    piece = voice[: len(audio) - start]
    audio[start:start + len(piece)] = piece
    return audio


def astronaut_frames(n: int, fps: int) -> list[np.ndarray]:
    import cv2
    from skimage import data

    img = cv2.resize(data.astronaut(), (320, 320), interpolation=cv2.INTER_AREA)
    centre = (150.0, 110.0)  # roughly the face
    t = np.arange(n) / fps
    return [cv2.warpAffine(img, cv2.getRotationMatrix2D(centre, float(r), float(s)), (320, 320),
                           borderMode=cv2.BORDER_REFLECT) for r, s in zip(roll_deg(t), scale(t))]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    from kpanim.dataset.prepare import PrepareConfig, prepare_dataset

    src = tmp_path_factory.mktemp("videos")
    frames = astronaut_frames(N_SRC, FPS_SRC)
    write_video(src / "astro_talk.mp4", frames, FPS_SRC, speech(N_SRC / FPS_SRC))
    write_video(src / "silent_movie.mp4", frames[:40], FPS_SRC, None)
    gray = [np.full((96, 96, 3), 128, np.uint8)] * 40
    write_video(src / "no_face.mp4", gray, 25, speech(40 / 25))
    write_video(src / "tiny.mp4", frames[:12], FPS_SRC, speech(12 / FPS_SRC))
    (src / "broken.mp4").write_bytes(np.random.default_rng(0).bytes(5000))
    out = tmp_path_factory.mktemp("dataset")
    report = prepare_dataset([src], out, PrepareConfig(), workers=2, progress=False)
    return src, out, report


def test_prepare_reports_each_bad_input_with_its_reason(prepared):
    _, out, report = prepared
    reasons = {Path(r["source"]).name: r["reason"] for r in report["skipped"]}
    assert reasons == {"broken.mp4": "broken file", "silent_movie.mp4": "no audio track",
                       "no_face.mp4": "no face", "tiny.mp4": "clip too short"}
    assert report["prepared_now"] == 1 and report["dataset"]["clips"] == 1
    assert json.loads((out / "report.json").read_text())["skipped_by_reason"]["broken file"] == 1


def test_prepared_clip_follows_the_dataset_contract(prepared):
    from kpanim.dataset.clip import TRACKING
    from kpanim.formats.animation import Animation

    _, out, _ = prepared
    npz = out / "clips" / "astro_talk.npz"
    anim = Animation.load(npz)
    n = round(N_SRC / FPS_SRC * 25)
    assert anim.fps == 25 and anim.n_frames == n
    assert anim.dense.shape == (n, 478, 3) and anim.torso.shape == (n, 18, 3)
    with np.load(npz) as z:  # the stored arrays themselves (docs/DATASET.md), not the reader's defaults
        assert z["valid"].shape == (n,) and z["valid"].all()
        assert z["landmarks_px"].shape == (n, 478, 3) and z["camera"].shape == (5,)
        assert z["neutral"].shape == (478, 3)
        assert z["camera"][3:].tolist() == [320, 320]
        assert list(z.files) == [*Animation.load(npz).arrays(), *TRACKING]  # PreparedClip's layout, in order
    meta = anim.meta
    for key in ("clip_id", "speaker", "source", "source_sha256", "src_fps", "n_frames", "duration", "audio",
                "reference", "reference_frame", "split", "kpanim_version"):
        assert key in meta, key
    assert meta["src_fps"] == pytest.approx(30) and meta["split"] in ("train", "val")
    wav = out / "clips" / meta["audio"]["path"]  # {sha256, duration, path} as docs/FORMAT.md says
    assert wav.is_file() and (out / "clips" / meta["reference"]).is_file()
    assert meta["audio"]["sha256"] == file_sha256(wav) and meta["audio"]["duration"] == pytest.approx(meta["duration"])
    index = json.loads((out / "index.json").read_text())
    assert [c["clip_id"] for c in index] == ["astro_talk"] and index[0]["valid_ratio"] == 1.0
    assert (out / "index.tsv").read_text().splitlines()[0].startswith("clip_id\tspeaker\tsplit")


def test_prepare_recovers_the_known_head_roll_and_scale(prepared):
    from scipy.spatial.transform import Rotation

    from kpanim.formats.animation import Animation

    _, out, _ = prepared
    anim = Animation.load(out / "clips" / "astro_talk.npz")
    t = np.arange(anim.n_frames) / 25.0
    t_src = np.round(t * FPS_SRC) / FPS_SRC  # nearest source frame in time
    rot = Rotation.from_rotvec(anim.head_pose[:, :3]) * Rotation.from_rotvec(anim.head_pose[0, :3]).inv()
    roll = np.degrees(rot.as_rotvec()[:, 2])
    # An image rotated counter-clockwise on screen turns the head about the camera's +Z axis.
    np.testing.assert_allclose(roll, roll_deg(t_src) - roll_deg(t_src[:1]), atol=1.0)
    # Zooming in by s brings the face s times nearer: depth ∝ 1/s (the zoom spans 12 %).
    depth = -anim.head_pose[:, 5]
    slope = np.polyfit(np.log(scale(t_src)), np.log(depth), 1)[0]
    assert slope == pytest.approx(-1.0, abs=0.1)
    assert np.ptp(depth * scale(t_src)) / np.mean(depth * scale(t_src)) < 0.03


def test_prepared_audio_is_16k_mono_and_aligned_to_frame_zero(prepared):
    import soundfile as sf

    _, out, _ = prepared
    wav, sr = sf.read(out / "clips" / "astro_talk.wav")
    n = round(N_SRC / FPS_SRC * 25)
    assert sr == 16000 and wav.ndim == 1 and len(wav) == n * 640
    onset = np.flatnonzero(np.abs(wav) > 0.02)[0] / sr
    assert onset == pytest.approx(SPEECH_START, abs=0.03)


def test_video_frames_resampled_by_nearest_time(prepared):
    from kpanim.tracking.video import probe_video, read_video_frames

    src, _, _ = prepared
    frames = list(read_video_frames(src / "astro_talk.mp4", fps=25))
    assert len(frames) == 55 and frames[0].shape == (320, 320, 3)
    info = probe_video(src / "astro_talk.mp4")
    assert info.fps == pytest.approx(30) and info.has_audio and (info.width, info.height) == (320, 320)
    assert len(list(read_video_frames(src / "astro_talk.mp4", fps=10))) == 22


def test_prepare_resumes_and_keeps_finished_clips(prepared, tmp_path):
    from kpanim.dataset.prepare import PrepareConfig, prepare_dataset

    src, out, _ = prepared
    before = (out / "clips" / "astro_talk.npz").stat().st_mtime_ns
    report = prepare_dataset([src], out, PrepareConfig(), workers=1, progress=False)
    assert report["resumed"] == 1 and report["prepared_now"] == 0
    assert report["processed_now"] == 0  # unchanged skipped inputs keep their verdict without a retry
    assert len(report["skipped"]) == 4 and report["skipped_by_reason"]["no face"] == 1
    assert (out / "clips" / "astro_talk.npz").stat().st_mtime_ns == before
    report = prepare_dataset([src / "broken.mp4"], out, PrepareConfig(), workers=1, progress=False,
                             retry_skipped=True)
    assert report["processed_now"] == 1 and report["skipped"][0]["reason"] == "broken file"


def test_prepare_cli_errors_are_one_line(tmp_path):
    from click.testing import CliRunner

    from kpanim.commands.cli import cli

    res = CliRunner().invoke(cli, ["prepare", str(tmp_path / "missing"), "-o", str(tmp_path / "ds")])
    assert res.exit_code == 1 and "no such file or folder" in res.output and "Traceback" not in res.output
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(cli, ["prepare", str(tmp_path / "empty"), "-o", str(tmp_path / "ds")])
    assert res.exit_code == 1 and "no videos found" in res.output


def test_speaker_rules_and_split():
    from kpanim.dataset.index import assign_split, speaker_of, unique_clip_ids

    assert speaker_of(Path("/d/grid_s1/bbaf2n.mp4")) == "grid-s1"
    assert speaker_of(Path("spectre__samples_MEAD_M003_level_1_happy_024.mp4")) == "mead-m003"
    assert speaker_of(Path("dreamtalk__data_style_clip_video_M003_front_sad_level3_001.mp4")) == "mead-m003"
    assert speaker_of(Path("AAAI22__id01829+LSD8i2OjJTs.mp4")) == "vox-id01829"
    assert speaker_of(Path("styletalk_muxed_andrew_clip_1.mp4")) == speaker_of(
        Path("styletalk__samples_source_video_video_andrew_clip_2.mp4"))
    assert speaker_of(Path("some_talk.mp4")) == "some_talk"
    assert unique_clip_ids([Path("a/x.mp4"), Path("b/x.mp4"), Path("c/y.mp4")])[2] == "y"
    clips = [{"clip_id": f"c{i}", "speaker": f"s{i % 20}"} for i in range(100)]
    split = assign_split(clips, 0.15, "speaker")
    by_speaker: dict[str, set] = {}
    for c in clips:
        by_speaker.setdefault(c["speaker"], set()).add(split[c["clip_id"]])
    assert all(len(v) == 1 for v in by_speaker.values())  # no speaker in both splits
    assert 1 <= sum(v == {"val"} for v in by_speaker.values()) <= 8
    assert set(assign_split(clips[:2], 0.15, "speaker").values()) == {"train", "val"}


def test_an_unexpected_error_in_one_clip_never_stops_the_batch(tmp_path, monkeypatch):
    import kpanim.dataset.prepare as prep

    def fake_prepare_clip(path, clip_id, speaker, out_dir, cfg):
        if path.name == "a.mp4":
            raise RuntimeError("decoder exploded")
        raise prep.SkipClip(prep.NO_FACE, f"{path.name}: no face")

    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"x")
    monkeypatch.setattr(prep, "prepare_clip", fake_prepare_clip)
    report = prep.prepare_dataset([tmp_path], tmp_path / "ds", workers=1, progress=False)
    reasons = {Path(r["source"]).name: (r["reason"], r["detail"]) for r in report["skipped"]}
    assert reasons["a.mp4"][0] == "unexpected error" and "decoder exploded" in reasons["a.mp4"][1]
    assert reasons["b.mp4"][0] == "no face"
    assert json.loads((tmp_path / "ds" / "index.json").read_text()) == []


def test_load_clip_gives_animation_extras_and_audio(prepared):
    from kpanim.dataset.index import load_clip, load_index

    _, out, _ = prepared
    (row,) = load_index(out)
    clip = load_clip(out, row["clip_id"])
    n = clip["animation"].n_frames
    assert clip["valid"].shape == (n,) and clip["audio"].shape == (n * 640,) and clip["reference"].is_file()


@pytest.mark.parametrize("ext,vcodec,acodec,fps", [
    ("avi", "mpeg4", "pcm_s16le", 24),
    ("mov", "libx264", "aac", 30),
    ("webm", "libvpx-vp9", "libopus", 30),
    ("mpg", "mpeg2video", "mp2", 25),
])
def test_containers_decode_to_25_fps_with_audio(tmp_path, ext, vcodec, acodec, fps):
    import av

    from kpanim.speech.audio import load_audio
    from kpanim.tracking.video import probe_video, read_video_frames

    path = tmp_path / f"clip.{ext}"
    n = fps * 2
    audio_rate = 48000 if acodec in ("libopus", "mp2") else SR
    with av.open(str(path), "w") as out:
        vs = out.add_stream(vcodec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        ast = out.add_stream(acodec, rate=audio_rate)
        ast.layout = "mono" if acodec != "mp2" else "stereo"
        for i in range(n):
            frame = np.full((48, 64, 3), (i * 5) % 256, np.uint8)
            f = av.VideoFrame.from_ndarray(frame, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(f))
        out.mux(vs.encode(None))
        tone = (0.3 * np.sin(np.arange(2 * audio_rate) * 0.05)).astype(np.float32)
        step = ast.codec_context.frame_size or 1024
        layout = "mono" if acodec != "mp2" else "stereo"
        for start in range(0, len(tone) - step + 1, step):
            chunk = tone[start:start + step][None]
            if layout == "stereo":
                chunk = np.repeat(chunk, 2, 0).reshape(1, -1)  # packed: interleaved L R
            fmt = "s16" if acodec in ("pcm_s16le", "mp2") else "fltp" if acodec in ("aac", "libopus") else "flt"
            data = (chunk * 32767).astype(np.int16) if fmt == "s16" else chunk
            af = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
            af.sample_rate, af.pts, af.time_base = audio_rate, start, Fraction(1, audio_rate)
            out.mux(ast.encode(af))
        out.mux(ast.encode(None))
    info = probe_video(path)
    assert info.has_audio and info.fps == pytest.approx(fps, rel=0.01)
    frames = list(read_video_frames(path, fps=25))
    assert len(frames) == 50 and frames[0].shape == (48, 64, 3)
    assert abs(len(load_audio(path)) - 2 * SR) < 0.1 * SR


def test_prepare_rejects_even_smoothing_windows(tmp_path):
    from click.testing import CliRunner

    from kpanim.commands.cli import cli

    (tmp_path / "v.mp4").write_bytes(b"x")
    res = CliRunner().invoke(cli, ["prepare", str(tmp_path / "v.mp4"), "-o", str(tmp_path / "ds"),
                                   "--pose-smooth-window", "4"])
    assert res.exit_code == 1 and "--pose-smooth-window must be an odd number" in res.output
    assert not (tmp_path / "ds").exists()


def test_a_clip_that_takes_too_long_is_skipped_as_timeout(tmp_path, monkeypatch):
    import time

    import kpanim.dataset.prepare as prep

    def slow_prepare_clip(path, clip_id, speaker, out_dir, cfg):
        while True:
            time.sleep(0.01)

    (tmp_path / "slow.mp4").write_bytes(b"x")
    monkeypatch.setattr(prep, "prepare_clip", slow_prepare_clip)
    t0 = time.perf_counter()
    report = prep.prepare_dataset([tmp_path / "slow.mp4"], tmp_path / "ds", prep.PrepareConfig(clip_timeout=0.3),
                                  workers=1, progress=False)
    assert report["skipped"][0]["reason"] == "timeout" and time.perf_counter() - t0 < 5


def test_align_audio_puts_audio_on_the_video_clock():
    from kpanim.dataset.prepare import align_audio

    a = np.arange(1, 101, dtype=np.float32)
    late = align_audio(a, 0.01, 2, 25, 1000)  # audio starts 10 ms after frame 0; 2 frames = 80 samples
    assert len(late) == 80 and late[:10].tolist() == [0] * 10 and late[10] == 1
    early = align_audio(a, -0.005, 4, 25, 1000)  # starts 5 ms before: drop 5 samples, pad the end
    assert len(early) == 160 and early[0] == 6 and early[94] == 100 and early[95:].max() == 0


def test_duplicate_envelopes_are_found_trimmed_or_not():
    from kpanim.dataset.index import find_duplicates

    rng = np.random.default_rng(0)
    speech_a = np.convolve(rng.normal(0, 6, 400), np.ones(3) / 3, "same") - 30  # dB per frame
    speech_b = np.convolve(rng.normal(0, 6, 300), np.ones(3) / 3, "same") - 30
    env = {"a": speech_a, "b": speech_b,
           "a_trim": speech_a[120:260] + rng.normal(0, 0.3, 140),  # re-encoded, cut out of a
           "a_short": speech_a[:30],  # too short to call
           "silence": np.full(200, -60.0)}
    assert find_duplicates(env) == {"a_trim": "a"}
    env["b_copy"] = speech_b.copy()  # same length: the smaller id is kept
    assert find_duplicates(env) == {"a_trim": "a", "b_copy": "b"}


def test_a_clip_repeated_under_another_name_is_excluded_from_both_splits(prepared, tmp_path):
    import shutil

    from kpanim.dataset.clip import read_clip_meta, rewrite_clip_meta
    from kpanim.dataset.index import finalize, load_index

    _, out, _ = prepared
    ds = tmp_path / "ds"
    shutil.copytree(out, ds)
    clips = ds / "clips"
    for ext in (".npz", ".wav", ".ref.png"):
        shutil.copy(clips / f"astro_talk{ext}", clips / f"zz_copy{ext}")
    meta = read_clip_meta(clips / "astro_talk.npz") | {"clip_id": "zz_copy", "audio": "zz_copy.wav",
                                                         "reference": "zz_copy.ref.png", "speaker": "someone-else"}
    rewrite_clip_meta(clips / "zz_copy.npz", meta)
    rows = {r["clip_id"]: r for r in finalize(ds, 0.5, "speaker")}
    assert rows["zz_copy"]["split"] == "duplicate" and rows["zz_copy"]["duplicate_of"] == "astro_talk"
    assert rows["astro_talk"]["split"] in ("train", "val") and "duplicate_of" not in rows["astro_talk"]
    assert [c["clip_id"] for c in load_index(ds, "train") + load_index(ds, "val")] == ["astro_talk"]
    assert read_clip_meta(clips / "zz_copy.npz")["duplicate_of"] == "astro_talk"
    assert "zz_copy\tsomeone-else\tduplicate" in (ds / "index.tsv").read_text()


def test_two_shards_run_concurrently_build_one_dataset(tmp_path):
    """`kpanim prepare --shard K/N`: two jobs started at once on the same inputs split the videos between
    them, write into one folder and leave one complete index and report; a shard re-run resumes."""
    import os
    import subprocess
    import sys

    from kpanim.dataset.index import unique_clip_ids
    from kpanim.dataset.prepare import shard_of

    src = tmp_path / "videos"
    src.mkdir()
    frames = astronaut_frames(40, 25)
    names = [f"talk_{i}.mp4" for i in range(6)]
    ids = unique_clip_ids([src / n for n in names])
    assert {shard_of(c, 2) for c in ids} == {1, 2}  # both shards get work
    for i, name in enumerate(names[:4]):
        write_video(src / name, frames[i:i + 36], 25, speech(36 / 25))
    (src / names[4]).write_bytes(b"not a video")
    write_video(src / names[5], [np.full((96, 96, 3), 128, np.uint8)] * 40, 25, speech(40 / 25))
    out = tmp_path / "ds"
    env = {**os.environ, "GLOG_minloglevel": "2", "TF_CPP_MIN_LOG_LEVEL": "3"}

    def start(k):
        return subprocess.Popen([sys.executable, "-m", "kpanim", "prepare", str(src), "-o", str(out), "--workers", "1",
                                 "--shard", f"{k}/2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    procs = [start(1), start(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (stdout, stderr) in zip(procs, outs):
        assert "Traceback" not in stderr, stderr
        mine = [n for n, c in zip(names, ids) if shard_of(c, 2) == int(p.args[-1][0])]
        good = [n for n in mine if n in names[:4]]
        assert p.returncode == (0 if good else 1), (stdout, stderr)
    index = json.loads((out / "index.json").read_text())
    index = index["clips"] if isinstance(index, dict) else index
    assert sorted(r["clip_id"] for r in index) == sorted(c for c in ids[:4])
    assert sorted(p.stem for p in (out / "clips").glob("*.npz")) == sorted(ids[:4])
    assert not list((out / "clips").glob(".*"))  # no temp file of either shard left
    report = json.loads((out / "report.json").read_text())
    assert report["dataset"]["clips"] == 4
    assert {Path(r["source"]).name: r["reason"] for r in report["skipped"]} == {names[4]: "broken file",
                                                                                 names[5]: "no face"}
    rerun = start(1)
    stdout, stderr = rerun.communicate(timeout=600)
    first = [n for n, c in zip(names[:4], ids) if shard_of(c, 2) == 1]
    assert rerun.returncode == 0 and f"Prepared 0 clip(s) now, {len(first)} already done" in stdout, stderr
    index = json.loads((out / "index.json").read_text())
    assert len(index["clips"] if isinstance(index, dict) else index) == 4


def test_shard_argument_is_checked(tmp_path):
    from click.testing import CliRunner

    from kpanim.commands.cli import cli

    for bad in ("3/2", "0/4", "x", "1/0", "2"):
        res = CliRunner().invoke(cli, ["prepare", str(tmp_path), "-o", str(tmp_path / "ds"), "--shard", bad])
        assert res.exit_code == 1 and "--shard must be K/N" in res.output, res.output
    assert not (tmp_path / "ds").exists()
