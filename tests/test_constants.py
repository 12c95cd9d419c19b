import collections
import itertools

import numpy as np
from mediapipe.python.solutions import face_mesh_connections as mpc

from kpanim.face import constants, topology


def _points(conns):
    return sorted({i for e in conns for i in e})


def test_index_sets_match_mediapipe():
    assert constants.lip_index().tolist() == _points(mpc.FACEMESH_LIPS)
    eye = []
    for group in (mpc.FACEMESH_LEFT_IRIS, mpc.FACEMESH_LEFT_EYE, mpc.FACEMESH_LEFT_EYEBROW,
                  mpc.FACEMESH_RIGHT_IRIS, mpc.FACEMESH_RIGHT_EYE, mpc.FACEMESH_RIGHT_EYEBROW):
        eye += _points(group)
    assert constants.eye_index().tolist() == eye
    assert len(constants.lip_index()) == constants.N_LIP == 40
    assert len(constants.eye_index()) == constants.N_EYE == 60
    assert sum(n for _, n in constants.EYE_GROUPS) == 60
    assert constants.face_oval_index().tolist() == _points(mpc.FACEMESH_FACE_OVAL)


def test_topology_matches_mediapipe():
    for name, edges in topology.PART_EDGES.items():
        assert edges == tuple(sorted(getattr(mpc, f"FACEMESH_{name.upper()}"))), name
    lip_edges = {frozenset(e) for e in mpc.FACEMESH_LIPS}
    for loop in (topology.OUTER_LIP_LOOP, topology.INNER_LIP_LOOP):
        assert len(loop) == len(set(loop)) == 20
        assert {frozenset(e) for e in zip(loop, loop[1:] + loop[:1])} <= lip_edges
    for loop, part in ((topology.RIGHT_EYE_LOOP, mpc.FACEMESH_RIGHT_EYE), (topology.LEFT_EYE_LOOP, mpc.FACEMESH_LEFT_EYE)):
        assert {frozenset(e) for e in zip(loop, loop[1:] + loop[:1])} == {frozenset(e) for e in part}
    for iris, part in ((topology.RIGHT_IRIS, mpc.FACEMESH_RIGHT_IRIS), (topology.LEFT_IRIS, mpc.FACEMESH_LEFT_IRIS)):
        assert set(iris[1:]) == set(_points(part))
    assert set(topology.INNER_LIP_MIDPOINTS) <= set(topology.INNER_LIP_LOOP)
    assert topology.mesh_edges().shape[1] == 2


def test_template_is_human_scale_and_oriented():
    t = constants.template()
    assert t.shape == (478, 3)
    iod = np.linalg.norm(t[constants.LEFT_IRIS_CENTRE] - t[constants.RIGHT_IRIS_CENTRE])
    assert abs(iod - 0.063) < 1e-9
    assert t[constants.LEFT_IRIS_CENTRE, 0] > 0  # subject's left is +X
    assert t[10, 1] > t[152, 1]  # forehead above chin (+Y up)
    assert t[1, 2] > t[[33, 263], 2].mean()  # nose tip towards the viewer (+Z)
    width = np.ptp(t[:, 0])
    assert 0.12 < width < 0.17


def test_triangles_cover_the_tessellation_and_face_the_viewer():
    tris = constants.triangles()
    assert tris.min() == 0 and tris.max() == 477
    assert set(np.unique(tris)) == set(range(478))
    edges = {tuple(sorted(e)) for e in mpc.FACEMESH_TESSELATION}
    face_tris = tris[:-8]  # the last 8 are the two iris fans
    for tri in face_tris:
        for e in itertools.combinations(tri, 2):
            assert tuple(sorted(e)) in edges
    use = collections.Counter(tuple(sorted(e)) for t in face_tris for e in itertools.combinations(t, 2))
    assert max(use.values()) == 2  # a manifold
    t = constants.template()
    n = np.cross(t[tris[:, 1]] - t[tris[:, 0]], t[tris[:, 2]] - t[tris[:, 0]])
    assert np.all(n[:, 2] > 0)


def test_mirror_index_swaps_left_and_right():
    m = constants.mirror_index()
    assert np.array_equal(m[m], np.arange(478))
    assert m[constants.LEFT_IRIS_CENTRE] == constants.RIGHT_IRIS_CENTRE
    t = constants.template()
    assert np.allclose(t[m] * [-1, 1, 1], t, atol=1e-12)
    lip = set(constants.lip_index().tolist())
    assert {int(m[i]) for i in lip} == lip


def test_stable_points_avoid_mouth_and_eyes():
    stable = set(constants.stable_index().tolist())
    assert len(stable) >= 30
    assert not stable & set(constants.lip_index().tolist())
    assert not stable & set(constants.eye_index().tolist())
