"""The prepared clip's contract (kpanim/dataset/clip.py): one writer, one reader, and prepare's resume check."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_animation

from kpanim.dataset.clip import (
    TRACKING,
    PreparedClip,
    fill_neutral,
    read_clip_header,
    read_clip_meta,
    rewrite_clip_meta,
)
from kpanim.errors import FormatError
from kpanim.evaluation.metrics import closed_mouth_neutral
from kpanim.formats.animation import Animation


def full_clip(n: int = 30) -> PreparedClip:
    """A clip with every tracking array, in the dtypes prepare computes them (float64 where it does)."""
    rng = np.random.default_rng(0)
    anim = make_animation(n).replace(meta={"clip_id": "c", "audio": "c.wav", "reference": "c.ref.png"})
    valid = np.ones(n, bool)
    valid[3] = False
    landmarks = rng.uniform(0, 320, (n, 478, 3))
    landmarks[3] = np.nan
    return PreparedClip(anim, valid=valid, neutral=anim.dense[0].astype(np.float64), landmarks_px=landmarks,
                        camera=np.array([320.0, 160, 160, 320, 320]), mean_shape=anim.dense.mean(0, dtype=np.float64),
                        torso_px=rng.uniform(0, 320, (n, 18, 2)))


def test_round_trip_keeps_every_array_in_prepares_layout(tmp_path):
    clip = full_clip()
    path = clip.save(tmp_path / "c.npz")
    back = PreparedClip.load(path)
    assert back.path == path and back.n_frames == 30 and back.meta == clip.meta
    for name in ("lip", "eye", "dense", "head_pose", "torso"):
        np.testing.assert_array_equal(getattr(back.animation, name), getattr(clip.animation, name))
    for name in TRACKING:
        np.testing.assert_array_equal(getattr(back, name), getattr(clip, name))
    with np.load(path, allow_pickle=False) as z:  # the file: the animation's members first, then the tracking arrays
        assert list(z.files) == [*clip.animation.arrays(), *TRACKING]
        assert {k: str(z[k].dtype) for k in TRACKING} == {k: np.dtype(d).name for k, (_, d) in TRACKING.items()}
    assert back.neutral.dtype == np.float64 and not back.landmarks_px.flags.writeable
    assert back.pinhole().width == 320
    assert Animation.load(path).n_frames == 30  # still a regular animation for every other command


def test_plain_animation_loads_with_every_frame_valid_and_prepares_neutral(tmp_path):
    anim = make_animation(40)
    anim.save(tmp_path / "a.npz")
    clip = PreparedClip.load(tmp_path / "a.npz")
    assert clip.valid.all() and clip.valid.shape == (40,) and clip.landmarks_px is None and clip.camera is None
    # the one fill rule is prepare's own: the closed-mouth median, so a clip reads alike with or without it
    np.testing.assert_array_equal(clip.neutral, closed_mouth_neutral(anim.dense))
    np.testing.assert_array_equal(fill_neutral(anim.dense, np.zeros(40, bool)), closed_mouth_neutral(anim.dense))
    assert clip.audio_file() is None and clip.reference_image() is None


def test_missing_array_is_a_one_line_error_naming_file_and_array(tmp_path):
    make_animation(20).save(tmp_path / "a.npz")
    with pytest.raises(FormatError) as err:
        PreparedClip.load(tmp_path / "a.npz", require=("landmarks_px", "camera"))
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "a.npz") in msg and "'landmarks_px'" in msg and "kpanim prepare" in msg
    path = full_clip().save(tmp_path / "c.npz")
    assert PreparedClip.load(path, pixels=False).landmarks_px is None  # pixel tracks left unread on request
    with pytest.raises(FormatError, match="landmarks_px"):
        PreparedClip.load(path, require=("landmarks_px",), pixels=False)


def test_wrong_shape_and_damaged_files_are_format_errors(tmp_path):
    clip = full_clip()
    arrays = clip.arrays() | {"valid": np.ones(29, bool)}
    np.savez(tmp_path / "short.npz", **arrays)
    with pytest.raises(FormatError, match=r"'valid': expected shape \(30,\), got \(29,\)"):
        PreparedClip.load(tmp_path / "short.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(FormatError, match="junk.npz"):
        PreparedClip.load(tmp_path / "junk.npz")
    with pytest.raises(FormatError, match="no such file"):
        PreparedClip.load(tmp_path / "missing.npz")


def test_meta_rewrite_keeps_every_other_member(tmp_path):
    path = full_clip().save(tmp_path / "c.npz")
    head = read_clip_header(path)
    assert (head.fps, head.n_frames, head.meta["clip_id"]) == (25.0, 30, "c")
    with np.load(path, allow_pickle=False) as z:
        before = {k: z[k] for k in z.files}
    rewrite_clip_meta(path, head.meta | {"split": "val"})
    assert read_clip_meta(path)["split"] == "val"
    with np.load(path, allow_pickle=False) as z:
        assert list(z.files) == list(before)
        for k in z.files:
            if k != "meta":
                np.testing.assert_array_equal(z[k], before[k])
        assert json.loads(str(z["meta"])) == head.meta | {"split": "val"}


def test_is_done_treats_only_missing_or_broken_clips_as_not_done(tmp_path, monkeypatch):
    from kpanim.dataset import prepare

    assert not prepare._is_done(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 half a zip")
    assert not prepare._is_done(tmp_path / "junk.npz")
    np.savez(tmp_path / "short.npz", **(full_clip().arrays() | {"neutral": np.zeros((10, 3))}))
    assert not prepare._is_done(tmp_path / "short.npz")
    good = full_clip().save(tmp_path / "good.npz")
    assert prepare._is_done(good)

    def buggy(*args, **kwargs):
        raise TypeError("a bug in the reader")

    monkeypatch.setattr(prepare.PreparedClip, "load", buggy)
    with pytest.raises(TypeError, match="a bug"):  # a bug surfaces instead of re-preparing every clip
        prepare._is_done(good)
