"""2D keypoint losses: E_loc (Eq. 3), E_ori (Eq. 4), E_2d (Eq. 10), E_cons (Eq. 11) and their robust penalty.

All keypoints are (B, 21, 2) pixel coordinates in FreiHAND order (``s2hand.hand.joints``); confidences are (B, 21)
or (B, 21, 1) in [0, 1]. Every loss returns a scalar and is 0 (never NaN) when all its weights are 0.
"""
from __future__ import annotations

from typing import Sequence

import torch

from s2hand.hand.joints import FREIHAND_BONES, FREIHAND_TIPS, FREIHAND_WRIST, NUM_JOINTS

__all__ = [
    "KEYPOINT_WEIGHTS",
    "robust_penalty",
    "joint_location_loss",
    "bone_orientation_loss",
    "keypoint_2d_branch_loss",
    "consistency_loss",
    "weighted_mean",
]

# Per-joint weights w_j of E_loc / E_2d (FACTS §3): wrist 2, fingertips 1.5, all other joints 1.
KEYPOINT_WEIGHTS: tuple[float, ...] = tuple(
    2.0 if j == FREIHAND_WRIST else 1.5 if j in FREIHAND_TIPS else 1.0 for j in range(NUM_JOINTS)
)
_BONE_PARENTS = tuple(parent for parent, _ in FREIHAND_BONES)
_BONE_CHILDREN = tuple(child for _, child in FREIHAND_BONES)
_BONE_EPS = 1e-4  # added to the bone length before normalising (reference code)


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ w·v / Σ w over all elements (broadcast), defined as 0 when Σ w = 0 (no NaN in value or gradient)."""
    weights = weights.expand_as(values) if weights.shape != values.shape else weights
    total = weights.sum()
    nonzero = total > 0
    # the double `where` keeps the unused branch finite, so its gradient is 0 rather than NaN
    return torch.where(nonzero, (weights * values).sum() / torch.where(nonzero, total, torch.ones_like(total)),
                       torch.zeros_like(total))


def robust_penalty(pred: torch.Tensor, target: torch.Tensor, delta: float = 5.0) -> torch.Tensor:
    """Huber penalty divided by δ on the Euclidean distance d = ‖pred − target‖ over the last axis.

    f(d) = d² / (2δ) for d < δ, d − δ/2 otherwise (δ = 5 px: d²/10, d − 2.5, the reference code's "SmoothL1").
    pred, target (..., D) -> (...,). Computed from d² below δ, so the gradient at d = 0 is 0; the reference code's
    sqrt of a zero distance has an infinite derivative there (NaN gradient).
    """
    sq = (pred - target).square().sum(-1)
    delta_sq = delta * delta
    inside = sq < delta_sq
    far = sq.clamp_min(delta_sq).sqrt() - 0.5 * delta  # clamped: sqrt never sees 0 in the branch not taken
    return torch.where(inside, sq / (2.0 * delta), far)


def _confidence(confidences: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    c = confidences[..., 0] if confidences.dim() == like.dim() else confidences
    if c.shape != like.shape[:-1]:
        raise ValueError(f"confidences must be {tuple(like.shape[:-1])} (or with a trailing 1), "
                         f"got {tuple(confidences.shape)}")
    return c.to(like.dtype)


def _check_keypoints(name: str, points: torch.Tensor) -> None:
    if points.dim() != 3 or points.shape[1:] != (NUM_JOINTS, 2):
        raise ValueError(f"{name} must be (B, {NUM_JOINTS}, 2) pixels, got {tuple(points.shape)}")


def joint_location_loss(
    projected: torch.Tensor, detected: torch.Tensor, confidences: torch.Tensor, *, delta: float = 5.0
) -> torch.Tensor:
    """E_loc, Eq. 3: confidence-weighted robust distance between projected 3D joints and 2D detections.

    projected, detected (B, 21, 2) px; confidences (B, 21) or (B, 21, 1). Returns a scalar in px (robust units):
    Σ f(d)·(c·w)² / Σ (c·w)² over the batch and joints, f = `robust_penalty`, w = `KEYPOINT_WEIGHTS` (wrist 2,
    tips 1.5, else 1); this squared, batch-normalised weighting follows the reference code. 0 when every
    confidence is 0.
    """
    _check_keypoints("projected", projected)
    _check_keypoints("detected", detected)
    c = _confidence(confidences, projected)
    w = c * projected.new_tensor(KEYPOINT_WEIGHTS)
    return weighted_mean(robust_penalty(projected, detected, delta), w.square())


def bone_orientation_loss(projected: torch.Tensor, detected: torch.Tensor, confidences: torch.Tensor) -> torch.Tensor:
    """E_ori, Eq. 4: squared difference of unit 2D bone directions, weighted by c_parent·c_child.

    projected, detected (B, 21, 2) px; confidences (B, 21) or (B, 21, 1). Bones: the 20 of `FREIHAND_BONES`.
    Directions are v / (‖v‖ + 1e-4) (reference code), so a zero-length bone gives a zero vector, not NaN.
    Returns the plain mean over batch and bones of c_p·c_c·‖ν_de − ν_pro‖² (dimensionless, in [0, 4]).
    """
    _check_keypoints("projected", projected)
    _check_keypoints("detected", detected)
    c = _confidence(confidences, projected)
    parents = torch.as_tensor(_BONE_PARENTS, device=projected.device)
    children = torch.as_tensor(_BONE_CHILDREN, device=projected.device)

    def directions(points: torch.Tensor) -> torch.Tensor:
        bones = points[:, children] - points[:, parents]  # (B, 20, 2)
        # vector_norm's gradient at 0 is 0, so degenerate bones stay finite
        return bones / (torch.linalg.vector_norm(bones, dim=-1, keepdim=True) + _BONE_EPS)

    bone_conf = c[:, parents] * c[:, children]
    return (bone_conf * (directions(detected) - directions(projected)).square().sum(-1)).mean()


def keypoint_2d_branch_loss(
    stacks: torch.Tensor | Sequence[torch.Tensor],
    detected: torch.Tensor,
    confidences: torch.Tensor,
    *,
    delta: float = 5.0,
) -> torch.Tensor:
    """E_2d, Eq. 10: `joint_location_loss` of the 2D branch's keypoints against the detections, every stack.

    stacks: the integral keypoints of each hourglass stack, (S, B, 21, 2), a sequence of S (B, 21, 2) tensors, or
    one (B, 21, 2) tensor (S = 1). detected (B, 21, 2) px; confidences (B, 21) or (B, 21, 1).
    Returns the SUM over stacks (reference code: intermediate supervision of every stack; w_2d was tuned on this
    sum). The penalty and weights are E_loc's (the paper's "as in Eq. 3"); the reference code used the plain
    distance with c² weights and no per-joint weights here.
    """
    if isinstance(stacks, torch.Tensor):
        stacks = stacks[None] if stacks.dim() == 3 else stacks
        if stacks.dim() != 4:
            raise ValueError(f"stacks must be (S, B, 21, 2) or (B, 21, 2), got {tuple(stacks.shape)}")
    else:
        stacks = torch.stack(tuple(stacks))
    _check_keypoints("detected", detected)
    if stacks.shape[1:] != detected.shape:
        raise ValueError(f"each stack must match detected {tuple(detected.shape)}, got {tuple(stacks.shape[1:])}")
    c = _confidence(confidences, detected)
    w = (c * detected.new_tensor(KEYPOINT_WEIGHTS)).square()
    per_stack = robust_penalty(stacks, detected[None], delta)  # (S, B, 21)
    # Σ_s E_loc(stack s) = S · (weighted mean over all stacks), since the stacks share one normaliser
    return stacks.shape[0] * weighted_mean(per_stack, w.expand_as(per_stack))


def consistency_loss(projected: torch.Tensor, branch: torch.Tensor, *, delta: float = 5.0) -> torch.Tensor:
    """E_cons, Eq. 11: unweighted mean over batch and joints of the robust distance between projected 3D joints
    and the 2D branch's keypoints (the reference code uses the last hourglass stack). Both (B, 21, 2) px.

    Neither input is detached: the gradient reaches both branches (the point of the 2D-3D consistency).
    """
    _check_keypoints("projected", projected)
    _check_keypoints("branch", branch)
    return robust_penalty(projected, branch, delta).mean()
