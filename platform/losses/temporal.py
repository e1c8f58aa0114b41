"""Video losses of S2HAND(V): E_quat (Eq. 17-20), E_T&S (Eq. 21-22), and the two Table 4 baselines.

Every input is laid out (m sequences, n frames, ...): the n frames of one sequence, in time order, sampled
`interval` frames apart by the data pipeline (the losses never see the interval).
"""
from __future__ import annotations

import torch

from s2hand.geometry.rotations import axis_angle_to_quaternion, quaternion_angle
from s2hand.render.shading import shade_faces

__all__ = [
    "quaternion_loss",
    "texture_shape_consistency_loss",
    "temporal_loss",
    "smooth_loss",
]


def _check_sequences(name: str, x: torch.Tensor, trailing: int) -> None:
    if x.dim() != 2 + trailing or x.shape[1] < 2:
        raise ValueError(f"{name} must be (m sequences, n >= 2 frames, ...) with {trailing} trailing dims, "
                         f"got {tuple(x.shape)}")


def quaternion_loss(rotations: torch.Tensor) -> torch.Tensor:
    """E_quat, Eq. 17-20: | Σ_{i=1}^{n−1} Ψ(H_i, H_{i+1}) − Ψ(H_1, H_n) | per sequence and joint, averaged.

    rotations (m, n, J, 3) axis-angle radians, J = 16 for [global R, 15 local joints with the mean pose]
    (``HandOutput.rotations`` reshaped). H = unit quaternions; Ψ = `quaternion_angle`, the rotation angle
    γ ∈ [0, π] of H_a⁻¹H_b from cos(γ/2) = |H_a·H_b| (sign-invariant, evaluated with atan2 for precision).
    Radians, mean over m·J. By the triangle inequality the inner difference is ≥ 0; it is 0 exactly when each
    joint moves along one great arc without turning back (fixed rotation axis, any speed profile, pauses
    allowed). n = 2 gives 0 identically.
    """
    _check_sequences("rotations", rotations, 2)
    if rotations.shape[-1] != 3:
        raise ValueError(f"rotations must end in 3 (axis-angle), got {tuple(rotations.shape)}")
    q = axis_angle_to_quaternion(rotations)  # (m, n, J, 4)
    path = quaternion_angle(q[:, :-1], q[:, 1:]).sum(1)  # (m, J)
    direct = quaternion_angle(q[:, 0], q[:, -1])
    return (path - direct).abs().mean()


def texture_shape_consistency_loss(
    face_colors: torch.Tensor,
    lighting: torch.Tensor,
    canonical_normals: torch.Tensor,
    betas: torch.Tensor,
) -> torch.Tensor:
    """E_T&S, Eq. 21-22: Σ_i ‖C_i^L − mean_i C^L‖_F + Σ_i ‖β_i − mean_i β‖₂ per sequence, averaged over sequences.

    face_colors (m, n, F, 3) albedo; lighting (m, n, 11); canonical_normals: unit face normals of the canonical
    zero-pose mesh, (F, 3) shared or (m, n, F, 3); betas (m, n, K). C^L = `shade_faces` (Eq. 22) with the canonical
    normals, so the term sees appearance, not the pose-dependent shading. Norms are NOT squared: Frobenius over
    the F×3 lit colours and L2 over the K shape coefficients, SUMMED over the n frames (as Eq. 21) and averaged
    over the m sequences. Units: RGB (Frobenius) + shape-PCA units.
    """
    _check_sequences("face_colors", face_colors, 2)
    m, n, faces, _ = face_colors.shape
    if lighting.shape[:2] != (m, n) or betas.shape[:2] != (m, n) or betas.dim() != 3:
        raise ValueError(f"lighting (m, n, 11) and betas (m, n, K) must match face_colors {(m, n)}, got "
                         f"{tuple(lighting.shape)} and {tuple(betas.shape)}")
    normals = canonical_normals if canonical_normals.dim() == 2 else canonical_normals.flatten(0, 1)
    lit = shade_faces(face_colors.flatten(0, 1), normals, lighting.flatten(0, 1)).view(m, n, faces, 3)
    texture = torch.linalg.vector_norm(lit - lit.mean(1, keepdim=True), dim=(-2, -1)).sum(1)  # (m,)
    shape = torch.linalg.vector_norm(betas - betas.mean(1, keepdim=True), dim=-1).sum(1)
    return (texture + shape).mean()


def _pose_steps(poses: torch.Tensor) -> torch.Tensor:
    if poses.dim() < 3 or poses.shape[1] < 2:
        raise ValueError(f"poses must be (m sequences, n >= 2 frames, ...), got {tuple(poses.shape)}")
    flat = poses.flatten(2)
    return torch.linalg.vector_norm(flat[:, 1:] - flat[:, :-1], dim=-1)  # (m, n − 1)


def temporal_loss(poses: torch.Tensor) -> torch.Tensor:
    """Table 4 baseline "temporal loss" ([65]): neighbouring poses pulled together.

    poses (m, n, ...) any pose vector per frame (the objective passes [θ PCA coefficients, R axis-angle]) ->
    mean over sequences and the n − 1 neighbouring pairs of ‖p_{i+1} − p_i‖² (squared L2 over the flattened pose).
    """
    return _pose_steps(poses).square().mean()


def smooth_loss(poses: torch.Tensor, threshold: float) -> torch.Tensor:
    """Table 4 baseline "smooth loss" ([36]): neighbouring pose change penalised only above a threshold.

    poses (m, n, ...) -> mean over sequences and neighbouring pairs of max(0, ‖p_{i+1} − p_i‖ − τ)², τ in pose
    units (``loss.smooth_threshold``). τ = 0 gives `temporal_loss`; changes up to τ cost nothing.
    """
    return (_pose_steps(poses) - threshold).clamp_min(0.0).square().mean()
