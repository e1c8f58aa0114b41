"""E_quat, E_T&S and the Table 4 baselines: hand-worked values, scipy / loop references, properties, gradients."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from s2hand.losses import quaternion_loss, smooth_loss, temporal_loss, texture_shape_consistency_loss

# --- E_quat ---------------------------------------------------------------------------------------------------


def _naive_quat(rotations: np.ndarray) -> float:
    m, n, joints, _ = rotations.shape
    total = 0.0
    for s in range(m):
        for j in range(joints):
            r = [Rotation.from_rotvec(rotations[s, i, j]) for i in range(n)]
            path = sum((r[i].inv() * r[i + 1]).magnitude() for i in range(n - 1))
            total += abs(path - (r[0].inv() * r[-1]).magnitude())
    return total / (m * joints)


def _fixed_axis_motion(angles, seed=0, joints=16, offset="left") -> torch.Tensor:
    """(1, n, joints, 3): joint j turns by angles[i] about its own fixed axis v_j, from a random start R0_j."""
    rng = np.random.default_rng(seed)
    axes = rng.normal(size=(joints, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    start = Rotation.random(joints, random_state=seed)
    frames = []
    for angle in angles:
        turn = Rotation.from_rotvec(axes * angle)
        frames.append((turn * start if offset == "left" else start * turn).as_rotvec())
    return torch.as_tensor(np.stack(frames))[None]


def test_quaternion_loss_hand_worked():
    # one joint: identity, 90° about x, 90° about y. Steps π/2 and 2π/3 (two perpendicular quarter turns
    # compose to a 120° rotation), direct π/2: E = π/2 + 2π/3 − π/2 = 2π/3
    r = torch.tensor([[[[0.0, 0, 0]], [[math.pi / 2, 0, 0]], [[0, math.pi / 2, 0]]]], dtype=torch.float64)
    assert quaternion_loss(r).item() == pytest.approx(2 * math.pi / 3, rel=1e-12)
    # back and forth about one axis: 0 -> 0.5 -> 0.2 rad: path 0.8, direct 0.2
    z = torch.tensor([0.0, 0.5, 0.2], dtype=torch.float64)
    r = torch.stack([torch.zeros(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64), z], -1)
    assert quaternion_loss(r.view(1, 3, 1, 3)).item() == pytest.approx(0.6, rel=1e-12)
    # two joints, one still (0): the mean over joints halves it
    r2 = torch.cat([r.view(1, 3, 1, 3), torch.zeros(1, 3, 1, 3, dtype=torch.float64)], 2)
    assert quaternion_loss(r2).item() == pytest.approx(0.3, rel=1e-12)


@pytest.mark.parametrize("angles", [
    [0.0, 0.1, 0.5, 0.55],  # uneven speed
    [0.0, 0.0, 0.3, 0.3, 0.9],  # pauses
    [0.2, 1.0, 2.5],  # fast, large steps
    [0.0, 0.001, 0.002],  # tiny steps (acos would lose them)
    [1.0, 0.4, -0.3, -0.31],  # monotone in the other direction, through the start pose
])
@pytest.mark.parametrize("offset", ["left", "right"])
def test_quaternion_loss_is_zero_for_constant_axis_motion(angles, offset):
    r = _fixed_axis_motion(angles, seed=len(angles), offset=offset)
    assert quaternion_loss(r).item() == pytest.approx(0.0, abs=1e-9)
    # collinear axis-angle vectors (the plain case, no start rotation) as well
    axis = torch.nn.functional.normalize(torch.randn(16, 3, dtype=torch.float64), dim=-1)
    collinear = torch.tensor(angles, dtype=torch.float64).view(1, -1, 1, 1) * axis
    assert quaternion_loss(collinear).item() == pytest.approx(0.0, abs=1e-9)


def test_quaternion_loss_is_positive_when_the_axis_changes():
    r = _fixed_axis_motion([0.0, 0.3, 0.6])
    bent = r.clone()
    kink = Rotation.from_rotvec([0.0, 0.0, 0.4]) * Rotation.from_rotvec(r[0, 1].numpy())  # off the arc
    bent[0, 2] = torch.as_tensor(kink.as_rotvec())
    assert quaternion_loss(bent).item() > 1e-3
    # a turn back along the same axis is not "smooth" either
    assert quaternion_loss(_fixed_axis_motion([0.0, 0.5, 0.1])).item() == pytest.approx(0.8, rel=1e-9)


def test_quaternion_loss_matches_scipy_loops():
    g = torch.Generator().manual_seed(0)
    r = torch.randn(3, 4, 16, 3, generator=g, dtype=torch.float64) * 0.8
    assert quaternion_loss(r).item() == pytest.approx(_naive_quat(r.numpy()), rel=1e-9)


def test_quaternion_loss_gradcheck_and_n_equals_two():
    g = torch.Generator().manual_seed(1)
    r = (torch.randn(2, 3, 4, 3, generator=g, dtype=torch.float64) * 0.7).requires_grad_(True)
    assert torch.autograd.gradcheck(quaternion_loss, (r,))
    assert quaternion_loss(torch.randn(2, 2, 16, 3)).item() == pytest.approx(0.0, abs=1e-6)  # n = 2: always 0
    still = torch.zeros(1, 3, 16, 3, requires_grad=True)  # no motion at all: 0 with a finite gradient
    quaternion_loss(still).backward()
    assert torch.isfinite(still.grad).all()


# --- E_T&S ----------------------------------------------------------------------------------------------------

def _ambient_lighting(m, n, dtype=torch.float64):
    light = torch.zeros(m, n, 11, dtype=dtype)
    light[..., 0] = 1.0  # ambient intensity 1, white; no directional light
    light[..., 1:4] = 1.0
    light[..., 10] = 1.0
    return light


def _naive_ts(colors, lighting, normals, betas) -> float:
    m, n, faces, _ = colors.shape
    total = 0.0
    for s in range(m):
        lit = []
        for i in range(n):
            la, ca, ld, cd, d = (lighting[s, i, 0], lighting[s, i, 1:4], lighting[s, i, 4], lighting[s, i, 5:8],
                                 lighting[s, i, 8:11])
            d = d / d.norm()
            lit.append([[float((la * ca[k] + max(0.0, float(normals[f] @ d)) * ld * cd[k]) * colors[s, i, f, k])
                         for k in range(3)] for f in range(faces)])
        lit = np.asarray(lit)
        mean_lit, mean_beta = lit.mean(0), betas[s].numpy().mean(0)
        total += sum(math.sqrt(((lit[i] - mean_lit) ** 2).sum()) for i in range(n))
        total += sum(math.sqrt(((betas[s, i].numpy() - mean_beta) ** 2).sum()) for i in range(n))
    return total / m


def test_texture_shape_hand_worked():
    colors = torch.zeros(1, 2, 2, 3, dtype=torch.float64)
    colors[0, 1] = 1.0  # frame 1 black, frame 2 white: each frame 0.5 from the mean in all 6 values
    betas = torch.zeros(1, 2, 10, dtype=torch.float64)
    betas[0, 1, :2] = torch.tensor([3.0, 4.0])  # mean (1.5, 2): each frame 2.5 away
    normals = torch.tensor([[0.0, 0, 1], [0, 0, 1]], dtype=torch.float64)
    got = texture_shape_consistency_loss(colors, _ambient_lighting(1, 2), normals, betas)
    # Σ_i ‖C_i − C̄‖_F = 2·√(6·0.25), Σ_i ‖β_i − β̄‖ = 2·2.5 (norms, not squared; summed over frames)
    assert got.item() == pytest.approx(2 * math.sqrt(1.5) + 5.0, rel=1e-12)


def test_texture_shape_matches_naive_with_directional_light():
    g = torch.Generator().manual_seed(2)
    m, n, faces = 2, 3, 5
    colors = torch.rand(m, n, faces, 3, generator=g, dtype=torch.float64)
    lighting = torch.rand(m, n, 11, generator=g, dtype=torch.float64)
    lighting[..., 8:] = torch.randn(m, n, 3, generator=g, dtype=torch.float64)
    normals = torch.nn.functional.normalize(torch.randn(faces, 3, generator=g, dtype=torch.float64), dim=-1)
    betas = torch.randn(m, n, 10, generator=g, dtype=torch.float64)
    got = texture_shape_consistency_loss(colors, lighting, normals, betas)
    assert got.item() == pytest.approx(_naive_ts(colors, lighting, normals, betas), rel=1e-10)
    # per-frame normals of the same values give the same result
    per_frame = normals.expand(m, n, faces, 3)
    assert texture_shape_consistency_loss(colors, lighting, per_frame, betas).item() == pytest.approx(got.item())


def test_texture_shape_zero_for_identical_frames_and_gradcheck():
    g = torch.Generator().manual_seed(3)
    colors = torch.rand(2, 1, 4, 3, generator=g, dtype=torch.float64).expand(2, 3, 4, 3).clone().requires_grad_(True)
    betas = torch.randn(2, 1, 10, generator=g, dtype=torch.float64).expand(2, 3, 10).clone()
    normals = torch.nn.functional.normalize(torch.randn(4, 3, generator=g, dtype=torch.float64), dim=-1)
    lighting = torch.rand(2, 1, 11, generator=g, dtype=torch.float64).expand(2, 3, 11).clone()
    loss = texture_shape_consistency_loss(colors, lighting, normals, betas)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-12) and torch.isfinite(colors.grad).all()
    c = torch.rand(2, 3, 4, 3, generator=g, dtype=torch.float64).requires_grad_(True)
    light = torch.rand(2, 3, 11, generator=g, dtype=torch.float64).requires_grad_(True)
    b = torch.randn(2, 3, 10, generator=g, dtype=torch.float64).requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda c_, l_, b_: texture_shape_consistency_loss(c_, l_, normals, b_), (c, light, b))


# --- Table 4 baselines ----------------------------------------------------------------------------------------

def test_temporal_and_smooth_hand_worked():
    poses = torch.tensor([[[0.0, 0.0], [3.0, 4.0], [3.0, 4.0]]], dtype=torch.float64)  # steps of 5 and 0
    assert temporal_loss(poses).item() == pytest.approx(12.5)  # (25 + 0) / 2
    assert smooth_loss(poses, 1.0).item() == pytest.approx(8.0)  # ((5 − 1)² + 0) / 2
    assert smooth_loss(poses, 0.0).item() == pytest.approx(temporal_loss(poses).item())
    assert smooth_loss(poses, 5.0).item() == 0.0  # changes up to the threshold are free


def test_baselines_match_naive_and_gradcheck():
    g = torch.Generator().manual_seed(4)
    poses = torch.randn(3, 4, 33, generator=g, dtype=torch.float64)
    steps = [[float((poses[s, i + 1] - poses[s, i]).norm()) for i in range(3)] for s in range(3)]
    assert temporal_loss(poses).item() == pytest.approx(sum(d * d for row in steps for d in row) / 9, rel=1e-12)
    tau = 7.0
    assert smooth_loss(poses, tau).item() == pytest.approx(
        sum(max(0.0, d - tau) ** 2 for row in steps for d in row) / 9, rel=1e-12)
    p = poses[:2, :3, :5].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(temporal_loss, (p,))
    assert torch.autograd.gradcheck(lambda x: smooth_loss(x, 1.0), (p,))
    still = torch.zeros(1, 3, 4, requires_grad=True)
    smooth_loss(still, 0.0).backward()
    assert torch.isfinite(still.grad).all()


def test_sequence_shape_errors():
    with pytest.raises(ValueError, match="n >= 2"):
        quaternion_loss(torch.zeros(2, 1, 16, 3))
    with pytest.raises(ValueError, match="n >= 2"):
        temporal_loss(torch.zeros(4, 1, 33))
