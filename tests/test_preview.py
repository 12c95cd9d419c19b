"""kpanim preview: a sketch video of the keypoints, with the audio muxed in."""

from __future__ import annotations

import numpy as np
import pytest


def face_animation(n: int = 30):
    from kpanim.face import constants
    from kpanim.formats.animation import Animation

    base = constants.template().astype(np.float64)
    pose = np.zeros((n, 6))
    pose[:, 2] = np.linspace(0, 0.2, n)  # roll
    pose[:, 5] = -0.5
    torso = np.zeros((n, 18, 3))
    torso[:, :9, 0] = np.linspace(0.05, 0.2, 9)
    torso[:, 9:, 0] = -np.linspace(0.05, 0.2, 9)
    torso[..., 1], torso[..., 2] = -0.15, -0.5
    return Animation.from_dense(np.repeat(base[None], n, 0), pose, torso, 25.0, {})


def test_preview_writes_h264_with_audio(tmp_path):
    from click.testing import CliRunner

    from kpanim.commands.cli import cli
    from kpanim.speech.audio import save_wav
    from kpanim.tracking.video import probe_video, read_video_frames

    face_animation().save(tmp_path / "a.npz")
    save_wav(tmp_path / "s.wav", (0.1 * np.sin(np.arange(19200) * 0.1)).astype(np.float32))
    res = CliRunner().invoke(cli, ["preview", str(tmp_path / "a.npz"), "-o", str(tmp_path / "p.mp4"),
                                   "--audio", str(tmp_path / "s.wav"), "--size", "256"])
    assert res.exit_code == 0, res.output
    info = probe_video(tmp_path / "p.mp4")
    assert info.has_audio and max(info.width, info.height) == 256 and info.fps == pytest.approx(25)
    frames = list(read_video_frames(tmp_path / "p.mp4"))
    assert len(frames) == 30 and frames[0].max() > 100  # something was drawn
    lips_red = (frames[0][..., 0] > 150) & (frames[0][..., 1] < 90)
    assert lips_red.sum() > 20


def test_preview_uses_a_prepared_clips_camera(tmp_path):
    from kpanim.commands.preview import project_animation

    anim = face_animation(5)
    camera = np.array([640.0, 320.0, 240.0, 640, 480])
    face, torso, wh = project_animation(anim, camera, 320)
    assert wh == (320, 240)
    # The nose tip of a face 0.5 m straight ahead lands near the image centre.
    assert np.allclose(face[0, 1], [160, 120], atol=40) and torso.shape == (5, 18, 2)


def test_preview_errors(tmp_path):
    from click.testing import CliRunner

    from kpanim.commands.cli import cli

    (tmp_path / "bad.npz").write_bytes(b"nope")
    res = CliRunner().invoke(cli, ["preview", str(tmp_path / "bad.npz")])
    assert res.exit_code == 1 and "Error:" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "bad.preview.mp4").exists()
