"""Statistical regularisers of E_regu (Eq. 9): E_β, E_C, E_s, E_J, and the reference code's Laplacian smoothness."""
from __future__ import annotations

import torch

from s2hand.hand.joint_limits import AXIS_WEIGHTS, JOINT_LIMITS_RAD
from s2hand.hand.joints import FREIHAND_MIDDLE_MCP, FREIHAND_MIDDLE_PIP, NUM_JOINTS

__all__ = [
    "MIDDLE_BONE_LENGTH_M",
    "shape_loss",
    "texture_outlier_loss",
    "scale_loss",
    "joint_angle_loss",
    "cotangent_laplacian",
    "laplacian_smoothness_loss",
]

MIDDLE_BONE_LENGTH_M = 0.0282  # middle MCP -> PIP length E_s pulls toward (FACTS §3)


def shape_loss(betas: torch.Tensor) -> torch.Tensor:
    """E_β: ‖β − β̄‖² with β̄ = 0, the squared L2 norm per sample averaged over the batch. betas (B, 10) -> scalar.

    Squared as the reference code (mse_loss); that mse_loss also divided by the 10 coefficients, this does not.
    """
    if betas.dim() != 2:
        raise ValueError(f"betas must be (B, K), got {tuple(betas.shape)}")
    return betas.square().sum(-1).mean()


def texture_outlier_loss(face_colors: torch.Tensor, *, detach_stats: bool = True) -> torch.Tensor:
    """E_C: linear penalty on face colours outside [μ − 2σ, μ + 2σ], μ and σ per image AND per channel.

    face_colors (B, F, 3), F ≥ 2 -> scalar: mean over B·F·3 of max(0, c − (μ+2σ)) + max(0, (μ−2σ) − c), σ the
    unbiased standard deviation over the F faces (torch.std, as the reference code). Statistics are per sample:
    the reference code's broadcasting compared every sample with every other sample's μ, σ. It also penalised
    c − μ (a jump of 2σ at the band edge); this is the continuous hinge on the part outside the band.
    detach_stats: treat μ, σ as constants, so the gradient pulls outliers in instead of widening the band
    (with live statistics, raising σ is the cheapest way to shrink the penalty).
    """
    if face_colors.dim() != 3 or face_colors.shape[-1] != 3 or face_colors.shape[1] < 2:
        raise ValueError(f"face_colors must be (B, F >= 2, 3), got {tuple(face_colors.shape)}")
    std, mean = torch.std_mean(face_colors, dim=1, keepdim=True)  # (B, 1, 3) each
    if detach_stats:
        std, mean = std.detach(), mean.detach()
    upper, lower = mean + 2.0 * std, mean - 2.0 * std
    return ((face_colors - upper).clamp_min(0.0) + (lower - face_colors).clamp_min(0.0)).mean()


def scale_loss(joints: torch.Tensor, bone_length: float = MIDDLE_BONE_LENGTH_M) -> torch.Tensor:
    """E_s: |‖J9 − J10‖ − 0.0282 m| averaged over the batch (middle MCP -> PIP, FreiHAND order; L1 as the reference).

    joints (B, 21, 3) camera-space metres (after the predicted scale) -> scalar in metres.
    """
    if joints.dim() != 3 or joints.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"joints must be (B, {NUM_JOINTS}, 3), got {tuple(joints.shape)}")
    length = torch.linalg.vector_norm(joints[:, FREIHAND_MIDDLE_PIP] - joints[:, FREIHAND_MIDDLE_MCP], dim=-1)
    return (length - bone_length).abs().mean()


