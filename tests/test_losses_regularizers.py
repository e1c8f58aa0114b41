"""E_β, E_C, E_s, E_J and the cotangent Laplacian: hand-worked values, naive loops, properties, gradients."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s2hand.hand.joint_limits import JOINT_LIMITS_DEG
from s2hand.losses import (
    MIDDLE_BONE_LENGTH_M,
    cotangent_laplacian,
    joint_angle_loss,
    laplacian_smoothness_loss,
    scale_loss,
    shape_loss,
    texture_outlier_loss,
)

# --- E_β and E_s ----------------------------------------------------------------------------------------------


def test_shape_loss_hand_worked_and_gradcheck():
    betas = torch.zeros(2, 10, dtype=torch.float64)
    betas[0, :2] = torch.tensor([1.0, 2.0])  # ‖β‖² = 5
    betas[1, 9] = 3.0  # 9
    assert shape_loss(betas).item() == 7.0
    assert torch.autograd.gradcheck(shape_loss, (torch.randn(3, 10, dtype=torch.float64, requires_grad=True),))


def test_scale_loss_hand_worked_and_gradcheck():
    joints = torch.zeros(2, 21, 3, dtype=torch.float64)
    joints[0, 10, 0] = 0.03  # |0.03 − 0.0282| = 0.0018
    joints[1, 9, 1] = 0.02  # middle MCP; PIP at 0: |0.02 − 0.0282| = 0.0082
    assert MIDDLE_BONE_LENGTH_M == 0.0282
    assert scale_loss(joints).item() == pytest.approx(0.005, rel=1e-12)
    x = (torch.randn(2, 21, 3, dtype=torch.float64) * 0.05).requires_grad_(True)
    assert torch.autograd.gradcheck(scale_loss, (x,))


# --- E_C ------------------------------------------------------------------------------------------------------

def _naive_texture(colors) -> float:
    total = 0.0
    batch, faces, _ = colors.shape
    for b in range(batch):
        for k in range(3):
            values = [float(colors[b, f, k]) for f in range(faces)]
            mean = sum(values) / faces
            std = math.sqrt(sum((v - mean) ** 2 for v in values) / (faces - 1))
            for v in values:
                total += max(0.0, v - (mean + 2 * std)) + max(0.0, (mean - 2 * std) - v)
    return total / (batch * faces * 3)


def test_texture_outlier_hand_worked():
    colors = torch.full((1, 10, 3), 0.5, dtype=torch.float64)
    colors[0, :, 0] = 0.0
    colors[0, 9, 0] = 1.0
    # red: μ = 0.1, σ = √((9·0.01 + 0.81) / 9) = √0.1, upper = 0.1 + 2√0.1; only face 9 is out, by 1 − upper.
    # green, blue constant: σ = 0, nothing outside. Mean over 1·10·3 values.
    expected = (1.0 - (0.1 + 2 * math.sqrt(0.1))) / 30
    assert texture_outlier_loss(colors).item() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.267544 / 30, rel=1e-5)
    low = 1.0 - colors  # mirrored: the outlier is now below μ − 2σ, same amount
    assert texture_outlier_loss(low).item() == pytest.approx(expected, rel=1e-12)


def test_texture_outlier_matches_naive_loops():
    g = torch.Generator().manual_seed(0)
    colors = torch.rand(3, 40, 3, generator=g, dtype=torch.float64) ** 3  # skewed: some outliers
    assert _naive_texture(colors) > 0
    assert texture_outlier_loss(colors).item() == pytest.approx(_naive_texture(colors), rel=1e-10)


def test_texture_outlier_has_no_cross_sample_coupling():
    g = torch.Generator().manual_seed(1)
    first = torch.rand(1, 30, 3, generator=g, dtype=torch.float64) ** 3
    alone = texture_outlier_loss(first).item()
    others = (torch.rand(1, 30, 3, generator=g, dtype=torch.float64),
              torch.full((1, 30, 3), 5.0, dtype=torch.float64), first + 0.7)
    for other in others:
        batch = texture_outlier_loss(torch.cat([first, other])).item()
        # the batch value is the mean of the per-sample values, whatever sample 2 holds
        assert batch == pytest.approx((alone + texture_outlier_loss(other).item()) / 2, rel=1e-12)
    # an inlier-only sample stays at 0 next to a sample with a very different mean and spread (the reference
    # code's broadcasting judged it against the other sample's band)
    inliers = torch.linspace(0.4, 0.6, 30, dtype=torch.float64).view(1, 30, 1).expand(1, 30, 3)
    assert texture_outlier_loss(inliers).item() == 0.0
    shifted = torch.linspace(0.9, 1.0, 30, dtype=torch.float64).view(1, 30, 1).expand(1, 30, 3)
    assert texture_outlier_loss(torch.cat([inliers, shifted])).item() == 0.0


def test_texture_outlier_gradients():
    g = torch.Generator().manual_seed(2)
    colors = (torch.rand(2, 12, 3, generator=g, dtype=torch.float64) ** 4).requires_grad_(True)
    # live statistics: the full derivative, checked numerically
    assert torch.autograd.gradcheck(lambda c: texture_outlier_loss(c, detach_stats=False), (colors,))
    # detached statistics (default): the gradient is ±1/(B·F·3) on outliers only
    texture_outlier_loss(colors).backward()
    with torch.no_grad():
        std, mean = torch.std_mean(colors, dim=1, keepdim=True)
        sign = (colors > mean + 2 * std).double() - (colors < mean - 2 * std).double()
    assert sign.abs().sum() > 0
    assert torch.allclose(colors.grad, sign / colors.numel())


# --- E_J ------------------------------------------------------------------------------------------------------

def _naive_joint_angles(pose) -> float:
    total = 0.0
    for b in range(pose.shape[0]):
        for j in range(15):
            for a, weight in enumerate((1.0, 1.0, 2.0)):
                lo, hi = (math.radians(v) for v in JOINT_LIMITS_DEG[j, a])
                value = float(pose[b, j, a])
                total += weight * (max(0.0, value - hi) + max(0.0, lo - value))
    return total / (pose.shape[0] * 45)


def test_joint_angle_zero_inside_limits():
    limits = torch.as_tensor(np.deg2rad(JOINT_LIMITS_DEG))
    inside = limits[..., 0] + (limits[..., 1] - limits[..., 0]) * torch.rand(4, 15, 3, dtype=torch.float64)
    assert joint_angle_loss(inside).item() == 0.0
    assert joint_angle_loss(limits[..., 0][None]).item() == 0.0 and joint_angle_loss(limits[..., 1][None]).item() == 0.0


def test_joint_angle_linear_outside_with_bend_weight_two():
    limits = torch.as_tensor(np.deg2rad(JOINT_LIMITS_DEG))
    mid = (limits[..., 0] + limits[..., 1])[None] / 2  # (1, 15, 3), inside
    ten = math.radians(10)

    def with_offset(joint: int, axis: int, value: float) -> float:
        pose = mid.clone()
        pose[0, joint, axis] = value
        return joint_angle_loss(pose).item()

    # index MCP (MANO joint 1 -> row 0): bend z max 100°, twist x max 5°
    assert with_offset(0, 2, math.radians(110)) == pytest.approx(2 * ten / 45)
    assert with_offset(0, 0, math.radians(15)) == pytest.approx(ten / 45)
    assert with_offset(0, 2, math.radians(120)) == pytest.approx(2 * with_offset(0, 2, math.radians(110)))  # linear
    # thumb CMC (row 12): twist x min 0°
    assert with_offset(12, 0, -0.2) == pytest.approx(0.2 / 45)
    # pinky MCP (row 6): twist x range [−20°, 5°]
    assert with_offset(6, 0, math.radians(-15)) == 0.0
    assert with_offset(6, 0, math.radians(-30)) == pytest.approx(ten / 45)


def test_joint_angle_matches_naive_and_gradcheck():
    pose = torch.randn(3, 15, 3, dtype=torch.float64)
    assert joint_angle_loss(pose).item() == pytest.approx(_naive_joint_angles(pose), rel=1e-12)
    assert joint_angle_loss(pose.reshape(3, 45)).item() == pytest.approx(_naive_joint_angles(pose), rel=1e-12)
    assert torch.autograd.gradcheck(joint_angle_loss, (pose[:2].clone().requires_grad_(True),))


# --- Laplacian ------------------------------------------------------------------------------------------------

def _naive_laplacian(vertices, faces) -> np.ndarray:
    v = vertices.numpy()
    L = np.zeros((len(v), len(v)))
    for face in faces.tolist():
        for k in range(3):
            c, i, j = face[k], face[(k + 1) % 3], face[(k + 2) % 3]
            e1, e2 = v[i] - v[c], v[j] - v[c]
            cot = np.dot(e1, e2) / np.linalg.norm(np.cross(e1, e2))
            L[i, j] += cot / 2
            L[j, i] += cot / 2
    return L - np.diag(L.sum(1))


def _grid(n=4):
    xs, ys = np.meshgrid(np.arange(n, dtype=float), np.arange(n, dtype=float), indexing="xy")
    vertices = torch.as_tensor(np.stack([xs.ravel(), ys.ravel(), np.zeros(n * n)], -1))
    faces = []
    for r in range(n - 1):
        for c in range(n - 1):
            a, b, d, e = r * n + c, r * n + c + 1, (r + 1) * n + c, (r + 1) * n + c + 1
            faces += [(a, b, e), (a, e, d)]
    return vertices, torch.tensor(faces)


def test_laplacian_hand_worked_triangle():
    vertices = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2]])
    L = cotangent_laplacian(vertices, faces)
    # angles 90° at v0 (cot 0, opposite edge 1-2), 45° at v1 and v2 (cot 1): weights ½ on edges 0-2 and 0-1
    expected = torch.tensor([[-1.0, 0.5, 0.5], [0.5, -0.5, 0.0], [0.5, 0.0, -0.5]], dtype=torch.float64)
    assert torch.allclose(L, expected, atol=1e-12)
    # L x: v0 -> (0.5, 0.5, 0), v1 -> (−0.5, 0, 0), v2 -> (0, −0.5, 0)
    loss = laplacian_smoothness_loss(vertices[None], L)
    assert loss.item() == pytest.approx((math.sqrt(0.5) + 0.5 + 0.5) / 3)


def test_laplacian_matches_naive_and_properties():
    g = torch.Generator().manual_seed(3)
    vertices, faces = _grid(4)
    bumpy = vertices + 0.2 * torch.rand(vertices.shape, generator=g, dtype=torch.float64)
    L = cotangent_laplacian(bumpy, faces)
    assert np.allclose(L.numpy(), _naive_laplacian(bumpy, faces), atol=1e-12)
    assert torch.allclose(L, L.T) and torch.allclose(L.sum(1), torch.zeros(16, dtype=torch.float64), atol=1e-12)
    # the cotangent Laplacian reproduces linear functions: L x = 0 at the interior vertices of a flat grid
    flat = cotangent_laplacian(vertices, faces)
    interior = [5, 6, 9, 10]
    assert torch.allclose((flat @ vertices)[interior], torch.zeros(4, 3, dtype=torch.float64), atol=1e-12)
    # translation invariant, and a smooth mesh scores lower than a bumpy one under the same L
    lap = lambda x: laplacian_smoothness_loss(x[None], flat).item()  # noqa: E731
    assert lap(vertices + 3.0) == pytest.approx(lap(vertices))
    assert lap(bumpy) > lap(vertices)


def test_laplacian_gradcheck_and_batch():
    vertices, faces = _grid(3)
    L = cotangent_laplacian(vertices, faces)
    x = (vertices[None] + 0.1 * torch.randn(2, 9, 3, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda v: laplacian_smoothness_loss(v, L), (x,))
    both = laplacian_smoothness_loss(x, L).item()
    halves = laplacian_smoothness_loss(x[:1], L).item() + laplacian_smoothness_loss(x[1:], L).item()
    assert both == pytest.approx(halves / 2)
