"""Per-point errors, PCK curves and their AUC, as the official scorers' ``EvalUtil`` computes them.

Definitions (FreiHAND / HO-3D ``eval.py``): for each point (joint or vertex) the Euclidean errors of all samples;
mean error = mean over samples per point, then mean over points; PCK(t) per point = fraction of samples with
error ≤ t (inclusive); AUC per point = trapz(PCK, t) / trapz(1, t), then mean over points; the reported curve is
the mean of the per-point curves. Thresholds: linspace(0, 0.05 m, 100).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

PCK_THRESHOLDS_M = np.linspace(0.0, 0.05, 100)  # official: get_measures(0.0, 0.05, 100), metres
STB_THRESHOLDS_M = np.linspace(0.020, 0.050, 31)  # STB protocol: AUC of 3D PCK over 20-50 mm, 1 mm steps


@dataclass(frozen=True)
class PointStats:
    """Summary of per-point errors: ``mean`` in the input unit, ``auc`` in [0, 1], ``curve`` (T,) mean PCK."""

    mean: float
    auc: float
    curve: np.ndarray
    thresholds: np.ndarray


def point_distances(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """(N, P, D) and (N, P, D) -> (N, P) Euclidean error per sample and point (input unit)."""
    return torch.linalg.vector_norm(pred - gt, dim=-1)


def pck_curves(distances: torch.Tensor, thresholds: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(N, P) errors -> (P, T) fraction of samples with error ≤ t, per point (inclusive, as the official ≤).

    Sorting each point's errors once and counting with a binary search keeps this O(N log N) per point instead
    of materialising an (N, P, T) comparison.
    """
    t = torch.as_tensor(thresholds, dtype=distances.dtype, device=distances.device)
    ordered = distances.transpose(0, 1).contiguous().sort(dim=1).values  # (P, N)
    counts = torch.searchsorted(ordered, t.expand(ordered.shape[0], -1).contiguous(), right=True)
    return counts.to(distances.dtype) / distances.shape[0]


def auc(curves: torch.Tensor, thresholds: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(..., T) PCK curves -> (...) normalised area: trapz(pck, t) / trapz(1, t)."""
    t = torch.as_tensor(thresholds, dtype=curves.dtype, device=curves.device)
    return torch.trapezoid(curves, t, dim=-1) / torch.trapezoid(torch.ones_like(t), t)


def point_stats(distances: torch.Tensor, thresholds: np.ndarray = PCK_THRESHOLDS_M) -> PointStats:
    """(N, P) errors -> mean error (mean over samples per point, then over points), mean AUC and mean curve."""
    curves = pck_curves(distances, thresholds)
    return PointStats(
        mean=float(distances.mean(0).mean()),
        auc=float(auc(curves, thresholds).mean()),
        curve=curves.mean(0).cpu().numpy(),
        thresholds=np.asarray(thresholds, dtype=np.float64),
    )


def stb_auc(distances: torch.Tensor, thresholds: np.ndarray = STB_THRESHOLDS_M) -> PointStats:
    """STB's 3D PCK AUC over 20-50 mm: ``point_stats`` with thresholds 0.020...0.050 m (distances in metres).

    Pass root-relative joints if the protocol in use aligns roots first; this function only scores distances.
    """
    return point_stats(distances, thresholds)
