"""E_loc, E_ori, E_2d, E_cons and the robust penalty: hand-worked values, naive loop references, gradients."""
from __future__ import annotations

import math

import pytest
import torch

from s2hand.hand.joints import FREIHAND_BONES
from s2hand.losses import (
    KEYPOINT_WEIGHTS,
    bone_orientation_loss,
    consistency_loss,
    joint_location_loss,
    keypoint_2d_branch_loss,
    robust_penalty,
)


def _random_case(batch=3, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    detected = torch.rand(batch, 21, 2, generator=g, dtype=dtype) * 100
    projected = detected + torch.randn(batch, 21, 2, generator=g, dtype=dtype) * 6  # both sides of δ = 5
    confidences = torch.rand(batch, 21, generator=g, dtype=dtype)
    return projected, detected, confidences


def _naive_penalty(d: float, delta: float = 5.0) -> float:
    return d * d / (2 * delta) if d < delta else d - delta / 2


def _naive_location(projected, detected, confidences, delta=5.0) -> float:
    num = den = 0.0
    for b in range(projected.shape[0]):
        for j in range(21):
            d = math.dist(projected[b, j].tolist(), detected[b, j].tolist())
            w = (float(confidences[b, j]) * KEYPOINT_WEIGHTS[j]) ** 2
            num += _naive_penalty(d, delta) * w
            den += w
    return num / den if den else 0.0


# --- robust penalty -------------------------------------------------------------------------------------------

def test_robust_penalty_hand_values():
    target = torch.zeros(6, 2, dtype=torch.float64)
    pred = torch.tensor([[0, 0], [1, 0], [3, 4], [0, 4.999], [6, 8], [0, 2]], dtype=torch.float64)
    # d = 0, 1, 5, 4.999, 10, 2 -> d²/10 below 5, d − 2.5 from 5 on
    expected = [0.0, 0.1, 2.5, 4.999**2 / 10, 7.5, 0.4]
    assert torch.allclose(robust_penalty(pred, target), torch.tensor(expected, dtype=torch.float64))
    # another δ: d²/(2δ), d − δ/2
    got = robust_penalty(pred[[1, 2]], target[:2], delta=2.0)
    assert torch.allclose(got, torch.tensor([0.25, 4.0], dtype=torch.float64))


def test_robust_penalty_is_continuous_and_has_finite_gradient_at_zero():
    delta = 5.0
    below = robust_penalty(torch.tensor([delta - 1e-9, 0.0]), torch.zeros(2))
    above = robust_penalty(torch.tensor([delta + 1e-9, 0.0]), torch.zeros(2))
    assert abs(float(below - above)) < 1e-6
    x = torch.zeros(4, 2, dtype=torch.float64, requires_grad=True)
    robust_penalty(x, torch.zeros(4, 2, dtype=torch.float64)).sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))  # the reference code's sqrt(0) gave NaN here


# --- E_loc ----------------------------------------------------------------------------------------------------

def test_joint_location_hand_worked():
    detected = torch.zeros(1, 21, 2)
    projected = torch.zeros(1, 21, 2)
    projected[0, 0] = torch.tensor([3.0, 4.0])  # wrist, d = 5: f = 2.5, weight (1·2)² = 4
    projected[0, 4] = torch.tensor([0.0, 2.0])  # thumb tip, d = 2: f = 0.4, weight 1.5² = 2.25
    projected[0, 1] = torch.tensor([6.0, 8.0])  # thumb CMC, d = 10: f = 7.5, weight (0.5·1)² = 0.25
    conf = torch.ones(1, 21)
    conf[0, 1] = 0.5
    # Σ weights = 4 (wrist) + 5·2.25 (tips) + 0.25 (joint 1) + 14·1 (the rest) = 29.5
    expected = (2.5 * 4 + 0.4 * 2.25 + 7.5 * 0.25) / 29.5
    assert joint_location_loss(projected, detected, conf).item() == pytest.approx(expected, rel=1e-6)
    # (B, 21, 1) confidences, as the detection files store them, give the same
    assert joint_location_loss(projected, detected, conf[..., None]).item() == pytest.approx(expected, rel=1e-6)


