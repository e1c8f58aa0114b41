"""Per-sample alignment of predictions to ground truth, batched, as the official FreiHAND / HO-3D scorers do it.

``procrustes_align`` is the official ``align_w_scale``: centre both point sets, divide each by its Frobenius norm
(+1e-8), solve orthogonal Procrustes by SVD with reflections ALLOWED (no determinant correction), then map the
prediction onto the ground truth's centre and norm. ``scale_translation_align`` is HO-3D's ``align_sc_tr``.
"""
from __future__ import annotations

import torch

_NORM_EPS = 1e-8  # the official scorer's guard, kept so aligned errors match it to the last digit


def procrustes_align(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(N, P, 3) prediction -> (N, P, 3) prediction similarity-aligned to gt, per sample (units of the input).

    Matches ``scipy.linalg.orthogonal_procrustes(gt_n, pred_n)``: R = U·Vᵀ from the SVD of gt_nᵀ·pred_n, scale =
    sum of its singular values; aligned = pred_n·Rᵀ·scale·‖gt_c‖ + mean(gt). The SVD is batched over samples.
    """
    gt_mean, pred_mean = gt.mean(1, keepdim=True), pred.mean(1, keepdim=True)
    gt_c, pred_c = gt - gt_mean, pred - pred_mean
    gt_norm = torch.linalg.vector_norm(gt_c, dim=(1, 2), keepdim=True) + _NORM_EPS
    pred_norm = torch.linalg.vector_norm(pred_c, dim=(1, 2), keepdim=True) + _NORM_EPS
    gt_n, pred_n = gt_c / gt_norm, pred_c / pred_norm
    u, s, vh = torch.linalg.svd(gt_n.transpose(1, 2) @ pred_n)
    rot = u @ vh  # may be a reflection, as in the official scorer
    scale = s.sum(-1)[:, None, None]
    return (pred_n @ rot.transpose(1, 2)) * scale * gt_norm + gt_mean


def scale_translation_align(pred: torch.Tensor, gt: torch.Tensor, root: int = 0, ref: int = 4) -> torch.Tensor:
    """(N, 21, 3) joints -> prediction scaled so ‖J_ref − J_root‖ matches gt, then translated so roots coincide.

    HO-3D's ``align_sc_tr`` with its defaults (HO-3D order: root = wrist 0, ref = middle MCP 4). As there, a
    prediction whose reference bone has zero length is not divided (only multiplied by the gt bone length).
    """
    pred_len = torch.linalg.vector_norm(pred[:, ref] - pred[:, root], dim=-1)[:, None, None]
    gt_len = torch.linalg.vector_norm(gt[:, ref] - gt[:, root], dim=-1)[:, None, None]
    pred = torch.where(pred_len > 0, pred / torch.where(pred_len > 0, pred_len, 1.0), pred) * gt_len
    return pred - pred[:, root : root + 1] + gt[:, root : root + 1]
