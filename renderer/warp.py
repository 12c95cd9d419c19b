"""Geometry stage of the renderer: warp the portrait so its keypoints follow the animation.

The control points are the 478 face-mesh points (projected with the subject's camera), the 18
shoulder points and fixed anchors on the image border. One triangulation (Delaunay of the
*source* points, i.e. the photo) is kept for the whole video, so the mesh topology never pops
between frames. Each frame, every output pixel finds its triangle in the *target* (animated)
mesh and the affine map of that triangle gives where to sample the photo (backward warp, one
``cv2.remap``). The triangle-id raster is drawn with ``cv2.fillConvexPoly``; everything per pixel
is vectorised numpy.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from scipy.spatial import Delaunay

from kpanim.face.topology import (
    LEFT_EYE_CORNERS,
    LEFT_IRIS,
    LEFT_LOWER_LID,
    LEFT_UPPER_LID,
    RIGHT_EYE_CORNERS,
    RIGHT_IRIS,
    RIGHT_LOWER_LID,
    RIGHT_UPPER_LID,
)

N_FACE = 478
N_TORSO = 18
ANCHORS_PER_SIDE = 6


def border_anchors(width: int, height: int, per_side: int = ANCHORS_PER_SIDE, margin: float = 0.0) -> np.ndarray:
    """(4 * per_side, 2) fixed points on the image border (corners included once), pixels.

    ``margin`` pushes them outwards (in pixels) so that the outermost triangles cover every pixel.
    """
    xs = np.linspace(-margin, width - 1 + margin, per_side + 1)
    ys = np.linspace(-margin, height - 1 + margin, per_side + 1)
    top = np.stack([xs[:-1], np.full(per_side, ys[0])], 1)
    right = np.stack([np.full(per_side, xs[-1]), ys[:-1]], 1)
    bottom = np.stack([xs[::-1][:-1], np.full(per_side, ys[-1])], 1)
    left = np.stack([np.full(per_side, xs[0]), ys[::-1][:-1]], 1)
    return np.concatenate([top, right, bottom, left]).astype(np.float64)


# Each eye's corners from the photo's left to its right: the subject's right eye outer → inner, left eye inner → outer
EYE_CORNERS = (RIGHT_EYE_CORNERS, LEFT_EYE_CORNERS[::-1])
# (eye corners, upper-lid centre, lower-lid centre, iris points) of the MediaPipe face mesh, per eye
EYES = ((EYE_CORNERS[0], RIGHT_UPPER_LID[3], RIGHT_LOWER_LID[3], RIGHT_IRIS),
        (EYE_CORNERS[1], LEFT_UPPER_LID[3], LEFT_LOWER_LID[3], LEFT_IRIS))


def iris_inside_lids(face_px: np.ndarray) -> np.ndarray:
    """(…, 478, 2) → the same with each iris point moved, across the eye, to lie between the lids.

    MediaPipe keeps tracking the iris while the lids close, so its points stay on the eyeball; as warp
    control points they would hold the eye open (the triangles between lid and iris keep their area).
    Clamped into the lid opening, they close with the lids, and an open eye is unchanged where the
    iris was already inside it. The offset is taken perpendicular to the corner-to-corner line, which
    stays defined when the lids meet."""
    face = np.array(face_px, dtype=np.float64)
    for (c0, c1), up, lo, iris in EYES:
        across = face[..., c1, :] - face[..., c0, :]
        n = np.stack([-across[..., 1], across[..., 0]], -1)
        n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-9)
        centre = 0.5 * (face[..., c0, :] + face[..., c1, :])
        s_up = ((face[..., up, :] - centre) * n).sum(-1)
        s_lo = ((face[..., lo, :] - centre) * n).sum(-1)
        lo_s, hi_s = np.minimum(s_up, s_lo), np.maximum(s_up, s_lo)
        idx = list(iris)
        s = ((face[..., idx, :] - centre[..., None, :]) * n[..., None, :]).sum(-1)
        shift = np.clip(s, lo_s[..., None], hi_s[..., None]) - s
        face[..., idx, :] += shift[..., None] * n[..., None, :]
    return face


# Upper-lid margin ("Upper0") and the ring of mesh points above it ("Upper1"), per eye, point for point
UPPER_LID_MARGIN = (RIGHT_UPPER_LID, LEFT_UPPER_LID)
UPPER_LID_RING = ((247, 30, 29, 27, 28, 56, 190), (467, 260, 259, 257, 258, 286, 414))
LASH_FRACTION = 0.4
"""Share of the margin→ring distance that the lash band covers (in the photo, the lashes and lid rim)."""
LASH_MAX = 0.1
"""Longest lash band, in eye widths: an open eye's band is shorter (identity at rest); a closing lid's
band keeps this length instead of stretching with the lid."""
N_LASH = 2 * len(UPPER_LID_MARGIN[0])


def lash_points(face_px: np.ndarray) -> np.ndarray:
    """(…, 478, 2) → (…, 14, 2): one point above each upper-lid margin point, bounding the lash band.

    As warp control points they make the lashes travel with the closing lid as a band of nearly fixed
    width; without them the triangles between margin and ring stretch the dark lashes into a smear,
    which the eye reads (and MediaPipe detects) as an open eye. The lid skin above the band stretches
    instead, as a real lid unfolds from under its crease. Pure function of the points, so source and
    target get the same rule: where the band is shorter than ``LASH_MAX`` the warp is unchanged."""
    face = np.asarray(face_px, dtype=np.float64)[..., :2]
    out = []
    for (c0, c1), margin, ring in zip(EYE_CORNERS, UPPER_LID_MARGIN, UPPER_LID_RING):
        width = np.linalg.norm(face[..., c1, :] - face[..., c0, :], axis=-1)[..., None, None]
        m, r = face[..., list(margin), :], face[..., list(ring), :]
        d = r - m
        length = np.maximum(np.linalg.norm(d, axis=-1, keepdims=True), 1e-9)
        band = np.minimum(LASH_FRACTION * length, LASH_MAX * width)
        out.append(m + d / length * band)
    return np.concatenate(out, axis=-2)


def control_points(face_px: np.ndarray, torso_px: np.ndarray, anchors: np.ndarray) -> np.ndarray:
    """Stack face (…, 478, 2) (irises kept inside the lids: :func:`iris_inside_lids`), shoulders (…, 18, 2),
    anchors (A, 2) and the lash band (…, 14, 2; :func:`lash_points`) → (…, 478 + 18 + A + 14, 2)."""
    face_px = np.asarray(face_px, dtype=np.float64)[..., :2]
    torso_px = np.asarray(torso_px, dtype=np.float64)[..., :2]
    if face_px.shape[-2] != N_FACE or torso_px.shape[-2] != N_TORSO:
        raise ValueError(f"expected face (..., {N_FACE}, 2) and torso (..., {N_TORSO}, 2), "
                         f"got {face_px.shape} and {torso_px.shape}")
    face_px = iris_inside_lids(face_px)
    batch = face_px.shape[:-2]
    anchors = np.broadcast_to(anchors, batch + anchors.shape)
    return np.concatenate([face_px, torso_px, anchors, lash_points(face_px)], axis=-2)


def triangulate(points: np.ndarray) -> np.ndarray:
    """Delaunay triangles (F, 3) int32 of source points (N, 2), without degenerate slivers."""
    tri = Delaunay(points).simplices.astype(np.int32)
    p = points[tri]
    area = 0.5 * np.abs((p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1])
                        - (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1]))
    return tri[area > 1e-9]


def triangle_affines(src: np.ndarray, dst: np.ndarray, tris: np.ndarray) -> np.ndarray:
    """(F, 2, 3) affine maps taking each triangle of ``dst`` (N, 2) onto the same one of ``src``.

    A degenerate target triangle (zero area) gets the translation of its first vertex.
    """
    d = dst[tris]  # (F, 3, 2)
    s = src[tris]
    dh = np.concatenate([d, np.ones(d.shape[:2] + (1,))], axis=2)  # (F, 3, 3) rows [x y 1]
    det = np.linalg.det(dh)
    ok = np.abs(det) > 1e-9
    out = np.zeros((len(tris), 2, 3))
    # solve dh @ A^T = s for A^T (3, 2): A maps [x y 1] → source (x, y)
    out[ok] = np.linalg.solve(dh[ok], s[ok]).transpose(0, 2, 1)
    out[~ok, 0, 2] = s[~ok, 0, 0] - d[~ok, 0, 0]
    out[~ok, 1, 2] = s[~ok, 0, 1] - d[~ok, 0, 1]
    out[~ok, 0, 0] = out[~ok, 1, 1] = 1.0
    return out


def triangle_id_map(dst: np.ndarray, tris: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W) int32 index of the target triangle covering each pixel (-1: none).

    Triangles are drawn with 4 bits of sub-pixel precision; where triangles overlap (a fold-over
    in the target mesh) the later one wins.
    """
    ids = np.full((height, width), -1, dtype=np.int32)
    fixed = np.round(dst[tris] * 16).astype(np.int32)  # (F, 3, 2)
    for k, poly in enumerate(fixed):
        cv2.fillConvexPoly(ids, poly, k, lineType=cv2.LINE_8, shift=4)
    return ids


