"""Mouth interior for the warp: teeth, tongue and the dark cavity of an opening mouth.

A mesh warp can only stretch what the photo shows. Inside the lips of a closed mouth the photo
shows a lip line; opened by the animation, that line is stretched into a pink smear, and a
photo's visible teeth into tall streaks. This layer paints what a real opening mouth shows,
at output resolution (sharp, before the U-Net's softer correction):

* the **upper teeth**, fixed to the skull: their incisal edge is the rest mouth's lip line (the
  subject's neutral face under this frame's head pose) a little lower (``INCISAL_SHOW``), so
  they show where the upper lip lifts above it and never move with the lip;
* the **lower teeth**, fixed to the jaw: they drop with the lower lip, which mostly covers them;
* the **tongue** behind the lower teeth and the dark **cavity** everywhere else.

Colours come from the photo (``MouthColours``): the teeth from its own visible teeth if it shows
them, else from its eye whites (lit like the face, so white balance and exposure match); the
cavity and the tongue from its lip colour. Individual teeth are drawn along the dental arch
(foreshortened toward the corners, shaded into the corners' shadow), anti-aliased, then
blurred as much as the photo was upscaled. The proportions (how much tongue and lower teeth show)
were set by comparing the layer's brightness at each depth of the opening with real open mouths
of the training clips (``benchmarks/bench_mouth_layer.py``; docs/BENCHMARKS.md has the numbers). The layer fades in as the mouth opens wider than in
the photo, so a render of the photo's own mouth is the photo.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np

from kpanim.face.topology import (
    CHIN,
    INNER_LIP_LOOP,
    LEFT_EYE_LOOP,
    LEFT_IRIS,
    LOWER_INNER_LIP,
    OUTER_LIP_LOOP,
    RIGHT_EYE_LOOP,
    RIGHT_IRIS,
    UPPER_INNER_LIP,
)

EYE_LOOPS = (RIGHT_EYE_LOOP, LEFT_EYE_LOOP)
IRISES = (RIGHT_IRIS, LEFT_IRIS)

# Geometry, in rest mouth widths (corner to corner, ≈ 50 mm on an adult)
UPPER_TEETH_HEIGHT = 0.21
"""Crown of the upper incisors (≈ 10.5 mm); above it the gum."""
LOWER_TEETH_HEIGHT = 0.17
"""Crown of the lower incisors (≈ 9 mm)."""
INCISAL_SHOW = 0.04
"""The upper incisal edge hangs this far below the rest lip line (≈ 2 mm: hidden by the lower lip at rest)."""
LOWER_TEETH_FOLLOW = 0.8
"""The lower incisal edge drops this share of the lower lip's drop below the rest lip line: the lower lip rides
on the jaw and mostly covers the lower teeth, which show as a thin band in an open mouth (20 % of its height)."""
TONGUE_RISE = 0.2
"""How far the tongue's back rises above the lower incisal edge, at the middle (in a wide-open mouth)."""
TOOTH_EDGES = (0.0, 0.33, 0.56, 0.76, 0.89, 0.99, 1.08, 1.3)
"""Boundaries of the teeth from the middle outwards (central incisor, lateral, canine, two premolars, molars),
in rest half-widths of the mouth: crown widths of 8.5, 6.5, 7.5, 7, 7, 10 mm laid along an arch and seen from
the front, so the side teeth are foreshortened."""
TEETH_MIN_GAP = 0.05
"""A photo lends its own teeth only if its mouth is open at least this much (a thinner strip would smear)."""
OPEN_START, OPEN_FULL = 0.02, 0.08
"""Opacity ramp: the layer starts when the lip gap is 0.02 mouth widths wider than the photo's and is fully drawn
at 0.08 (speech opens to ≈ 0.1-0.4)."""