def test_joint_location_weights_wrist_and_tips():
    assert KEYPOINT_WEIGHTS[0] == 2.0
    assert [KEYPOINT_WEIGHTS[j] for j in (4, 8, 12, 16, 20)] == [1.5] * 5
    assert sum(KEYPOINT_WEIGHTS) == 2.0 + 5 * 1.5 + 15 * 1.0
    # one wrong joint at a time, all others exact: the loss ratio is the squared weight ratio
    detected = torch.zeros(1, 21, 2)

    def single(joint: int) -> float:
        projected = detected.clone()
        projected[0, joint] = torch.tensor([1.0, 0.0])
        return joint_location_loss(projected, detected, torch.ones(1, 21)).item()

    assert single(0) / single(5) == pytest.approx(4.0)  # wrist 2² vs 1²
    assert single(8) / single(5) == pytest.approx(2.25)  # tip 1.5² vs 1²


def test_joint_location_matches_naive_loops():
    for seed in range(3):
        projected, detected, conf = _random_case(seed=seed)
        assert joint_location_loss(projected, detected, conf).item() == pytest.approx(
            _naive_location(projected, detected, conf), rel=1e-10)
        assert joint_location_loss(projected, detected, conf, delta=3.0).item() == pytest.approx(
            _naive_location(projected, detected, conf, 3.0), rel=1e-10)


def test_joint_location_zero_confidence_is_zero_not_nan():
    projected, detected, _ = _random_case(dtype=torch.float32)
    projected.requires_grad_(True)
    loss = joint_location_loss(projected, detected, torch.zeros(3, 21))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(projected.grad).all() and not projected.grad.any()


def test_joint_location_gradcheck():
    projected, detected, conf = _random_case(batch=2, seed=4)
    projected.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: joint_location_loss(p, detected, conf), (projected,))


# --- E_ori ----------------------------------------------------------------------------------------------------

def _naive_orientation(projected, detected, conf) -> float:
    total = 0.0
    for b in range(projected.shape[0]):
        for parent, child in FREIHAND_BONES:
            unit = []
            for points in (detected, projected):
                vx, vy = (points[b, child] - points[b, parent]).tolist()
                length = math.hypot(vx, vy) + 1e-4
                unit.append((vx / length, vy / length))
            diff = (unit[0][0] - unit[1][0]) ** 2 + (unit[0][1] - unit[1][1]) ** 2
            total += float(conf[b, parent] * conf[b, child]) * diff
    return total / (projected.shape[0] * len(FREIHAND_BONES))


def test_bone_orientation_hand_worked():
    # every detected bone points along +x; only the projected pinky tip bone (19 -> 20) turns to +y
    detected = torch.stack([torch.arange(21.0), torch.zeros(21)], -1)[None]
    detected[0, 20] = torch.tensor([21.0, 0.0])  # bone 19 -> 20 = (2, 0)
    projected = detected.clone()
    projected[0, 20] = torch.tensor([19.0, 1.0])  # bone 19 -> 20 = (0, 1)
    conf = torch.ones(1, 21, dtype=torch.float64)
    conf[0, 19], conf[0, 20] = 0.5, 0.8  # bone weight 0.4
    # unit vectors (2, 0)/2.0001 and (0, 1)/1.0001: squared difference (2/2.0001)² + (1/1.0001)²
    expected = 0.4 * ((2 / 2.0001) ** 2 + (1 / 1.0001) ** 2) / 20
    got = bone_orientation_loss(projected.double(), detected.double(), conf)
    assert got.item() == pytest.approx(expected, rel=1e-12)


def test_bone_orientation_matches_naive_loops():
    for seed in range(3):
        projected, detected, conf = _random_case(seed=seed)
        assert bone_orientation_loss(projected, detected, conf).item() == pytest.approx(
            _naive_orientation(projected, detected, conf), rel=1e-10)


