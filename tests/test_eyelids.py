"""The warp's closing lids: the lash band travels with the lid, the lid layer paints skin over the eye."""

from __future__ import annotations

import cv2
import numpy as np
from kpanim.renderer.eyelids import LOWER_LID_MARGIN, closure, lid_gap, paint_lids
from kpanim.renderer.warp import (
    EYE_CORNERS,
    LASH_MAX,
    N_LASH,
    UPPER_LID_MARGIN,
    UPPER_LID_RING,
    PiecewiseAffineWarp,
    border_anchors,
    control_points,
    lash_points,
)

from kpanim.face import constants

SIZE = 512


def template_face() -> np.ndarray:
    """(478, 2) the canonical face in pixels of a 512² image, y down (IOD ≈ 250 px)."""
    return constants.template()[:, :2] * np.array([1.0, -1.0]) * 4000 + SIZE / 2


def closed(face: np.ndarray, eye: int = 0) -> np.ndarray:
    """The face with one eye's upper lid margin put onto the lower lid."""
    out = face.copy()
    out[list(UPPER_LID_MARGIN[eye])] = out[list(LOWER_LID_MARGIN[eye])]
    return out


def test_lash_band_keeps_its_width_as_the_lid_closes():
    face = template_face()
    shut = closed(face)
    bands = [np.linalg.norm(lash_points(f)[:7] - f[list(UPPER_LID_MARGIN[0])], axis=-1) for f in (face, shut)]
    width = np.linalg.norm(face[EYE_CORNERS[0][1]] - face[EYE_CORNERS[0][0]])
    assert np.all(bands[1] <= LASH_MAX * width + 1e-9)
    assert np.all(bands[1] >= bands[0] - 1e-9)  # never shorter than at rest ...
    ring_gap = np.linalg.norm(shut[list(UPPER_LID_RING[0])] - shut[list(UPPER_LID_MARGIN[0])], axis=-1)
    assert np.all(bands[1] < 0.5 * ring_gap)  # ... but far from stretching with the lid
    assert lash_points(np.stack([face, shut])).shape == (2, N_LASH, 2)
    assert np.allclose(lash_points(np.stack([face, shut]))[1], lash_points(shut))


def test_control_points_append_the_lash_band_last():
    face = template_face()
    anchors = border_anchors(SIZE, SIZE)
    pts = control_points(face, np.zeros((18, 2)), anchors)
    assert pts.shape == (478 + 18 + len(anchors) + N_LASH, 2)
    assert np.allclose(pts[-N_LASH:], lash_points(pts[:478]))


def test_closure_is_zero_at_rest_and_one_when_the_lids_meet():
    face = template_face()
    assert np.allclose(closure(face, face), 0)
    assert np.allclose(closure(face, closed(face, 1)), [0, 1])
    assert lid_gap(np.stack([face, face])).shape == (2, 2)


def test_lid_layer_paints_skin_from_above_the_crease_over_a_closed_eye():
    face = template_face()
    image = np.full((SIZE, SIZE, 3), (200, 150, 120), np.uint8)  # skin
    eye = cv2.convexHull(np.round(face[list(UPPER_LID_RING[0]) + list(LOWER_LID_MARGIN[0])]).astype(np.int32))
    cv2.fillConvexPoly(image, eye, (20, 20, 20))  # dark lid fold, lashes and eyeball below the crease
    assert paint_lids(image, image, face, face) is image  # open eyes: untouched
    shut = closed(face)
    src = control_points(face, np.zeros((18, 2)), border_anchors(SIZE, SIZE))
    dst = control_points(shut, np.zeros((18, 2)), border_anchors(SIZE, SIZE))
    warped = PiecewiseAffineWarp(src, (SIZE, SIZE))(image, dst)
    painted = paint_lids(warped, image, face, shut)
    # the middle of the lid strip, between the lash band and the crease
    ring = shut[list(UPPER_LID_RING[0])]
    lash = lash_points(shut)[:7]
    mid = np.round(0.3 * lash + 0.7 * ring).astype(int)[1:-1]
    before = warped[mid[:, 1], mid[:, 0]].astype(int)
    after = painted[mid[:, 1], mid[:, 0]].astype(int)
    assert before.mean() < 60  # the warp stretched the dark fold over the closed eye
    assert np.abs(after - (200, 150, 120)).max() < 25  # the layer shows skin there
    assert np.array_equal(painted[:, SIZE // 2 + 20:], warped[:, SIZE // 2 + 20:])  # the open eye is untouched