def mouth_gap(face_px: np.ndarray) -> np.ndarray:
    """(…, 478, ≥2) → (…,): mean inner-lip gap over the 9 inner columns / corner-to-corner width."""
    face = np.asarray(face_px, dtype=np.float64)[..., :2]
    width = np.linalg.norm(face[..., UPPER_INNER_LIP[-1], :] - face[..., UPPER_INNER_LIP[0], :], axis=-1)
    gap = np.linalg.norm(face[..., list(UPPER_INNER_LIP[1:-1]), :] - face[..., list(LOWER_INNER_LIP[1:-1]), :], axis=-1)
    return gap.mean(-1) / np.maximum(width, 1e-9)


@dataclasses.dataclass(frozen=True)
class MouthColours:
    """One photo's mouth palette (RGB, 0-255) and its own lip gap."""

    teeth: tuple[float, float, float]
    cavity: tuple[float, float, float]
    tongue: tuple[float, float, float]
    photo_gap: float
    teeth_from: str
    """Where the teeth colour came from: "teeth" (visible in the photo), "eyes" (the eye whites) or "skin"."""


def _poly_mask(shape: tuple[int, int], *loops: np.ndarray) -> np.ndarray:
    m = np.zeros(shape, np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(p) * 16).astype(np.int32) for p in loops], 255, cv2.LINE_8, 4)
    return m > 0


LUMA = np.array([0.299, 0.587, 0.114])
"""Rec. 601 luma weights of RGB."""
SKIN_POINTS = (50, 280, 101, 330, 205, 425, 199, 6, 151, 9)
"""Cheeks, chin, nose bridge, forehead: the lit half of them is skin even under a fringe or a beard."""


def _skin_colour(img: np.ndarray, face: np.ndarray) -> np.ndarray:
    h, w = img.shape[:2]
    p = np.round(face[list(SKIN_POINTS)]).astype(int)
    p = p[(p[:, 0] >= 0) & (p[:, 0] < w) & (p[:, 1] >= 0) & (p[:, 1] < h)]
    if not len(p):
        return np.array([190.0, 150, 130])
    rgb = img[p[:, 1], p[:, 0]].astype(np.float64)
    luma = rgb @ LUMA
    return np.median(rgb[luma >= np.median(luma)], axis=0)


def _skin_lit_white(luma: float, skin: np.ndarray) -> np.ndarray:
    """RGB of a white with luma ``luma`` under the skin's light: the skin's hue, much weakened, and warm."""
    tint = (skin / max(skin.mean(), 1.0)) ** 0.3 * np.array([1.0, 0.97, 0.9])
    return luma * tint / max(float(tint @ LUMA), 1e-6)


