"""Named parts of the 478-point face mesh: lip and lid lines, closed loops, MediaPipe's part edges.

Plain tuples, so drawing code needs no mediapipe import; ``tests/test_constants.py`` checks them
against mediapipe's connection sets. Sides are the subject's (the subject's right eye is on the
left of a frontal photo). Index sets used by the networks (lip, eye streams) are in
:mod:`kpanim.face.constants`. The Blender add-on keeps copies of a few of these (it cannot import
kpanim); ``tests/test_blender_constants.py`` pins them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

# Lip lines, corner to corner (the subject's right corner 61/78 → left corner 291/308), point for point
# above each other; all 40 points are FACEMESH_LIPS.
UPPER_OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LOWER_OUTER_LIP = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
# Closed loops (20 points each): the upper line, then the lower line back to the first corner.
OUTER_LIP_LOOP = UPPER_OUTER_LIP + LOWER_OUTER_LIP[-2:0:-1]
INNER_LIP_LOOP = UPPER_INNER_LIP + LOWER_INNER_LIP[-2:0:-1]
# The middles of the upper and lower inner lip: their distance is the mouth opening.
INNER_LIP_MIDPOINTS = (13, 14)
MOUTH_CORNERS = (61, 291)

# Lid margins, outer corner → inner corner, point for point above each other (FACEMESH_RIGHT/LEFT_EYE).
RIGHT_UPPER_LID = (246, 161, 160, 159, 158, 157, 173)
RIGHT_LOWER_LID = (7, 163, 144, 145, 153, 154, 155)
LEFT_UPPER_LID = (466, 388, 387, 386, 385, 384, 398)
LEFT_LOWER_LID = (249, 390, 373, 374, 380, 381, 382)
RIGHT_EYE_CORNERS = (33, 133)  # outer, inner
LEFT_EYE_CORNERS = (263, 362)  # outer, inner
# The eye openings as closed loops (16 points): outer corner, lower lid, inner corner, upper lid back.
RIGHT_EYE_LOOP = RIGHT_EYE_CORNERS[:1] + RIGHT_LOWER_LID + RIGHT_EYE_CORNERS[1:] + RIGHT_UPPER_LID[::-1]
LEFT_EYE_LOOP = LEFT_EYE_CORNERS[:1] + LEFT_LOWER_LID + LEFT_EYE_CORNERS[1:] + LEFT_UPPER_LID[::-1]
# Iris centre then its 4 rim points.
RIGHT_IRIS = tuple(range(468, 473))
LEFT_IRIS = tuple(range(473, 478))
CHIN = 152

# mediapipe's face_mesh_connections, each sorted as ``sorted(FACEMESH_...)`` gives it (the order and the
# direction of each pair are kept: drawing code draws them in this order).
PART_EDGES: dict[str, tuple[tuple[int, int], ...]] = {
    "face_oval": (
        (10, 338), (21, 54), (54, 103), (58, 132), (67, 109), (93, 234), (103, 67), (109, 10), (127, 162),
        (132, 93), (136, 172), (148, 176), (149, 150), (150, 136), (152, 148), (162, 21), (172, 58), (176, 149),
        (234, 127), (251, 389), (284, 251), (288, 397), (297, 332), (323, 361), (332, 284), (338, 297), (356, 454),
        (361, 288), (365, 379), (377, 152), (378, 400), (379, 378), (389, 356), (397, 365), (400, 377), (454, 323)),
    "left_eyebrow": ((276, 283), (282, 295), (283, 282), (293, 334), (295, 285), (296, 336), (300, 293), (334, 296)),
    "right_eyebrow": ((46, 53), (52, 65), (53, 52), (63, 105), (65, 55), (66, 107), (70, 63), (105, 66)),
    "left_eye": (
        (249, 390), (263, 249), (263, 466), (373, 374), (374, 380), (380, 381), (381, 382), (382, 362), (384, 398),
        (385, 384), (386, 385), (387, 386), (388, 387), (390, 373), (398, 362), (466, 388)),
    "right_eye": (
        (7, 163), (33, 7), (33, 246), (144, 145), (145, 153), (153, 154), (154, 155), (155, 133), (157, 173),
        (158, 157), (159, 158), (160, 159), (161, 160), (163, 144), (173, 133), (246, 161)),
    "left_iris": ((474, 475), (475, 476), (476, 477), (477, 474)),
    "right_iris": ((469, 470), (470, 471), (471, 472), (472, 469)),
    "nose": (
        (1, 19), (2, 326), (4, 1), (4, 45), (5, 4), (6, 197), (19, 94), (45, 220), (48, 64), (64, 98), (94, 2),
        (97, 2), (98, 97), (115, 48), (168, 6), (195, 5), (197, 195), (220, 115), (275, 4), (278, 344), (294, 278),
        (326, 327), (327, 294), (344, 440), (440, 275)),
    "lips": (
        (0, 267), (13, 312), (14, 317), (17, 314), (37, 0), (39, 37), (40, 39), (61, 146), (61, 185), (78, 95),
        (78, 191), (80, 81), (81, 82), (82, 13), (84, 17), (87, 14), (88, 178), (91, 181), (95, 88), (146, 91),
        (178, 87), (181, 84), (185, 40), (191, 80), (267, 269), (269, 270), (270, 409), (310, 415), (311, 310),
        (312, 311), (314, 405), (317, 402), (318, 324), (321, 375), (324, 308), (375, 291), (402, 318), (405, 321),
        (409, 291), (415, 308)),
}


def part_edges(*names: str) -> dict[str, np.ndarray]:
    """Part name → (E, 2) int64 index pairs of :data:`PART_EDGES`, for ``names`` (default: all, in order)."""
    return {name: np.array(PART_EDGES[name], dtype=np.int64) for name in (names or PART_EDGES)}


@lru_cache(maxsize=1)
def mesh_edges() -> np.ndarray:
    """(E, 2) int64 unique edges (low index first, sorted) of the face mesh's triangles."""
    from .constants import triangles

    tri = triangles()
    return np.unique(np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1), axis=0)
