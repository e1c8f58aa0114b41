"""Joint orders, camera conventions, rotations (against scipy) and projections (against hand-computed values)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from s2hand.geometry import rotations as rot
from s2hand.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera, project_perspective, project_weak_perspective
from s2hand.hand import joints as J


# --- joint orders ---------------------------------------------------------------------------------------------

def test_orders_map_names_to_names():
    for i, name in enumerate(J.FREIHAND_NAMES):
        assert J.HO3D_NAMES[J.HO3D_TO_FREIHAND[i]] == name
    for i, name in enumerate(J.HO3D_NAMES):
        assert J.FREIHAND_NAMES[J.FREIHAND_TO_HO3D[i]] == name
    # the literal index lists of FACTS §2
    assert J.FREIHAND_TO_HO3D == (0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3, 4, 8, 12, 16, 20)
    assert J.HO3D_TO_FREIHAND == (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_order_round_trips(kind):
    x = np.random.default_rng(0).normal(size=(4, 21, 3))
    x = torch.as_tensor(x) if kind == "torch" else x
    back = J.ho3d_to_freihand(J.freihand_to_ho3d(x))
    assert np.allclose(np.asarray(back), np.asarray(x))
    mano = J.freihand_to_mano(x)
    assert mano.shape[-2] == 16 and np.allclose(np.asarray(mano)[:, 13], np.asarray(x)[:, 1])  # thumb CMC
    with pytest.raises(ValueError, match="expected 21 joints"):
        J.freihand_to_ho3d(x[:, :16])


def test_bones_and_parents():
    assert len(J.FREIHAND_BONES) == 20
    assert J.FREIHAND_BONES[:5] == ((0, 1), (0, 5), (0, 9), (0, 13), (0, 17))
    for parent, child in J.FREIHAND_BONES:
        assert J.FREIHAND_NAMES[child].split("_")[0] == J.FREIHAND_NAMES[parent].split("_")[0] or parent == 0
    for m, parent in enumerate(J.MANO_PARENTS[1:], start=1):
        assert J.MANO_NAMES[m].split("_")[0] == J.MANO_NAMES[parent].split("_")[0] or parent == 0


def test_opengl_flip_is_an_involution():
    p = np.array([[0.1, 0.2, 0.5]])
    gl = J.opencv_to_opengl(p)
    assert np.allclose(gl, [[0.1, -0.2, -0.5]])
    assert np.allclose(J.opengl_to_opencv(gl), p)
    t = torch.tensor([[1.0, 2.0, 3.0]])
    assert torch.equal(J.opencv_to_opengl(t), torch.tensor([[1.0, -2.0, -3.0]]))


# --- rotations ------------------------------------------------------------------------------------------------

def _random_rotvecs(n, seed=0):
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(n, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([[0.0, 1e-9, 1e-4, np.pi - 1e-6], rng.uniform(0, np.pi, n - 4)])
    return axes * angles[:, None]


def test_axis_angle_to_matrix_matches_scipy():
    r = _random_rotvecs(200)
    ours = rot.axis_angle_to_matrix(torch.as_tensor(r)).numpy()
    assert np.allclose(ours, Rotation.from_rotvec(r).as_matrix(), atol=1e-12)


def test_quaternion_round_trips_match_scipy():
    r = _random_rotvecs(200, seed=1)
    q = rot.axis_angle_to_quaternion(torch.as_tensor(r))
    xyzw = Rotation.from_rotvec(r).as_quat()
    scipy_wxyz = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], 1)
    assert np.allclose(np.abs((q.numpy() * scipy_wxyz).sum(1)), 1.0, atol=1e-12)  # same rotation, up to sign
    m = rot.quaternion_to_matrix(q)
    assert np.allclose(m.numpy(), Rotation.from_rotvec(r).as_matrix(), atol=1e-12)
    q2 = rot.matrix_to_quaternion(m)
    assert np.allclose(np.abs((q2 * q).sum(-1)).numpy(), 1.0, atol=1e-10)
    back = rot.matrix_to_axis_angle(m).numpy()
    assert np.allclose(Rotation.from_rotvec(back).as_matrix(), Rotation.from_rotvec(r).as_matrix(), atol=1e-8)


def test_quaternion_angle_is_the_relative_rotation_angle():
    a, b = _random_rotvecs(100, 2), _random_rotvecs(100, 3)
    qa = rot.axis_angle_to_quaternion(torch.as_tensor(a))
    qb = rot.axis_angle_to_quaternion(torch.as_tensor(b))
    expected = (Rotation.from_rotvec(a).inv() * Rotation.from_rotvec(b)).magnitude()
    assert np.allclose(rot.quaternion_angle(qa, qb).numpy(), expected, atol=1e-12)
    assert np.allclose(rot.quaternion_angle(qa, -qa).numpy(), 0.0, atol=1e-12)  # q and -q are one rotation
    tiny = rot.axis_angle_to_quaternion(torch.tensor([[1e-7, 0.0, 0.0]], dtype=torch.float64))
    assert rot.quaternion_angle(rot.axis_angle_to_quaternion(torch.zeros(1, 3, dtype=torch.float64)), tiny).item() == pytest.approx(1e-7, rel=1e-6)


def test_rotation_gradients_at_zero_are_finite_and_correct():
    r = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rot.axis_angle_to_matrix, (r,))
    assert torch.autograd.gradcheck(rot.axis_angle_to_quaternion, (r,))
    r2 = torch.tensor([[0.3, -0.2, 1.1]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(rot.axis_angle_to_matrix, (r2,))


# --- cameras --------------------------------------------------------------------------------------------------

def test_perspective_projection_hand_computed():
    K = torch.tensor([[[500.0, 0.0, 112.0], [0.0, 480.0, 100.0], [0.0, 0.0, 1.0]]])
    p = torch.tensor([[[0.1, -0.05, 0.5], [0.0, 0.0, 2.0]]])
    uv = project_perspective(p, K)
    assert torch.allclose(uv, torch.tensor([[[112 + 500 * 0.2, 100 - 480 * 0.1], [112.0, 100.0]]]))
    screen = PerspectiveCamera(K).project(p)
    assert torch.allclose(screen[..., 2], p[..., 2])
    with pytest.raises(ValueError, match="K must be"):
        project_perspective(p, K[0])


def test_points_behind_the_camera_do_not_produce_nan():
    K = torch.eye(3)[None]
    uv = project_perspective(torch.tensor([[[0.1, 0.1, -1.0], [0.1, 0.1, 0.0]]]), K)
    assert torch.isfinite(uv).all()


def test_weak_perspective():
    p = torch.tensor([[[0.1, -0.2, 0.7]], [[0.0, 0.3, 5.0]]])
    uv = project_weak_perspective(p, torch.tensor([100.0, 50.0]), torch.tensor([[10.0, 20.0], [0.0, 0.0]]))
    assert torch.allclose(uv, torch.tensor([[[20.0, 0.0]], [[0.0, 15.0]]]))
    assert WeakPerspectiveCamera(torch.tensor([1.0, 1.0]), torch.zeros(2, 2)).project(p).shape == (2, 1, 3)


def test_projection_gradients():
    K = torch.tensor([[[500.0, 0.0, 112.0], [0.0, 480.0, 100.0], [0.0, 0.0, 1.0]]], dtype=torch.float64)
    p = torch.tensor([[[0.1, -0.05, 0.5]]], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: project_perspective(x, K), (p,))