def mouth_colours(photo: np.ndarray, face_px: np.ndarray) -> MouthColours:
    """The palette of the mouth layer from a photo (H, W, 3) uint8 RGB and its face points (478, ≥2), pixels."""
    face = np.asarray(face_px, dtype=np.float64)[:, :2]
    img = np.asarray(photo)
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32) / 255  # (OpenCV 8-bit hue is 0-180: unused)
    inner = _poly_mask(img.shape[:2], face[list(INNER_LIP_LOOP)])
    near_inner = cv2.dilate(inner.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    lips = _poly_mask(img.shape[:2], face[list(OUTER_LIP_LOOP)]) & ~near_inner
    lip = np.median(img[lips], axis=0) if lips.sum() >= 10 else np.array([170.0, 95, 90])
    skin = _skin_colour(img, face)
    # teeth the photo shows: bright, weakly saturated pixels inside the inner lips
    shown = inner & (hsv[..., 1] <= 0.4) & (hsv[..., 2] >= 0.8 * skin.max() / 255)
    if mouth_gap(face) >= TEETH_MIN_GAP and shown.sum() >= 20 and shown.sum() >= 0.2 * inner.sum():
        teeth, source = np.median(img[shown], axis=0), "teeth"
    else:
        whites = []
        for loop, iris in zip(EYE_LOOPS, IRISES):
            eye = _poly_mask(img.shape[:2], face[list(loop)])
            centre, rim = face[iris[0]], face[list(iris)[1:]]
            radius = np.linalg.norm(rim - centre, axis=-1).mean()
            ys, xs = np.nonzero(eye)  # the eye's pixels, minus the iris disc
            white = (xs - centre[0]) ** 2 + (ys - centre[1]) ** 2 > (1.15 * radius) ** 2
            if white.sum() >= 4:
                v = hsv[ys[white], xs[white], 2]
                whites.append(img[ys[white], xs[white]][v >= np.median(v)])
        whites = np.concatenate(whites) if whites else np.zeros((0, 3))
        if len(whites) >= 8:
            # the eye whites' brightness, the skin's warm tint (eye whites in photos are often bluish-grey)
            teeth, source = _skin_lit_white(1.1 * float(np.median(whites, axis=0) @ LUMA), skin), "eyes"
        else:
            teeth, source = 1.05 * (skin @ LUMA) * np.array([1.0, 0.96, 0.88]), "skin"
    # eye whites are often in the lids' shadow or tiny: teeth are lit like the skin, never much darker
    teeth = np.clip(np.maximum(teeth, _skin_lit_white(float(skin @ LUMA), skin)), 0, 245)
    cavity = np.clip(lip * np.array([0.26, 0.14, 0.15]), 8, 90)
    tongue = np.clip(lip * np.array([0.92, 0.68, 0.68]), 20, 230)
    return MouthColours(tuple(map(float, teeth)), tuple(map(float, cavity)), tuple(map(float, tongue)),
                        float(mouth_gap(face)), source)


def opacity(photo_gap: float, dst_face: np.ndarray) -> float:
    """How much of the layer a frame gets: 0 up to a gap 0.02 wider than the photo's, 1 from 0.08 wider."""
    excess = float(mouth_gap(dst_face)) - photo_gap
    return float(np.clip((excess - OPEN_START) / (OPEN_FULL - OPEN_START), 0.0, 1.0))


def _step(x: np.ndarray) -> np.ndarray:
    """Anti-aliased step: 0 for x ≤ -0.5 px, 1 for x ≥ 0.5 px."""
    return np.clip(x + 0.5, 0.0, 1.0)


def _teeth_shade(u: np.ndarray, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel (arch position ``u`` in half-widths of a mouth ``width`` px wide) → (brightness factor,
    incisal rounding in px)."""
    edges = np.asarray(TOOTH_EDGES)
    au = np.minimum(np.abs(u), edges[-1] - 1e-6)
    k = np.clip(np.searchsorted(edges, au, side="right"), 1, len(edges) - 1)
    lo, hi = edges[k - 1], edges[k]
    t = (au - lo) / (hi - lo)  # 0..1 across one tooth
    gap_px = np.minimum(au - lo, hi - au) * width / 2
    shade = 1 - 0.2 * np.exp(-(gap_px / max(0.45, 0.006 * width)) ** 2)  # the faint line between two teeth
    shade *= 1 - 0.1 * (2 * t - 1) ** 4                       # each crown rounder (darker) at its sides
    shade *= np.clip(1 - 0.3 * np.minimum(au, 1.3) ** 2, 0.45, 1)  # the arch turns away into shadow
    rounding = 0.015 * width * (2 * t - 1) ** 6                # embrasures: corners of the incisal edge
    return shade, rounding


class MouthFrame:
    """A mouth's own 2-D frame: origin between the inner-lip corners, ``e1`` along them, ``e2`` towards
    the chin. ``local`` gives (along, down) coordinates; curves of the inner lips are sampled along ``e1``."""

    def __init__(self, face: np.ndarray):
        face = np.asarray(face, dtype=np.float64)[:, :2]
        c0, c1 = face[UPPER_INNER_LIP[0]], face[UPPER_INNER_LIP[-1]]
        self.e1 = (c1 - c0) / max(float(np.linalg.norm(c1 - c0)), 1e-9)
        self.e2 = np.array([-self.e1[1], self.e1[0]])
        if np.dot(face[CHIN] - c0, self.e2) < 0:
            self.e2 = -self.e2
        self.centre = 0.5 * (c0 + c1)

    def local(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = np.asarray(p, dtype=np.float64) - self.centre
        return d @ self.e1, d @ self.e2

    def image(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local (along, down) → image (x, y)."""
        return (self.centre[0] + a * self.e1[0] + b * self.e2[0],
                self.centre[1] + a * self.e1[1] + b * self.e2[1])

    def curve(self, points: np.ndarray, a: np.ndarray) -> np.ndarray:
        """The 'down' coordinate of a polyline (K, 2) of image points under each local ``a``."""
        pa, pb = self.local(points)
        order = np.argsort(pa)
        return np.interp(a, pa[order], pb[order])


class MouthPainter:
    """Paints the mouth interior of one photo's animated frames (see the module docstring).

    Args:
        photo: (H, W, 3) uint8 RGB, in the framing of the frames to paint.
        face_px: (478, ≥2) the photo's face points, pixels.
        blur: Gaussian σ in pixels applied to the layer (≈ 0.5 × how much the photo was upscaled).
    """

    def __init__(self, photo: np.ndarray, face_px: np.ndarray, blur: float = 0.5):
        self.colours = mouth_colours(photo, face_px)
        self.blur = blur
        face = np.asarray(face_px, dtype=np.float64)[:, :2]
        # A photo that shows its teeth lends them: its upper teeth are the strip between its upper inner lip
        # and the middle of its opening, its lower teeth the strip below.
        self.photo = np.asarray(photo) if self.colours.teeth_from == "teeth" else None
        self.src = MouthFrame(face)
        self.src_upper = face[list(UPPER_INNER_LIP)]
        self.src_lower = face[list(LOWER_INNER_LIP)]
        self.src_half = 0.5 * float(np.linalg.norm(face[UPPER_INNER_LIP[-1]] - face[UPPER_INNER_LIP[0]]))

    def __call__(self, warped: np.ndarray, dst_face: np.ndarray, rest_face: np.ndarray) -> np.ndarray:
        """Draw the interior onto ``warped`` (H, W, 3) uint8 → a new image (``warped`` itself when the mouth is
        not open wider than in the photo).

        Args:
            dst_face: (478, 2) this frame's face points, pixels.
            rest_face: (478, 2) the subject's neutral face under this frame's head pose, pixels: where the
                upper teeth are (they move with the skull, not with the lip).
        """
        c = self.colours
        alpha = opacity(c.photo_gap, dst_face)
        if alpha <= 0:
            return warped
        dst = np.asarray(dst_face, dtype=np.float64)[:, :2]
        rest = np.asarray(rest_face, dtype=np.float64)[:, :2]
        h, w = warped.shape[:2]
        loop = dst[list(INNER_LIP_LOOP)]
        x0, y0 = np.maximum(np.floor(loop.min(0)).astype(int) - 3, 0)
        x1, y1 = np.minimum(np.ceil(loop.max(0)).astype(int) + 3, [w - 1, h - 1])
        if x1 - x0 < 2 or y1 - y0 < 2:
            return warped
        frame = MouthFrame(dst)
        width = float(np.linalg.norm(rest[UPPER_INNER_LIP[-1]] - rest[UPPER_INNER_LIP[0]]))
        yy, xx = np.mgrid[y0:y1 + 1, x0:x1 + 1].astype(np.float64)
        a, b = frame.local(np.stack([xx, yy], -1))
        line = frame.curve(0.5 * (rest[list(UPPER_INNER_LIP)] + rest[list(LOWER_INNER_LIP)]), a)  # rest lip line
        upper_lip = frame.curve(dst[list(UPPER_INNER_LIP)], a)
        lower_lip = frame.curve(dst[list(LOWER_INNER_LIP)], a)
        up_edge = line + INCISAL_SHOW * width
        low_edge = line + LOWER_TEETH_FOLLOW * np.maximum(lower_lip - line, 0)
        u = a / max(width / 2, 1e-6)
        shade, rounding = _teeth_shade(u, width)

        layer = np.empty(a.shape + (3,))
        # cavity: a little lighter low down, where the floor of the mouth and the tongue catch light
        depth = np.clip((b - up_edge) / max(0.25 * width, 1e-6), 0, 1)
        layer[:] = np.asarray(c.cavity) * (0.8 + 0.4 * depth)[..., None]
        # tongue: a dome behind the lower teeth; it shows as the teeth part (between nearly closed teeth the
        # gap stays dark)
        parted = np.clip((low_edge - up_edge) / max(0.2 * width, 1e-6), 0, 1)
        dome = TONGUE_RISE * width * np.clip(1 - (a / (0.45 * width)) ** 2, 0, 1) * parted
        tongue_top = low_edge - dome
        cover = _step(b - tongue_top) * (dome > 0.5) * parted
        tshade = 0.7 + 0.3 * np.clip((b - tongue_top) / max(0.1 * width, 1e-6), 0, 1)
        layer += cover[..., None] * (np.asarray(c.tongue) * tshade[..., None] - layer)
        top = up_edge - UPPER_TEETH_HEIGHT * width
        lower = _step(b - (low_edge + rounding)) * _step(low_edge + LOWER_TEETH_HEIGHT * width - b)
        upper = _step(b - top) * _step(up_edge - rounding - b)
        if self.photo is not None:
            upper_rgb, lower_rgb = self._photo_teeth(a, b, width, upper_lip, up_edge, low_edge, lower_lip)
        else:
            teeth = np.asarray(c.teeth, np.float64)
            # upper teeth darker under the lip's shadow and slightly translucent at the incisal edge
            vshade = 0.85 + 0.15 * np.clip((b - top) / max(0.5 * UPPER_TEETH_HEIGHT * width, 1e-6), 0, 1)
            vshade *= 1 - 0.08 * np.clip(1 - (up_edge - b) / max(0.03 * width, 1e-6), 0, 1)
            upper_rgb = teeth * (shade * vshade)[..., None]
            # lower teeth: in the upper teeth's shadow, gaps half as dark
            lower_rgb = teeth * (0.8 * (0.5 + 0.5 * shade))[..., None]
        layer += lower[..., None] * (lower_rgb - layer)
        layer += upper[..., None] * (upper_rgb - layer)
        layer += _step(top - b)[..., None] * (np.asarray(c.tongue) * 0.9 - layer)  # gum, under the lip
        if self.blur > 0:
            layer = cv2.GaussianBlur(layer, (0, 0), self.blur)
        mask = np.zeros(a.shape, np.uint8)
        cv2.fillPoly(mask, [np.round((loop - [x0, y0]) * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
        m = (mask.astype(np.float64) / 255 * alpha)[..., None]
        out = warped.copy()
        region = out[y0:y1 + 1, x0:x1 + 1].astype(np.float64)
        out[y0:y1 + 1, x0:x1 + 1] = np.clip(region + m * (layer - region) + 0.5, 0, 255).astype(np.uint8)
        return out

    def _photo_teeth(self, a, b, width, upper_lip, up_edge, low_edge, lower_lip):
        """The photo's own teeth, (upper, lower) RGB per pixel: each strip of the photo's opening mapped
        onto the strip of this frame where those teeth show (across: by arch position; down: proportionally)."""
        sa = a / max(width / 2, 1e-6) * self.src_half
        s_up = self.src.curve(self.src_upper, sa)
        s_lo = self.src.curve(self.src_lower, sa)
        s_mid = 0.5 * (s_up + s_lo)
        v_up = np.clip((b - upper_lip) / np.maximum(up_edge - upper_lip, 1e-6), 0, 1)
        v_lo = np.clip((b - low_edge) / np.maximum(lower_lip - low_edge, 1e-6), 0, 1)
        out = []
        for sb in (s_up + v_up * (s_mid - s_up), s_mid + v_lo * (s_lo - s_mid)):
            mx, my = self.src.image(sa, sb)
            out.append(cv2.remap(self.photo, mx.astype(np.float32), my.astype(np.float32), cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE).astype(np.float64))
        return out[0], out[1]