def joint_angle_loss(local_pose: torch.Tensor) -> torch.Tensor:
    """E_J: linear hinge of each joint's local axis-angle components against the anatomical limits.

    local_pose (B, 15, 3) or (B, 45): the 15 local MANO joint rotations in MANO's kinematic order, axis-angle in
    radians WITH the mean pose added (``HandOutput.rotations[:, 1:]``). Components (x twist, y spread, z bend)
    are compared with `JOINT_LIMITS_RAD`: max(0, a − max) + max(0, min − a), weighted (1, 1, 2) by
    `AXIS_WEIGHTS`, averaged over B·15·3 (reference code). Radians. The global rotation is not limited.
    """
    pose = local_pose.reshape(local_pose.shape[0], 15, 3) if local_pose.dim() == 2 else local_pose
    if pose.dim() != 3 or pose.shape[1:] != (15, 3):
        raise ValueError(f"local_pose must be (B, 15, 3) or (B, 45), got {tuple(local_pose.shape)}")
    limits = torch.as_tensor(JOINT_LIMITS_RAD, dtype=pose.dtype, device=pose.device)  # (15, 3, 2)
    weights = torch.as_tensor(AXIS_WEIGHTS, dtype=pose.dtype, device=pose.device)
    excess = (pose - limits[..., 1]).clamp_min(0.0) + (limits[..., 0] - pose).clamp_min(0.0)
    return (excess * weights).mean()


def cotangent_laplacian(vertices: torch.Tensor, faces: torch.Tensor, *, eps: float = 1e-12) -> torch.Tensor:
    """Dense cotangent Laplacian (V, V) of a reference mesh: L_ij = ½ Σ cot of the angles opposite edge ij,
    L_ii = −Σ_j L_ij, so (L x)_i = Σ_j L_ij (x_j − x_i).

    vertices (V, 3), faces (F, 3) long. Built once from a fixed mesh (the reference code used the first predicted
    mesh it saw; the template or canonical mesh is the natural choice) and reused. Dense is cheap at V = 778
    (2.4 MB in float32) and works on every device and dtype. Degenerate faces get their cross-product norm clamped.
    """
    if vertices.dim() != 2 or vertices.shape[-1] != 3 or faces.dim() != 2 or faces.shape[-1] != 3:
        raise ValueError(f"expected vertices (V, 3) and faces (F, 3), got {tuple(vertices.shape)}, "
                         f"{tuple(faces.shape)}")
    faces = faces.long().to(vertices.device)
    corners = vertices[faces]  # (F, 3, 3): corner, xyz
    # for corner k, the two edges leaving it and the opposite edge (i, j)
    a = corners.roll(-1, dims=1) - corners
    b = corners.roll(1, dims=1) - corners
    cot = (a * b).sum(-1) / torch.linalg.vector_norm(torch.linalg.cross(a, b, dim=-1), dim=-1).clamp_min(eps)
    i, j = faces.roll(-1, dims=1).reshape(-1), faces.roll(1, dims=1).reshape(-1)
    n = vertices.shape[0]
    weights = vertices.new_zeros(n, n)
    half = 0.5 * cot.reshape(-1)
    weights.index_put_((i, j), half, accumulate=True)
    weights.index_put_((j, i), half, accumulate=True)
    return weights - torch.diag(weights.sum(-1))


def laplacian_smoothness_loss(vertices: torch.Tensor, laplacian: torch.Tensor) -> torch.Tensor:
    """Reference-code extra (not in the paper): mean over B·V of ‖(L x)_v‖₂, L a `cotangent_laplacian`.

    vertices (B, V, 3) metres, laplacian (V, V) -> scalar in metres (times the cotangent weights, dimensionless).
    Zero for a mesh that is harmonic under L, e.g. the interior of a flat patch.
    """
    if vertices.dim() != 3 or laplacian.shape != (vertices.shape[1], vertices.shape[1]):
        raise ValueError(f"expected vertices (B, V, 3) and laplacian (V, V), got {tuple(vertices.shape)}, "
                         f"{tuple(laplacian.shape)}")
    lx = torch.matmul(laplacian.to(vertices.dtype), vertices)
    return torch.linalg.vector_norm(lx, dim=-1).mean()
