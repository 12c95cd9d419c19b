"""The warp's mouth interior: upper teeth fixed to the skull, a dark cavity, the photo's own teeth if shown."""

from __future__ import annotations

import cv2
import numpy as np
from kpanim.renderer.mouth import (
    OPEN_FULL,
    MouthFrame,
    MouthPainter,
    mouth_colours,
    mouth_gap,
    opacity,
)

from kpanim.face import constants
from kpanim.face.topology import (
    CHIN,
    INNER_LIP_LOOP,
    LEFT_EYE_LOOP,
    LOWER_INNER_LIP,
    OUTER_LIP_LOOP,
    RIGHT_EYE_LOOP,
    UPPER_INNER_LIP,
)

SIZE = 512
SKIN, LIP, WHITE = (200, 150, 120), (170, 80, 80), (235, 235, 235)


def template_face() -> np.ndarray:
    """(478, 2) the canonical face (closed mouth) in pixels of a 512² image, y down."""
    face = constants.template()[:, :2] * np.array([1.0, -1.0]) * 4000 + SIZE / 2
    mid = 0.5 * (face[list(UPPER_INNER_LIP)] + face[list(LOWER_INNER_LIP)])
    face[list(UPPER_INNER_LIP)] = mid
    face[list(LOWER_INNER_LIP)] = mid
    return face


def opened(face: np.ndarray, drop: float) -> np.ndarray:
    """The face with the lower inner lip and the chin moved down by ``drop`` mouth widths."""
    out = face.copy()
    width = np.linalg.norm(face[UPPER_INNER_LIP[-1]] - face[UPPER_INNER_LIP[0]])
    bell = np.sin(np.linspace(0, np.pi, len(LOWER_INNER_LIP)))  # corners stay, the middle drops most
    out[list(LOWER_INNER_LIP), 1] += drop * width * bell
    out[CHIN, 1] += drop * width
    return out


def portrait(face: np.ndarray, teeth: bool = False) -> np.ndarray:
    """A flat synthetic portrait: skin, red lips, white eyes (the eye whites light the teeth)."""
    img = np.full((SIZE, SIZE, 3), SKIN, np.uint8)
    pts = lambda loop: np.round(face[list(loop)] * 16).astype(np.int32)  # noqa: E731
    cv2.fillPoly(img, [pts(OUTER_LIP_LOOP)], LIP, cv2.LINE_8, 4)
    cv2.fillPoly(img, [pts(LEFT_EYE_LOOP), pts(RIGHT_EYE_LOOP)], WHITE, cv2.LINE_8, 4)
    for iris in (range(468, 473), range(473, 478)):
        c = face[iris[0]]
        r = np.linalg.norm(face[list(iris)[1:]] - c, axis=-1).mean()
        cv2.circle(img, tuple(np.round(c).astype(int)), int(r), (60, 40, 30), -1)
    if teeth:
        cv2.fillPoly(img, [pts(INNER_LIP_LOOP)], (235, 230, 210), cv2.LINE_8, 4)
    return img


def test_mouth_gap_is_zero_closed_and_grows_with_the_opening():
    assert INNER_LIP_LOOP == UPPER_INNER_LIP + LOWER_INNER_LIP[-2:0:-1]  # the sketch's loop, walked as the two lip lines
    face = template_face()
    assert mouth_gap(face) < 1e-9
    gaps = [float(mouth_gap(opened(face, d))) for d in (0.05, 0.1, 0.2)]
    assert 0 < gaps[0] < gaps[1] < gaps[2]
    assert mouth_gap(np.stack([face, opened(face, 0.1)])).shape == (2,)
    assert opacity(0.0, face) == 0.0 and opacity(0.0, opened(face, 2 * OPEN_FULL)) == 1.0


