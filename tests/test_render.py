"""kpanim render: warp correctness, sketch, TPE U-Net, MP4 streams, bad input (offline, synthetic data)."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch
from click.testing import CliRunner
from kpanim.renderer.render import Rig, render
from kpanim.renderer.sketch import PART_COLORS, draw_sketch
from kpanim.renderer.unet import RendererConfig, TPEUNet, load_checkpoint, save_checkpoint, temporal_embedding
from kpanim.renderer.warp import PiecewiseAffineWarp, apply_affine, border_anchors, triangle_id_map

from kpanim.commands.cli import cli
from kpanim.errors import KpanimError
from kpanim.formats.animation import Animation

TINY = RendererConfig(size=64, base_channels=4, levels=2, max_channels=8, tpe_dim=8)


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory):
    from PIL import Image
    from skimage.data import astronaut

    from kpanim.tracking.subject import make_subject

    folder = tmp_path_factory.mktemp("portrait")
    path = folder / "astronaut.png"
    Image.fromarray(astronaut()).save(path)
    return path, make_subject(path)


def talking_animation(subject, n_frames: int = 10, fps: float = 25.0, sha: str | None = None) -> Animation:
    """Mouth opening and closing (jaw points move down) and a small head turn."""
    y = subject.neutral[:, 1]
    jaw = np.clip((subject.neutral[13, 1] - y) / 0.03, 0, 1) * (np.abs(subject.neutral[:, 0]) < 0.05)
    amp = 0.012 * np.sin(np.linspace(0, np.pi, n_frames)) ** 2
    dense = subject.neutral[None] - amp[:, None, None] * jaw[None, :, None] * np.array([0, 1, 0])
    pose = np.repeat(subject.head_pose[None], n_frames, 0)
    pose[:, 1] += 0.05 * np.sin(np.linspace(0, 2 * np.pi, n_frames))
    meta = {"subject_sha256": subject.image_sha256 if sha is None else sha}
    return Animation.from_dense(dense, pose, np.repeat(subject.torso[None], n_frames, 0), fps, meta)


def tiny_net() -> TPEUNet:
    torch.manual_seed(0)
    return TPEUNet(TINY).eval()


def streams(path: Path) -> dict:
    with av.open(str(path)) as c:
        out = {}
        for s in c.streams:
            frames = sum(1 for _ in c.decode(s)) if s.type == "video" else None
            c.seek(0)
            out[s.type] = {"codec": s.codec_context.name, "pix_fmt": getattr(s.codec_context, "pix_fmt", None),
                           "duration": float(s.duration * s.time_base), "frames": frames,
                           "size": (s.codec_context.width, s.codec_context.height) if s.type == "video" else None}
        return out


# ------------------------------------------------------------------------------------------- warp
def test_warp_matches_affine_inside_hull():
    from skimage.data import astronaut

    img = cv2.resize(astronaut(), (256, 256))
    rng = np.random.default_rng(0)
    inner = rng.uniform(50, 200, (80, 2))
    src = np.concatenate([inner, border_anchors(256, 256, margin=2)])
    m = np.array([[1.03, 0.04, 6.0], [-0.03, 0.98, -5.0]])  # known motion
    dst = src.copy()
    dst[:80] = apply_affine(m, inner)
    warp = PiecewiseAffineWarp(src, (256, 256))
    out = warp(img, dst)
    ref = cv2.warpAffine(img, m, (256, 256))
    # pixels covered by triangles of moved points only (anchor triangles interpolate towards the fixed border)
    ids = triangle_id_map(dst, warp.tris, 256, 256)
    moved = np.flatnonzero((warp.tris < 80).all(1))
    inside = cv2.erode(np.isin(ids, moved).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    err = np.abs(out.astype(float) - ref.astype(float)).max(-1)[inside]
    assert inside.sum() > 10000
    # cv2.remap and cv2.warpAffine round sub-pixel positions differently (5-bit tables): a few levels on edges
    assert err.mean() < 0.05 and np.percentile(err, 99.5) <= 2 and err.max() <= 8


def test_warp_identity_and_translation():
    img = np.random.default_rng(1).integers(0, 255, (96, 128, 3), dtype=np.uint8)
    src = np.concatenate([np.array([[40.0, 30], [90, 35], [60, 70], [70, 50]]), border_anchors(128, 96, 3, 1)])
    warp = PiecewiseAffineWarp(src, (128, 96))
    assert np.array_equal(warp(img, src), img)
    dst = src + np.array([5.0, 0.0])  # everything (anchors too) moves 5 px right
    out = warp(img, dst)
    assert np.abs(out[:, 10:120].astype(int) - img[:, 5:115].astype(int)).max() <= 1
    with pytest.raises(ValueError, match="expected"):
        warp.maps(dst[:3])


def test_sketch_colours_parts(astronaut):
    _, subject = astronaut
    face = subject.project_face()
    img = draw_sketch(face, subject.torso_px, subject.camera.width, subject.camera.height)
    assert img.shape == (subject.camera.height, subject.camera.width, 3) and img.dtype == np.uint8
    x, y = np.round(face[0]).astype(int)  # upper-lip midpoint lies on the lip line
    patch = img[y - 1:y + 2, x - 1:x + 2].reshape(-1, 3)
    assert any(np.abs(p.astype(int) - PART_COLORS["lips"]).max() < 60 for p in patch)
    assert (img.sum(-1) == 0).mean() > 0.8  # mostly black


# ------------------------------------------------------------------------------------------- U-Net
def test_unet_shapes_tpe_and_checkpoint(tmp_path):
    net = tiny_net()
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        frame, paint = net(x, x, x, torch.tensor([0, 7]))
    assert frame.shape == (2, 3, 64, 64) and paint.shape == (2, 1, 64, 64)
    assert torch.equal(frame, x)  # starts as the identity on the warped image
    tpe = temporal_embedding(torch.arange(3), 8, 50.0)
    assert tpe.shape == (3, 8) and float((tpe[1] - tpe[0]).abs().max()) < 0.2  # slow: no flicker from time
    save_checkpoint(tmp_path / "r.pt", net, {"note": "test"})
    back, extra = load_checkpoint(tmp_path / "r.pt")
    assert back.config == TINY and extra == {"paint_scope": "regions", "note": "test"}
    with torch.no_grad():
        assert torch.allclose(back(x, x, x, torch.tensor([0, 7]))[0], frame)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(KpanimError, match="not a readable renderer checkpoint"):
        load_checkpoint(tmp_path / "bad.pt")


def test_renderer_checkpoint_version_and_strict_loading(tmp_path):
    from kpanim.renderer.render import default_renderer_path
    from kpanim.renderer.unet import RENDERER_FORMAT

    save_checkpoint(tmp_path / "r.pt", tiny_net())
    ck = torch.load(tmp_path / "r.pt", weights_only=True)
    assert ck["kpanim_checkpoint"] == RENDERER_FORMAT == 1 and ck["kind"] == "kpanim-renderer"
    assert load_checkpoint(default_renderer_path())[0].config.size == 256
    old = {k: v for k, v in ck.items() if k not in ("kpanim_checkpoint", "kpanim_version")}
    torch.save(old, tmp_path / "old.pt")  # written before the marker (kpanim 0.1): read as version 0
    assert load_checkpoint(tmp_path / "old.pt")[0].config == tiny_net().config

    def damaged(name, **change):
        bad = {**ck, **change}
        for key in [k for k, v in change.items() if v is None]:
            del bad[key]
        torch.save(bad, tmp_path / name)
        return tmp_path / name

    legacy = damaged("v0.pt", kpanim_checkpoint=None)
    assert load_checkpoint(legacy)[0].config == TINY
    state = dict(ck["state_dict"])
    first = next(iter(state))
    cases = [
        (damaged("newer.pt", kpanim_checkpoint=RENDERER_FORMAT + 1), "checkpoint format 2 is newer "
         "than this kpanim reads \\(1\\); upgrade kpanim"),
        (damaged("junkver.pt", kpanim_checkpoint="x"), "checkpoint format 'x' is not a version number"),
        (damaged("kind.pt", kind="moda"), "not a kpanim renderer checkpoint"),
        (damaged("cfg.pt", config={**ck["config"], "wings": 2}), "config fields \\['wings'\\] are unknown to "
         "RendererConfig"),
        (damaged("nostate.pt", state_dict=None), "renderer checkpoint without its state_dict"),
        (damaged("missing.pt", state_dict={k: v for k, v in state.items() if k != first}),
         f"does not match the network \\(missing 1 weight\\(s\\) e.g. {first}"),
        (damaged("extra.pt", state_dict={**state, "ghost.weight": torch.zeros(1)}), "unexpected 1 e.g. ghost.weight"),
        (damaged("shape.pt", state_dict={**state, first: torch.zeros(1)}), f"shape mismatch {first}"),
    ]
    for path, message in cases:
        with pytest.raises(KpanimError, match=message) as err:
            load_checkpoint(path)
        assert "\n" not in str(err.value) and str(err.value).startswith(str(path))
    (tmp_path / "cut.pt").write_bytes((tmp_path / "r.pt").read_bytes()[:500])  # truncated
    with pytest.raises(KpanimError, match="not a readable renderer checkpoint"):
        load_checkpoint(tmp_path / "cut.pt")


# ------------------------------------------------------------------------------------------- render
def test_render_mp4_streams_and_duration(astronaut, tmp_path):
    from kpanim.speech.tts import synthesize

    photo, subject = astronaut
    anim = talking_animation(subject, n_frames=10)
    audio = synthesize("Hi")
    audio = np.pad(audio, (0, 16000))[:int(0.4 * 16000)]  # exactly the animation's 0.4 s
    from kpanim.speech.audio import save_wav

    save_wav(tmp_path / "a.wav", audio)
    stats = render(anim, photo, tmp_path / "t.mp4", audio=tmp_path / "a.wav", renderer=tiny_net(), size=128,
                   subject=subject, progress=False)
    assert stats.neural and stats.frames == 10 and not stats.retargeted
    info = streams(tmp_path / "t.mp4")
    assert info["video"]["codec"] == "h264" and info["video"]["pix_fmt"] == "yuv420p"
    assert info["video"]["size"] == (128, 128) and info["video"]["frames"] == 10
    assert info["audio"]["codec"] == "aac"
    assert abs(info["video"]["duration"] - 0.4) < 0.05 and abs(info["audio"]["duration"] - 0.4) < 0.1
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_render_warp_only_follows_mouth(astronaut, tmp_path):
    photo, subject = astronaut
    anim = talking_animation(subject, n_frames=10)
    render(anim, photo, tmp_path / "w.mp4", renderer="none", size=256, subject=subject, progress=False)
    with av.open(str(tmp_path / "w.mp4")) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    rig = Rig(np.zeros((subject.camera.height, subject.camera.width, 3), np.uint8), subject, size=256)
    chin = rig.points(subject.neutral, subject.head_pose, subject.torso)[152]
    x, y = np.round(chin).astype(int)
    # the open-mouth frame differs from the first frame around the chin, which moved down
    assert np.abs(frames[5][y - 8:y + 8, x - 8:x + 8].astype(int) - frames[0][y - 8:y + 8, x - 8:x + 8]).mean() > 2
    assert "audio" not in streams(tmp_path / "w.mp4")


def test_preview_and_full_frame(astronaut, tmp_path):
    photo, subject = astronaut
    anim = talking_animation(subject, n_frames=11)
    stats = render(anim, photo, tmp_path / "p.mp4", renderer="none", preview=True, subject=subject, progress=False)
    assert stats.frames == 3 and stats.fps == 5.0
    assert streams(tmp_path / "p.mp4")["video"]["frames"] == 3
    stats = render(anim[:2], photo, tmp_path / "f.mp4", renderer="none", full_frame=True, subject=subject,
                   progress=False)
    assert (stats.width, stats.height) == (512, 512)


def test_full_frame_of_a_huge_photo_is_scaled_to_what_players_decode(astronaut, tmp_path):
    """--full-frame keeps the photo's frame, but an H.264 stream beyond level 5.1 (36864 macroblocks)
    does not play in browsers: a 4800² photo renders at 3072², with a warning that says so."""
    import cv2
    from kpanim.renderer.render import MAX_FULL_FRAME_PIXELS, full_frame_scale

    from kpanim.tracking.subject import make_subject

    assert full_frame_scale(1920, 1080) == 1.0
    assert full_frame_scale(8000, 8000) * 8000 == pytest.approx(3072)
    assert full_frame_scale(10000, 2000) * 10000 == pytest.approx(4096)
    photo, _ = astronaut
    big = tmp_path / "big.png"
    cv2.imwrite(str(big), cv2.resize(cv2.imread(str(photo)), (4800, 4800), interpolation=cv2.INTER_LINEAR))
    subject = make_subject(big)
    anim = talking_animation(subject, n_frames=2)
    with pytest.warns(UserWarning, match="the photo is 4800x4800, more than H.264 players decode; the video is "
                                         "scaled to 3072x3072"):
        stats = render(anim, big, tmp_path / "f.mp4", renderer="none", full_frame=True, subject=subject,
                       progress=False)
    assert (stats.width, stats.height) == (3072, 3072) and stats.width * stats.height <= MAX_FULL_FRAME_PIXELS
    assert streams(tmp_path / "f.mp4")["video"]["size"] == (3072, 3072)


def test_mismatched_subject_warns_and_retargets(astronaut, tmp_path):
    photo, subject = astronaut
    anim = talking_animation(subject, n_frames=3, sha="0" * 64)
    with pytest.warns(UserWarning, match="made for another photo"):
        stats = render(anim, photo, tmp_path / "m.mp4", renderer="none", size=128, subject=subject, progress=False)
    assert stats.retargeted


def frames_of(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_render_reads_the_photo_once_and_detects_no_face_given_a_subject(astronaut, tmp_path, monkeypatch):
    """Without a Subject the photo is decoded once (make_subject gets its pixels); with a Subject object or
    a .subject.npz the face is not detected again, and the video is the same."""
    import kpanim.tracking.images as images
    import kpanim.tracking.landmarks as landmarks
    import kpanim.tracking.subject as subject_module

    photo, subject = astronaut
    anim = talking_animation(subject, n_frames=3)
    reads, original = [], images.read_image_rgb

    def counting_read(path):
        reads.append(path)
        return original(path)

    monkeypatch.setattr(images, "read_image_rgb", counting_read)
    monkeypatch.setattr(subject_module, "read_image_rgb", counting_read)
    render(anim, photo, tmp_path / "detected.mp4", renderer="none", size=128, progress=False)
    assert reads == [photo]

    def no_detection(rgb):
        raise AssertionError("the face was detected again although a Subject was given")

    monkeypatch.setattr(landmarks, "detect_faces", no_detection)
    subject_file = subject.save(tmp_path / "astronaut.subject.npz")
    render(anim, photo, tmp_path / "object.mp4", renderer="none", size=128, subject=subject, progress=False)
    render(anim, photo, tmp_path / "file.mp4", renderer="none", size=128, subject=subject_file, progress=False)
    # (a subject file keeps float32 points: its video is the one of the loaded Subject, not bit for bit the photo's)
    render(anim, photo, tmp_path / "loaded.mp4", renderer="none", size=128,
           subject=subject_module.Subject.load(subject_file), progress=False)
    assert reads == [photo] * 4
    for name, reference in (("object.mp4", "detected.mp4"), ("file.mp4", "loaded.mp4")):
        assert all(np.array_equal(a, b) for a, b in zip(frames_of(tmp_path / name), frames_of(tmp_path / reference),
                                                        strict=True))


def test_cli_subject_file_with_its_photo(astronaut, tmp_path):
    """`--subject X.subject.npz --image PHOTO` renders like `--subject PHOTO`; a subject file alone, --image
    with a photo, or the photo of another size are one-line errors."""
    photo, subject = astronaut
    anim_path = talking_animation(subject, n_frames=3).save(tmp_path / "anim.npz")
    subject_file = subject.save(tmp_path / "astronaut.subject.npz")
    base = ["render", str(anim_path), "-o", str(tmp_path / "out.mp4"), "--renderer", "none", "--size", "128"]
    result = CliRunner().invoke(cli, base + ["--subject", str(subject_file), "--image", str(photo)])
    assert result.exit_code == 0, result.output
    assert "Wrote" in result.output and streams(tmp_path / "out.mp4")["video"]["frames"] == 3
    copy = tmp_path / "copy.jpg"  # the same photo, other bytes: a warning
    cv2.imwrite(str(copy), cv2.imread(str(photo)))
    result = CliRunner().invoke(cli, base + ["--subject", str(subject_file), "--image", str(copy)])
    assert result.exit_code == 0 and "copy.jpg is not the file astronaut.subject.npz was made from" in result.output

    small = tmp_path / "small.png"
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(photo)), (256, 256)))
    cases = [(["--subject", str(subject_file)], "a subject file holds no pixels; also give the photo it was made "
                                                 "from, e.g. --image astronaut.png"),
             (["--subject", str(photo), "--image", str(photo)], "--image is only for a .subject.npz --subject"),
             (["--subject", str(subject_file), "--image", str(small)], "the photo is 256x256 but")]
    for args, expected in cases:
        (tmp_path / "out.mp4").unlink(missing_ok=True)
        result = CliRunner().invoke(cli, base + args)
        assert result.exit_code == 1, result.output
        last = result.output.strip().splitlines()[-1]
        assert last.startswith("Error:") and expected in last and "Traceback" not in result.output
        assert not (tmp_path / "out.mp4").exists()


def test_audio_arrays_are_16khz_like_predict(astronaut, tmp_path):
    """render(audio=array) takes (N,) float32 at 16 kHz, as kpanim.predict does; the AAC track is 48 kHz."""
    from kpanim.renderer.render import AUDIO_RATE, prepare_audio

    from kpanim.speech.audio import SAMPLE_RATE

    t = np.arange(int(0.4 * SAMPLE_RATE)) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    track = prepare_audio(tone, 0.4)
    assert track.dtype == np.float32 and track.shape == (int(0.4 * AUDIO_RATE),)
    spectrum = np.abs(np.fft.rfft(track))
    assert np.argmax(spectrum) * AUDIO_RATE / track.size == pytest.approx(440, abs=5)  # same pitch: resampled
    with pytest.raises(KpanimError, match="longer than the animation"):
        prepare_audio(np.zeros(int(0.4 * AUDIO_RATE), np.float32), 0.4)  # 0.4 s at 48 kHz is 1.2 s at 16 kHz

    photo, subject = astronaut
    stats = render(talking_animation(subject, n_frames=10), photo, tmp_path / "a.mp4", audio=tone,
                   renderer="none", size=128, subject=subject, progress=False)
    assert stats.frames == 10
    info = streams(tmp_path / "a.mp4")
    assert info["audio"]["codec"] == "aac" and abs(info["audio"]["duration"] - 0.4) < 0.1
    with av.open(str(tmp_path / "a.mp4")) as c:
        assert c.streams.audio[0].codec_context.sample_rate == AUDIO_RATE


@pytest.mark.parametrize("case", ["no_face", "audio_short", "audio_long", "unwritable", "bad_renderer"])
def test_bad_input_one_line_error_no_partial_file(astronaut, tmp_path, case):
    from PIL import Image

    from kpanim.speech.audio import save_wav

    photo, subject = astronaut
    anim_path = talking_animation(subject, n_frames=10).save(tmp_path / "anim.npz")
    out = tmp_path / "out.mp4"
    args = ["render", str(anim_path), "--subject", str(photo), "-o", str(out), "--renderer", "none"]
    if case == "no_face":
        Image.new("RGB", (200, 200), (30, 80, 200)).save(tmp_path / "blank.png")
        args[3] = str(tmp_path / "blank.png")
        expected = "no face found"
    elif case.startswith("audio"):
        seconds = 0.1 if case == "audio_short" else 3.0
        save_wav(tmp_path / "a.wav", np.zeros(int(seconds * 16000), np.float32))
        args += ["--audio", str(tmp_path / "a.wav")]
        expected = "shorter than the animation" if case == "audio_short" else "longer than the animation"
    elif case == "unwritable":
        args[5] = str(tmp_path / "missing" / "out.mp4")
        expected = "does not exist"
    else:
        (tmp_path / "x.pt").write_bytes(b"junk")
        args[-1] = str(tmp_path / "x.pt")
        expected = "renderer checkpoint"
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error:") and expected in last and "Traceback" not in result.output
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".mp4" or p.name.startswith(".out.mp4")]


# ------------------------------------------------------------------------------------------- training
def test_finetune_on_a_short_video(astronaut, tmp_path):
    """`kpanim train renderer --data VIDEO --out DIR` runs end to end on a synthetic talking video and writes
    DIR/renderer.pt and its log (the folder is made by the command)."""
    from kpanim.renderer.train import command

    photo, subject = astronaut
    render(talking_animation(subject, n_frames=12), photo, tmp_path / "v.mp4", renderer="none", size=256,
           subject=subject, progress=False)
    init = tmp_path / "init.pt"
    save_checkpoint(init, TPEUNet(RendererConfig(size=256, base_channels=4, levels=2, max_channels=8, tpe_dim=8)))
    result = CliRunner().invoke(command, ["--data", str(tmp_path / "v.mp4"), "--out", str(tmp_path / "run" / "me"),
                                          "--init", str(init), "--minutes", "0.02", "--pairs", "4"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "me" / "renderer.log.jsonl").is_file()
    net, extra = load_checkpoint(tmp_path / "run" / "me" / "renderer.pt")
    assert extra["pairs"] == 4 and extra["steps"] >= 1 and "face_psnr" in extra["eval_after"]["neural"]
    assert net.paint_scope == "face"  # a one-person renderer repaints the whole face crop


def test_irises_close_with_the_lids_and_stay_put_in_open_eyes():
    from kpanim.renderer.warp import EYES, iris_inside_lids

    from kpanim.face import constants

    face = constants.template()[:, :2] * np.array([1.0, -1.0]) * 4000 + 256  # pixels, y down
    (c0, c1), up, lo, iris = EYES[0]
    iris = list(iris)
    open_eye = face.copy()
    mid = 0.5 * (face[up] + face[lo])
    open_eye[iris] = mid + 0.3 * (face[iris] - face[iris].mean(0))  # a small iris inside the opening
    assert np.allclose(iris_inside_lids(open_eye)[iris], open_eye[iris])
    shut = open_eye.copy()
    shut[up] = shut[lo]  # the lids meet; the tracker left the iris where it was
    out = iris_inside_lids(np.stack([open_eye, shut]))[1]
    across = face[c1] - face[c0]
    n = np.array([-across[1], across[0]]) / np.linalg.norm(across)
    assert np.allclose((out[iris] - face[lo]) @ n, 0, atol=1e-6)  # on the lid line
    assert np.allclose((out[iris] - shut[iris]) @ across, 0, atol=1e-6)  # moved only across the eye
    assert np.array_equal(out[:468], shut[:468])  # only iris points move


def test_default_crop_stays_inside_a_tight_portrait():
    from kpanim.renderer.warp import crop_transform

    # a face filling most of a 256² photo: the 2× square would reach far past the photo's edges
    face = np.stack(np.meshgrid(np.linspace(60, 200, 22), np.linspace(50, 210, 22)), -1).reshape(-1, 2)[:478]
    free = crop_transform(face, 512)
    fitted = crop_transform(face, 512, bounds=(256, 256))
    corners = np.array([[0.0, 0], [511, 511]])
    back = lambda m: apply_affine(cv2.invertAffineTransform(m), corners)  # noqa: E731 (output corners in the photo)
    assert back(free).min() < -25 and back(free).max() > 280  # unbounded: a band of invented border
    assert back(fitted).min() >= -1 and back(fitted).max() <= 257  # bounded: the photo itself, upscaled
    # a small face in a big photo keeps the 2× framing; only the position moves where it must
    small = face * 0.25 + 10
    assert np.allclose(crop_transform(small, 512, bounds=(2000, 2000))[:, :2], crop_transform(small, 512)[:, :2])
    assert back(crop_transform(small, 512, bounds=(2000, 2000))).min() >= -1e-6
