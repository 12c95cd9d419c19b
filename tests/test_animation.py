import json
import zipfile

import numpy as np
import pytest

from kpanim.errors import FormatError
from kpanim.formats.animation import FORMAT_VERSION, FRAME_ARRAYS, Animation
from tests.conftest import make_animation


def test_round_trip(tmp_path, animation):
    path = animation.save(tmp_path / "a.npz")
    back = Animation.load(path)
    for name in FRAME_ARRAYS:
        assert np.array_equal(getattr(back, name), getattr(animation, name))
    assert back.fps == animation.fps and back.meta == animation.meta
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


def test_file_layout_is_plain_numpy(tmp_path, animation):
    path = animation.save(tmp_path / "a.npz")
    with np.load(path, allow_pickle=False) as z:  # a reader needs nothing but numpy
        assert int(z["format_version"]) == FORMAT_VERSION
        assert str(z["kind"]) == "animation"
        assert z["dense"].dtype == np.float32 and z["dense"].shape == (50, 478, 3)
        assert json.loads(str(z["meta"])) == {"test": True}


def _rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for k, v in changes.items():
        if v is None:
            arrays.pop(k)
        else:
            arrays[k] = v
    np.savez(path, **arrays)


@pytest.mark.parametrize("change, message", [
    ({"format_version": np.array(FORMAT_VERSION + 1)}, "newer than this kpanim reads"),
    ({"dense": None}, "missing array"),
    ({"lip": np.zeros((50, 41, 3), np.float32)}, r"'lip': expected shape \(T, 40, 3\), got \(50, 41, 3\)"),
    ({"eye": np.zeros((49, 60, 3), np.float32)}, "has 49 frames but 'lip' has 50"),
    ({"kind": np.array("subject")}, "expected a 'animation' file"),
    ({"meta": np.array("{not json")}, "not valid JSON"),
])
def test_bad_files_give_clear_errors(tmp_path, animation, change, message):
    path = animation.save(tmp_path / "a.npz")
    _rewrite(path, **change)
    with pytest.raises(FormatError, match=message):
        Animation.load(path)


def test_nan_is_refused(tmp_path, animation):
    path = animation.save(tmp_path / "a.npz")
    head = animation.head_pose.copy()
    head[3, 2] = np.nan
    _rewrite(path, head_pose=head)
    with pytest.raises(FormatError, match="'head_pose' contains NaN"):
        Animation.load(path)


def test_non_npz_and_missing_files(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip")
    with pytest.raises(FormatError, match="not a kpanim .npz file"):
        Animation.load(junk)
    with pytest.raises(FormatError, match="no such file"):
        Animation.load(tmp_path / "missing.npz")
    broken = tmp_path / "broken.npz"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("lip.npy", b"garbage")
    with pytest.raises(FormatError):
        Animation.load(broken)


def test_constructor_checks_shapes_and_fps(animation):
    with pytest.raises(FormatError, match="fps must be a positive number"):
        animation.replace(fps=0)
    with pytest.raises(FormatError, match=r"'torso': expected shape \(T, 18, 3\)"):
        animation.replace(torso=np.zeros((50, 17, 3)))
    with pytest.raises(FormatError, match="JSON-serialisable"):
        animation.replace(meta={"x": object()})
    assert not animation.dense.flags.writeable


@pytest.mark.parametrize("fps", [24, 30, 60, 12.5])
def test_resample_keeps_duration_and_motion(animation, fps):
    out = animation.resample(fps)
    assert out.fps == fps
    assert out.n_frames == round(animation.duration * fps)
    assert abs(out.duration - animation.duration) <= 1 / fps
    # where an output frame falls on an input frame's time, values agree
    for i in range(out.n_frames):
        src = i / fps * animation.fps
        if abs(src - round(src)) < 1e-9 and round(src) < animation.n_frames:
            j = round(src)
            assert np.allclose(out.dense[i], animation.dense[j], atol=1e-6)
            assert np.allclose(out.head_pose[i], animation.head_pose[j], atol=1e-6)


def test_resample_interpolates_between_frames():
    anim = make_animation(n_frames=3, fps=1.0)
    up = anim.resample(2.0)  # frames at t = 0, .5, 1, 1.5, 2, 2.5
    assert up.n_frames == 6
    assert np.allclose(up.torso[1], (anim.torso[0] + anim.torso[1]) / 2, atol=1e-6)
    from scipy.spatial.transform import Rotation, Slerp

    slerp = Slerp([0, 1], Rotation.from_rotvec(anim.head_pose[:2, :3].astype(float)))
    assert np.allclose(up.head_pose[1, :3], slerp(0.5).as_rotvec(), atol=1e-6)


def test_slicing_by_frames_and_time(animation):
    part = animation[10:20]
    assert part.n_frames == 10 and np.array_equal(part.lip, animation.lip[10:20])
    sec = animation.clip(0.4, 1.0)  # frames 10..24 at 25 fps
    assert sec.n_frames == 15 and np.array_equal(sec.dense[0], animation.dense[10])
    assert animation.clip(1.5).n_frames == 12  # frames 38..49 (t >= 1.5 s)
    with pytest.raises(TypeError):
        animation[::2]


def test_still_animation():
    from kpanim.face import constants

    still = Animation.still(constants.template(), np.zeros(6) + [0, 0, 0, 0, 0, -0.5], np.zeros((18, 3)) - 0.5, 7)
    assert still.n_frames == 7 and np.allclose(still.dense.std(0), 0, atol=1e-7)
    assert np.allclose(still.lip[0], constants.template()[constants.lip_index()])