def test_colours_come_from_the_eye_whites_or_the_photos_own_teeth():
    face = template_face()
    c = mouth_colours(portrait(face), face)
    assert c.teeth_from == "eyes"
    assert np.all(np.array(c.teeth) > 180) and np.array(c.teeth)[2] < np.array(c.teeth)[0]  # warm white
    assert np.all(np.array(c.cavity) < 60)  # dark, from the lips' red
    assert c.cavity[0] > c.cavity[1]
    face_open = opened(face, 0.15)
    c = mouth_colours(portrait(face_open, teeth=True), face_open)
    assert c.teeth_from == "teeth" and np.allclose(c.teeth, (235, 230, 210), atol=3)
    assert c.photo_gap > 0.05


def test_open_mouth_gets_teeth_under_the_lip_and_a_dark_cavity_below():
    face = template_face()
    photo = portrait(face)
    painter = MouthPainter(photo, face, blur=0)
    assert painter(photo, face, face) is photo  # closed as in the photo: untouched
    dst = opened(face, 0.3)
    dst[list(UPPER_INNER_LIP), 1] -= 0.02 * np.linalg.norm(face[308] - face[78])  # the upper lip lifts a little
    out = painter(photo, dst, face)  # rest face = the photo's: the head did not move
    frame = MouthFrame(dst)
    centre_up, centre_lo = dst[13], dst[14]
    below_lip = np.round(centre_up + [0, 3]).astype(int)  # just under the upper lip: teeth
    cavity = np.round(0.5 * (centre_up + centre_lo)).astype(int)  # middle of the opening: dark
    teeth_px, cavity_px = out[below_lip[1], below_lip[0]].astype(int), out[cavity[1], cavity[0]].astype(int)
    assert teeth_px.mean() > 150, teeth_px
    assert cavity_px.mean() < 90 and cavity_px.mean() < teeth_px.mean() - 80, cavity_px
    # outside the inner lips nothing changes
    inside = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillPoly(inside, [np.round(dst[list(INNER_LIP_LOOP)] * 16).astype(np.int32)], 255, cv2.LINE_8, 4)
    outside = cv2.dilate(inside, np.ones((5, 5), np.uint8)) == 0
    assert np.array_equal(out[outside], photo[outside])
    assert frame.local(dst[UPPER_INNER_LIP[-1]])[0] > 0  # e1 points from the left corner to the right one


def test_upper_teeth_stay_with_the_skull_when_only_the_jaw_drops():
    face = template_face()
    painter = MouthPainter(portrait(face), face, blur=0)
    width = np.linalg.norm(face[308] - face[78])
    dst = opened(face, 0.2)
    dst[list(UPPER_INNER_LIP), 1] -= 0.06 * width  # the upper lip lifts: more teeth show ...
    dst2 = opened(face, 0.35)
    dst2[list(UPPER_INNER_LIP), 1] -= 0.06 * width  # ... and a wider jaw drop does not move them
    column = lambda img: img[int(dst[13, 1]):int(dst[14, 1]), int(round(dst[13, 0]))].astype(int).mean(-1)  # noqa
    a, b = column(painter(portrait(face), dst, face)), column(painter(portrait(face), dst2, face))
    top = len(a) // 2  # the upper half of the opening: upper teeth, then the cavity (lower teeth are further down)
    bright_a, bright_b = np.flatnonzero(a[:top] > 150), np.flatnonzero(b[:top] > 150)
    assert len(bright_a) >= 3 and abs(len(bright_a) - len(bright_b)) <= 1  # same band of upper teeth


def test_a_photo_that_shows_teeth_lends_them_to_the_opening_mouth():
    face = template_face()
    open_photo = opened(face, 0.12)
    photo = portrait(open_photo, teeth=True)
    painter = MouthPainter(photo, open_photo, blur=0)
    assert painter.photo is not None
    dst = opened(face, 0.4)
    out = painter(photo, dst, open_photo)
    px = np.round(dst[13] + [0, 3]).astype(int)
    assert np.abs(out[px[1], px[0]].astype(int) - (235, 230, 210)).max() < 30  # the photo's own teeth colour