def test_bone_orientation_degenerate_bones_and_zero_confidence():
    projected = torch.zeros(2, 21, 2, requires_grad=True)  # every bone has length 0
    detected = torch.rand(2, 21, 2)
    loss = bone_orientation_loss(projected, detected, torch.ones(2, 21))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(projected.grad).all()
    assert bone_orientation_loss(detected + 1, detected, torch.zeros(2, 21)).item() == 0.0


def test_bone_orientation_gradcheck():
    projected, detected, conf = _random_case(batch=2, seed=5)
    projected.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: bone_orientation_loss(p, detected, conf), (projected,))


# --- E_2d and E_cons ------------------------------------------------------------------------------------------

def test_2d_branch_sums_every_stack():
    projected, detected, conf = _random_case(seed=6)
    single = joint_location_loss(projected, detected, conf)
    # stack 1 exact (0), stack 2 the projected keypoints: sum = E_loc of stack 2
    stacks = torch.stack([detected, projected])
    assert keypoint_2d_branch_loss(stacks, detected, conf).item() == pytest.approx(single.item(), rel=1e-12)
    assert keypoint_2d_branch_loss([detected, projected], detected, conf).item() == pytest.approx(single.item())
    assert keypoint_2d_branch_loss(projected, detected, conf).item() == pytest.approx(single.item())
    two = keypoint_2d_branch_loss(torch.stack([projected, projected]), detected, conf)
    assert two.item() == pytest.approx(2 * single.item(), rel=1e-12)
    # naive: one E_loc per stack, added
    other = projected.flip(0)
    naive = _naive_location(projected, detected, conf) + _naive_location(other, detected, conf)
    assert keypoint_2d_branch_loss([projected, other], detected, conf).item() == pytest.approx(naive, rel=1e-10)


def test_2d_branch_zero_confidence_and_gradcheck():
    projected, detected, conf = _random_case(batch=2, seed=7)
    assert keypoint_2d_branch_loss(torch.stack([projected] * 2), detected, torch.zeros(2, 21)).item() == 0.0
    stacks = torch.stack([projected, projected + 1]).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda s: keypoint_2d_branch_loss(s, detected, conf), (stacks,))


def test_consistency_hand_worked_and_gradients_reach_both_branches():
    projected = torch.zeros(1, 21, 2, requires_grad=True)
    branch = torch.zeros(1, 21, 2)
    branch[0, 0] = torch.tensor([3.0, 4.0])  # d = 5: 2.5; joint 7 at d = 1: 0.1; unweighted mean over 21
    branch[0, 7] = torch.tensor([0.0, 1.0])
    branch.requires_grad_(True)
    loss = consistency_loss(projected, branch)
    assert loss.item() == pytest.approx((2.5 + 0.1) / 21)
    loss.backward()
    assert projected.grad.abs().sum() > 0 and branch.grad.abs().sum() > 0
    assert torch.allclose(projected.grad, -branch.grad)


def test_consistency_matches_naive_and_gradcheck():
    projected, branch, _ = _random_case(seed=8)
    naive = sum(_naive_penalty(math.dist(projected[b, j].tolist(), branch[b, j].tolist()))
                for b in range(3) for j in range(21)) / 63
    assert consistency_loss(projected, branch).item() == pytest.approx(naive, rel=1e-10)
    p, q = projected[:2].clone().requires_grad_(True), branch[:2].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(consistency_loss, (p, q))


def test_shape_errors():
    with pytest.raises(ValueError, match="21, 2"):
        joint_location_loss(torch.zeros(2, 16, 2), torch.zeros(2, 16, 2), torch.ones(2, 16))
    with pytest.raises(ValueError, match="confidences"):
        bone_orientation_loss(torch.zeros(2, 21, 2), torch.zeros(2, 21, 2), torch.ones(2, 20))
