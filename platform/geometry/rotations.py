"""Rotation conversions (batched torch, differentiable, stable at zero angle).

Conventions: axis-angle vectors r = θ·u; rotation matrices act on column vectors (p' = R p); quaternions are
(w, x, y, z) with w = cos(θ/2).
"""
from __future__ import annotations

import torch

_SMALL = 1e-6


def axis_angle_to_matrix(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 3, 3) rotation matrix (Rodrigues; Taylor series near zero)."""
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    small = theta2 < _SMALL**2
    theta2_safe = torch.where(small, torch.ones_like(theta2), theta2)
    theta = theta2_safe.sqrt()
    # sin(θ)/θ and (1 - cos θ)/θ², with their series for tiny θ so the gradient at 0 is exact.
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / theta2_safe)
    x, y, z = axis_angle.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], dim=-1).reshape(*axis_angle.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=axis_angle.dtype, device=axis_angle.device).expand_as(skew)
    return eye + a * skew + b * (skew @ skew)


def axis_angle_to_quaternion(axis_angle: torch.Tensor) -> torch.Tensor:
    """(..., 3) axis-angle -> (..., 4) unit quaternion (w, x, y, z), w >= 0 for angles <= π."""
    theta2 = (axis_angle * axis_angle).sum(-1, keepdim=True)
    small = theta2 < _SMALL**2
    theta = torch.where(small, torch.ones_like(theta2), theta2).sqrt()
    half_sinc = torch.where(small, 0.5 - theta2 / 48.0, torch.sin(theta / 2) / theta)
    w = torch.where(small, 1.0 - theta2 / 8.0, torch.cos(theta / 2))
    return torch.cat([w, axis_angle * half_sinc], dim=-1)


def quaternion_to_matrix(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) quaternion (w, x, y, z), normalised here -> (..., 3, 3)."""
    q = quaternion / quaternion.norm(dim=-1, keepdim=True)
    w, x, y, z = q.unbind(-1)
    m = torch.stack(
        [
            1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
            2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
            2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
        ],
        dim=-1,
    )
    return m.reshape(*quaternion.shape[:-1], 3, 3)


def matrix_to_quaternion(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) rotation matrix -> (..., 4) unit quaternion with w >= 0.

    Picks, per element, the best-conditioned of the four standard formulas (largest diagonal term).
    """
    m = matrix
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    candidates = torch.stack(
        [
            torch.stack([1 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1),
            torch.stack([m[..., 2, 1] - m[..., 1, 2], 1 + m00 - m11 - m22, m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], -1),
            torch.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0], 1 - m00 + m11 - m22, m[..., 1, 2] + m[..., 2, 1]], -1),
            torch.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0], m[..., 1, 2] + m[..., 2, 1], 1 - m00 - m11 + m22], -1),
        ],
        dim=-2,
    )  # (..., 4, 4): row k is 4·q·q_k for the k-th formula
    diag = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1)
    best = diag.argmax(-1, keepdim=True)
    row = torch.gather(candidates, -2, best[..., None].expand(*best.shape[:-1], 1, 4)).squeeze(-2)
    q = row / row.norm(dim=-1, keepdim=True)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(quaternion: torch.Tensor) -> torch.Tensor:
    """(..., 4) unit quaternion -> (..., 3) axis-angle with angle in [0, π]."""
    q = torch.where(quaternion[..., :1] < 0, -quaternion, quaternion)
    sin_half = q[..., 1:].norm(dim=-1, keepdim=True)
    half = torch.atan2(sin_half, q[..., :1])
    small = sin_half < _SMALL
    scale = torch.where(small, 2.0 / q[..., :1].clamp_min(_SMALL), 2.0 * half / sin_half.clamp_min(_SMALL))
    return q[..., 1:] * scale


def matrix_to_axis_angle(matrix: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) -> (..., 3) axis-angle with angle in [0, π]."""
    return quaternion_to_axis_angle(matrix_to_quaternion(matrix))


def quaternion_angle(q_a: torch.Tensor, q_b: torch.Tensor) -> torch.Tensor:
    """Rotation angle γ ∈ [0, π] between unit quaternions: cos(γ/2) = |q_a·q_b| (paper Eq. 19-20).

    Evaluated as 2·atan2(‖v‖, |w|) of the relative quaternion conj(q_a)⊗q_b = (w, v): acos loses all precision
    for the small frame-to-frame angles E_quat works with, and its gradient blows up at γ = 0.
    """
    w_a, v_a = q_a[..., :1], q_a[..., 1:]
    w_b, v_b = q_b[..., :1], q_b[..., 1:]
    w = (q_a * q_b).sum(-1)
    v = w_a * v_b - w_b * v_a - torch.linalg.cross(v_a, v_b, dim=-1)
    v_norm = ((v * v).sum(-1) + 1e-30).sqrt()  # smooth at v = 0
    return 2.0 * torch.atan2(v_norm, w.abs())
