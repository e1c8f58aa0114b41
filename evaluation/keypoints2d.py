"""2D keypoint accuracy in pixels (paper Fig. 7): MPJPE and the fraction of joints within a distance.

Unlike the 3D ``EvalUtil`` (a curve per joint, then averaged) the 2D curve pools all valid (sample, joint)
pairs, as "fraction of joints within distance" plots do; with every joint valid the two coincide.
"""
from __future__ import annotations

import numpy as np
import torch

from s2hand.evaluation.tensors import ArrayLike, as_float64

PCK2D_THRESHOLDS_PX = np.linspace(0.0, 50.0, 51)


def _distances(pred: ArrayLike, gt: ArrayLike, valid: ArrayLike | None) -> torch.Tensor:
    pred, gt = as_float64(pred, "cpu"), as_float64(gt, "cpu")
    if pred.shape != gt.shape or pred.shape[-1] != 2:
        raise ValueError(f"expected matching (..., 2) pixel coordinates, got {tuple(pred.shape)} and {tuple(gt.shape)}")
    d = torch.linalg.vector_norm(pred - gt, dim=-1)
    if valid is None:
        return d.reshape(-1)
    return d[torch.as_tensor(np.asarray(valid), dtype=torch.bool)]


def mpjpe_2d(pred: ArrayLike, gt: ArrayLike, valid: ArrayLike | None = None) -> float:
    """Mean pixel distance over all (valid) joints. pred, gt (N, 21, 2) px; valid (N, 21) bool or None."""
    return float(_distances(pred, gt, valid).mean())


def pck_2d(
    pred: ArrayLike, gt: ArrayLike, thresholds: np.ndarray = PCK2D_THRESHOLDS_PX, valid: ArrayLike | None = None
) -> np.ndarray:
    """(T,) fraction of (valid) joints with pixel error ≤ t (inclusive, like the 3D PCK)."""
    d = _distances(pred, gt, valid).sort().values
    t = torch.as_tensor(thresholds, dtype=d.dtype, device=d.device)
    return (torch.searchsorted(d, t, right=True).to(d.dtype) / d.numel()).cpu().numpy()