@dataclasses.dataclass
class PiecewiseAffineWarp:
    """Backward piecewise-affine warp of one image with a fixed triangulation of its points.

    Args:
        src_points: (N, 2) control points in the source image (pixels).
        size: (width, height) of the output.
        tris: optional (F, 3) triangles; default Delaunay of ``src_points``.
    """

    src_points: np.ndarray
    size: tuple[int, int]
    tris: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.src_points = np.asarray(self.src_points, dtype=np.float64)
        if self.src_points.ndim != 2 or self.src_points.shape[1] != 2:
            raise ValueError(f"src_points: expected (N, 2), got {self.src_points.shape}")
        if self.tris is None:
            self.tris = triangulate(self.src_points)
        w, h = self.size
        self._grid_x, self._grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))

    def maps(self, dst_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Remap tables (map_x, map_y), each (H, W) float32, for target points (N, 2)."""
        dst = np.asarray(dst_points, dtype=np.float64)
        if dst.shape != self.src_points.shape:
            raise ValueError(f"dst_points: expected {self.src_points.shape}, got {dst.shape}")
        w, h = self.size
        aff = triangle_affines(self.src_points, dst, self.tris).astype(np.float32)
        ids = triangle_id_map(dst, self.tris, w, h)
        # Pixels no triangle covers (outside the anchors' hull) sample themselves.
        table = np.concatenate([aff.reshape(-1, 6), np.array([[1, 0, 0, 0, 1, 0]], np.float32)])
        a = table[ids]  # ids == -1 picks the identity row
        map_x = a[..., 0] * self._grid_x + a[..., 1] * self._grid_y + a[..., 2]
        map_y = a[..., 3] * self._grid_x + a[..., 4] * self._grid_y + a[..., 5]
        return map_x, map_y

    def __call__(self, image: np.ndarray, dst_points: np.ndarray) -> np.ndarray:
        """Warp ``image`` (H, W, C) so that its ``src_points`` land on ``dst_points``."""
        map_x, map_y = self.maps(dst_points)
        return cv2.remap(image, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_transform(face_px: np.ndarray, size: int, scale: float = 2.0, shift_down: float = 0.15,
                   bounds: tuple[int, int] | None = None) -> np.ndarray:
    """(2, 3) similarity taking photo pixels to a ``size``² square crop around a face (478, ≥2).

    The square's side is ``scale`` × the face's larger bounding-box side, centred on the face and
    moved down by ``shift_down`` face heights so that the neck and shoulders show. With ``bounds``
    (the photo's width, height) the square is shrunk and moved to stay inside the photo where it can
    (never tighter than 1.2 × the face): a tight portrait is shown whole instead of padded with
    invented border.
    """
    pts = np.asarray(face_px, dtype=np.float64)[:, :2]
    lo, hi = pts.min(0), pts.max(0)
    side = scale * float(max(hi - lo))
    centre = (lo + hi) / 2 + np.array([0.0, shift_down * (hi[1] - lo[1])])
    if bounds is not None:
        limits = np.asarray(bounds, dtype=np.float64)
        side = max(min(side, float(limits.min())), 1.2 * float(max(hi - lo)))
        for k in range(2):  # keep the square inside [0, limit] where it fits, else centre it on the photo
            centre[k] = (np.clip(centre[k], side / 2, limits[k] - side / 2) if side <= limits[k]
                         else limits[k] / 2)
    s = size / side
    return np.array([[s, 0, size / 2 - s * centre[0]], [0, s, size / 2 - s * centre[1]]])


def apply_affine(m: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to points (..., 2)."""
    points = np.asarray(points, dtype=np.float64)[..., :2]
    return points @ m[:, :2].T + m[:, 2]


def crop_image(image: np.ndarray, m: np.ndarray, width: int, height: int,
               interpolation: int = cv2.INTER_LINEAR) -> np.ndarray:
    """``cv2.warpAffine`` of an (H, W, 3) image by the (2, 3) map ``m`` into ``width``×``height``.

    Where the crop leaves the image (tight portraits: the face square reaches past the photo's
    edges), the repeated edge pixels are blurred (σ = size/12) with a fade from the edge: soft colour
    fields instead of streaks. (Mirroring the photo at its edge instead showed a ghost second face.)
    """
    out = cv2.warpAffine(image, m, (width, height), flags=interpolation, borderMode=cv2.BORDER_REPLICATE)
    inside = cv2.warpAffine(np.full(image.shape[:2], 255, np.uint8), m, (width, height), flags=cv2.INTER_NEAREST,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if inside.min() == 255:
        return out
    side = max(width, height)
    blurred = cv2.GaussianBlur(out, (0, 0), side / 12)
    fade = cv2.GaussianBlur(inside, (0, 0), side / 64).astype(np.float32)[..., None] / 255
    alpha = np.where(inside[..., None] == 255, 1.0, fade)  # the photo itself stays untouched
    return (alpha * out + (1 - alpha) * blurred).round().astype(np.uint8)
