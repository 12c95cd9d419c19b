import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from kpanim.face import geometry as g
from kpanim.face.camera import Camera


def _random_transform(seed):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 3), Rotation.random(random_state=seed).as_matrix(), rng.normal(size=3)


def test_similarity_fit_recovers_transform():
    src = np.random.default_rng(0).normal(size=(40, 3))
    s, r, t = _random_transform(1)
    s2, r2, t2 = g.similarity_fit(src, g.apply_similarity(src, s, r, t))
    assert np.isclose(s2, s) and np.allclose(r2, r) and np.allclose(t2, t)


def test_similarity_fit_is_batched_and_rigid_option():
    src = np.random.default_rng(0).normal(size=(40, 3))
    params = [_random_transform(i) for i in range(4)]
    dst = np.stack([g.apply_similarity(src, *p) for p in params])
    s, r, t = g.similarity_fit(src, dst)
    assert s.shape == (4,) and r.shape == (4, 3, 3) and t.shape == (4, 3)
    assert np.allclose(s, [p[0] for p in params])
    s1, _, _ = g.similarity_fit(src, dst, with_scale=False)
    assert np.allclose(s1, 1.0)


def test_robust_fit_ignores_an_outlier():
    src = np.random.default_rng(0).normal(size=(40, 3))
    s, r, t = _random_transform(2)
    dst = g.apply_similarity(src, s, r, t)
    dst[5] += 25.0
    s2, r2, _ = g.robust_similarity_fit(src, dst)
    assert abs(s2 - s) < 1e-3 * s and np.allclose(r2, r, atol=1e-3)


def test_shape_errors_say_expected_and_actual():
    with pytest.raises(ValueError, match=r"expected shape \(\.\.\., N, 3\), got \(4, 2\)"):
        g.similarity_fit(np.zeros((4, 2)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="head_pose: expected shape"):
        g.pose_to_matrix(np.zeros(5))


def test_pose_round_trip_and_projection():
    pose = np.array([0.1, -0.2, 0.05, 0.01, 0.02, -0.6])
    rot, t = g.pose_to_matrix(pose)
    assert np.allclose(g.matrix_to_pose(rot, t), pose)
    pts = np.random.default_rng(0).normal(scale=0.05, size=(30, 3))
    cam = g.apply_pose(pose, pts)
    camera = Camera(500.0, 256.0, 200.0, 512, 400)
    px = camera.project(cam)
    back = camera.unproject(px, -cam[:, 2])
    assert np.allclose(back, cam)
    # +Y up in the camera means a smaller row index in the image
    above = camera.project(np.array([[0, 0.1, -1.0]]))
    assert above[0, 1] < 200.0
    with pytest.raises(ValueError, match="in front of the camera"):
        Camera(500.0, 0, 0, 0, 0).project(np.array([[0, 0, 1.0]]))
    assert Camera.from_array(camera.to_array()) == camera
