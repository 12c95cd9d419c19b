import warnings

import numpy as np
import pytest
from PIL import Image
from skimage import data

from kpanim.errors import KpanimError, NoFaceError
from kpanim.tracking.landmarks import detect_faces
from kpanim.tracking.subject import Subject, make_subject


def test_astronaut_subject_projects_onto_mediapipe_detection(tmp_path, astronaut_png, astronaut_subject):
    subj = Subject.load(astronaut_subject.save(tmp_path / "a.subject.npz"))
    detected = detect_faces(data.astronaut())[0]
    err = np.linalg.norm(subj.project_face() - detected[:, :2], axis=-1)
    assert err.max() < 2.0, f"max reprojection error {err.max():.2f} px"
    c = subj.camera
    assert (c.width, c.height) == (512, 512)
    assert subj.image_sha256 and subj.subject_id.startswith("astronaut-")


def test_subject_is_human_scale_in_front_of_the_camera(astronaut_subject):
    s = astronaut_subject
    iod = np.linalg.norm(s.neutral[473] - s.neutral[468])
    assert 0.05 < iod < 0.08
    assert s.head_pose[5] < -0.1  # in front of the camera (looking down -Z)
    # the shoulders are below the chin in the image, 9 on each side, left side on the image right
    torso_px = s.torso_px
    chin_y = s.landmarks_px[152, 1]
    assert np.all(torso_px[:, 1] > chin_y - 0.2 * 200)
    assert np.all(torso_px[:9, 0] > s.landmarks_px[1, 0]) and np.all(torso_px[9:, 0] < s.landmarks_px[1, 0])


def test_still_animation_from_subject(astronaut_subject):
    anim = astronaut_subject.still_animation(5)
    assert anim.n_frames == 5 and anim.meta["subject_id"] == astronaut_subject.subject_id
    px = astronaut_subject.project_face(anim.dense[0], anim.head_pose[0])
    assert np.abs(px - astronaut_subject.landmarks_px[:, :2]).max() < 0.05


@pytest.mark.parametrize("mode", ["L", "RGBA", "CMYK", "P", "I;16"])
def test_image_modes_are_converted(tmp_path, mode):
    rgb = Image.fromarray(data.astronaut())
    if mode == "I;16":
        arr = (np.asarray(rgb.convert("L"), dtype=np.uint16) * 257)
        img = Image.fromarray(arr)
        assert img.mode.startswith("I;16")
    else:
        img = rgb.convert(mode)
    ext = "jpg" if mode == "CMYK" else "png"
    path = tmp_path / f"face_{mode.replace(';', '')}.{ext}"
    img.save(path)
    subj = make_subject(path)
    assert subj.camera.width == 512


def test_transparent_image_warns(tmp_path):
    rgba = np.dstack([data.astronaut(), np.full((512, 512), 255, np.uint8)])
    rgba[:20, :20, 3] = 0
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(path)
    with pytest.warns(UserWarning, match="composited on white"):
        make_subject(path)


def test_several_faces_warns_and_takes_the_largest(tmp_path):
    big = data.astronaut()
    small = np.asarray(Image.fromarray(big).resize((300, 300)))
    canvas = np.full((512, 900, 3), 200, np.uint8)
    canvas[:, :512] = big
    canvas[100:400, 560:860] = small
    path = tmp_path / "two.png"
    Image.fromarray(canvas).save(path)
    with pytest.warns(UserWarning, match="2 faces found; using the largest"):
        subj = make_subject(path)
    assert subj.landmarks_px[:, 0].max() < 512


def test_no_face_tiny_and_unreadable(tmp_path):
    blank = tmp_path / "blank.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 256, dtype=np.uint8), (256, 1))).save(blank)
    with pytest.raises(NoFaceError, match="no face found"):
        make_subject(blank)
    tiny = tmp_path / "tiny.png"
    Image.fromarray(data.astronaut()).resize((32, 32)).save(tiny)
    with pytest.raises(KpanimError, match="only 32x32 pixels"):
        make_subject(tiny)
    text = tmp_path / "notes.png"
    text.write_text("hello")
    with pytest.raises(KpanimError, match="not an image"):
        make_subject(text)
    with pytest.raises(KpanimError, match="no such image file"):
        make_subject(tmp_path / "missing.png")


def test_subject_file_errors(tmp_path, astronaut_subject, animation):
    anim_path = animation.save(tmp_path / "anim.npz")
    with pytest.raises(KpanimError, match="expected a 'subject' file"):
        Subject.load(anim_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Subject.load(astronaut_subject.save(tmp_path / "s.npz"))
