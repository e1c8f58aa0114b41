"""Loss terms of S2HAND / S2HAND(V) as plain tensor functions, and the nested training objective.

    from s2hand.losses import S2HandObjective
    out = S2HandObjective(spec.loss, stage="finetune")(predictions)   # out.total, out.terms, out.groups

Each term is also usable alone (pytorch3d style): e.g. ``joint_location_loss(projected, detected, conf)``.
"""
from .keypoints import (
    KEYPOINT_WEIGHTS,
    bone_orientation_loss,
    consistency_loss,
    joint_location_loss,
    keypoint_2d_branch_loss,
    robust_penalty,
    weighted_mean,
)
from .objective import (
    SEQUENCE_TERMS,
    TERM_INPUTS,
    LossOutput,
    S2HandObjective,
    combine_loss_terms,
    compute_loss_terms,
    s2hand_objective,
)
from .photometric import (
    gaussian_window,
    masked_image,
    mean_color_loss,
    photometric_sample_weights,
    pixel_loss,
    ssim,
    ssim_loss,
)
from .regularizers import (
    MIDDLE_BONE_LENGTH_M,
    cotangent_laplacian,
    joint_angle_loss,
    laplacian_smoothness_loss,
    scale_loss,
    shape_loss,
    texture_outlier_loss,
)
from .temporal import quaternion_loss, smooth_loss, temporal_loss, texture_shape_consistency_loss

__all__ = [
    "KEYPOINT_WEIGHTS",
    "MIDDLE_BONE_LENGTH_M",
    "SEQUENCE_TERMS",
    "TERM_INPUTS",
    "LossOutput",
    "S2HandObjective",
    "bone_orientation_loss",
    "combine_loss_terms",
    "compute_loss_terms",
    "consistency_loss",
    "cotangent_laplacian",
    "gaussian_window",
    "joint_angle_loss",
    "joint_location_loss",
    "keypoint_2d_branch_loss",
    "laplacian_smoothness_loss",
    "masked_image",
    "mean_color_loss",
    "photometric_sample_weights",
    "pixel_loss",
    "quaternion_loss",
    "robust_penalty",
    "s2hand_objective",
    "scale_loss",
    "shape_loss",
    "smooth_loss",
    "ssim",
    "ssim_loss",
    "temporal_loss",
    "texture_outlier_loss",
    "texture_shape_consistency_loss",
    "weighted_mean",
]
