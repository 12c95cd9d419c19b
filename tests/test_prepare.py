"""kpanim prepare on synthetic videos made here: the astronaut photo moved by known affine
transforms at 30 fps with espeak-ng speech muxed in, plus broken inputs that must be skipped."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

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
    from kpanim.tts import synthesize

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
    from kpanim.prepare import PrepareConfig, prepare_dataset

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
    from kpanim.animation import Animation

    _, out, _ = prepared
    npz = out / "clips" / "astro_talk.npz"
    anim = Animation.load(npz)
    n = round(N_SRC / FPS_SRC * 25)
    assert anim.fps == 25 and anim.n_frames == n
    assert anim.dense.shape == (n, 478, 3) and anim.torso.shape == (n, 18, 3)
    with np.load(npz) as z:
        assert z["valid"].shape == (n,) and z["valid"].all()
        assert z["landmarks_px"].shape == (n, 478, 3) and z["camera"].shape == (5,)
        assert z["neutral"].shape == (478, 3)
        assert z["camera"][3:].tolist() == [320, 320]
    meta = anim.meta
    for key in ("clip_id", "speaker", "source", "source_sha256", "src_fps", "n_frames", "duration", "audio",
                "reference", "reference_frame", "split", "kpanim_version"):
        assert key in meta, key
    assert meta["src_fps"] == pytest.approx(30) and meta["split"] in ("train", "val")
    assert (out / "clips" / meta["audio"]).is_file() and (out / "clips" / meta["reference"]).is_file()
    index = json.loads((out / "index.json").read_text())
    assert [c["clip_id"] for c in index] == ["astro_talk"] and index[0]["valid_ratio"] == 1.0
    assert (out / "index.tsv").read_text().splitlines()[0].startswith("clip_id\tspeaker\tsplit")


def test_prepare_recovers_the_known_head_roll_and_scale(prepared):
    from scipy.spatial.transform import Rotation

    from kpanim.animation import Animation

    _, out, _ = prepared
    anim = Animation.load(out / "clips" / "astro_talk.npz")
    t = np.arange(anim.n_frames) / 25.0
    t_src = np.round(t * FPS_SRC) / FPS_SRC  # nearest source frame in time
    rot = Rotation.from_rotvec(anim.head_pose[:, :3]) * Rotation.from_rotvec(anim.head_pose[0, :3]).inv()
    roll = np.degrees(rot.as_rotvec()[:, 2])
    # An image rotated counter-clockwise on screen turns the head about the camera's +Z axis.
    np.testing.assert_allclose(roll, roll_deg(t_src) - roll_deg(t_src[:1]), atol=1.0)
    # Zooming in by s brings the face s times nearer.
    depth_ratio = anim.head_pose[:, 5] / anim.head_pose[0, 5]
    np.testing.assert_allclose(depth_ratio, scale(t_src[:1]) / scale(t_src), rtol=0.02)


def test_prepared_audio_is_16k_mono_and_aligned_to_frame_zero(prepared):
    import soundfile as sf

    _, out, _ = prepared
    wav, sr = sf.read(out / "clips" / "astro_talk.wav")
    n = round(N_SRC / FPS_SRC * 25)
    assert sr == 16000 and wav.ndim == 1 and len(wav) == n * 640
    onset = np.flatnonzero(np.abs(wav) > 0.02)[0] / sr
    assert onset == pytest.approx(SPEECH_START, abs=0.03)


def test_video_frames_resampled_by_nearest_time(prepared):
    from kpanim.video import probe_video, read_video_frames

    src, _, _ = prepared
    frames = list(read_video_frames(src / "astro_talk.mp4", fps=25))
    assert len(frames) == 55 and frames[0].shape == (320, 320, 3)
    info = probe_video(src / "astro_talk.mp4")
    assert info.fps == pytest.approx(30) and info.has_audio and (info.width, info.height) == (320, 320)
    assert len(list(read_video_frames(src / "astro_talk.mp4", fps=10))) == 22


def test_prepare_resumes_and_keeps_finished_clips(prepared, tmp_path):
    from kpanim.prepare import PrepareConfig, prepare_dataset

    src, out, _ = prepared
    before = (out / "clips" / "astro_talk.npz").stat().st_mtime_ns
    report = prepare_dataset([src / "astro_talk.mp4"], out, PrepareConfig(), workers=1, progress=False)
    assert report["resumed"] == 1 and report["prepared_now"] == 0
    assert (out / "clips" / "astro_talk.npz").stat().st_mtime_ns == before


def test_prepare_cli_errors_are_one_line(tmp_path):
    from click.testing import CliRunner

    from kpanim.cli import cli

    res = CliRunner().invoke(cli, ["prepare", str(tmp_path / "missing"), "-o", str(tmp_path / "ds")])
    assert res.exit_code == 1 and "no such file or folder" in res.output and "Traceback" not in res.output
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(cli, ["prepare", str(tmp_path / "empty"), "-o", str(tmp_path / "ds")])
    assert res.exit_code == 1 and "no videos found" in res.output


def test_speaker_rules_and_split():
    from kpanim.dataset import assign_split, speaker_of, unique_clip_ids

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
    import kpanim.prepare as prep

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
