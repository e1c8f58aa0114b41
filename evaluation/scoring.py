"""The FreiHAND and HO-3D benchmark scores, as their official ``eval.py`` computes them, batched on one device.

Units as in the official ``scores.txt``: ``*_mean3d`` in cm, ``*_auc3d`` and F-scores in [0, 1]. The paper's names
are the Procrustes-aligned values: MPJPE = xyz_al_mean3d, AUC_J = xyz_al_auc3d, MPVPE = mesh_al_mean3d,
AUC_V = mesh_al_auc3d, F_5 = f_al_score_5, F_15 = f_al_score_15. ``curves`` holds the PCK curves (metres).
Inputs are in metres, prediction and ground truth in the same frame and joint order (FreiHAND: FreiHAND order,
OpenCV; HO-3D: HO-3D order, OpenGL); every metric here is invariant to the shared frame.
"""
from __future__ import annotations

import torch

from s2hand.evaluation.alignment import procrustes_align, scale_translation_align
from s2hand.evaluation.fscore import F_THRESHOLDS_M, f_scores
from s2hand.evaluation.pck import PCK_THRESHOLDS_M, point_distances, point_stats
from s2hand.evaluation.tensors import ArrayLike, as_float64, check_points, single_thread

NUM_JOINTS, NUM_VERTS = 21, 778
PAPER_NAMES = {
    "MPJPE": "xyz_al_mean3d",
    "AUC_J": "xyz_al_auc3d",
    "MPVPE": "mesh_al_mean3d",
    "AUC_V": "mesh_al_auc3d",
    "F_5": "f_al_score_5",
    "F_15": "f_al_score_15",
}


def score_freihand(
    pred_xyz: ArrayLike, pred_verts: ArrayLike, gt_xyz: ArrayLike, gt_verts: ArrayLike, device=None,
    f_method: str = "auto",
) -> dict:
    """FreiHAND scores of (N, 21, 3) joints and (N, 778, 3) vertices (metres, FreiHAND order, OpenCV)."""
    return _score(pred_xyz, pred_verts, gt_xyz, gt_verts, device, f_method, ho3d=False)


def score_ho3d(
    pred_xyz: ArrayLike, pred_verts: ArrayLike, gt_xyz: ArrayLike, gt_verts: ArrayLike, device=None,
    f_method: str = "auto",
) -> dict:
    """HO-3D scores: the FreiHAND keys plus ``xyz_procrustes_al_*`` (= ``xyz_al_*``) and ``xyz_scale_trans_al_*``
    (scale from the wrist→middle-MCP bone, then wrists together). Joints in HO-3D order; OpenGL like the GT."""
    return _score(pred_xyz, pred_verts, gt_xyz, gt_verts, device, f_method, ho3d=True)


def _score(pred_xyz, pred_verts, gt_xyz, gt_verts, device, f_method: str, ho3d: bool) -> dict:
    arrays = {"pred_xyz": pred_xyz, "pred_verts": pred_verts, "gt_xyz": gt_xyz, "gt_verts": gt_verts}
    t = {name: as_float64(value, device) for name, value in arrays.items()}
    with single_thread(t["gt_xyz"].device):
        return _score_tensors(t, f_method, ho3d)


def _score_tensors(t: dict[str, torch.Tensor], f_method: str, ho3d: bool) -> dict:
    for name, value in t.items():
        check_points(name, value, points=NUM_JOINTS if name.endswith("xyz") else NUM_VERTS)
        if value.shape[0] != t["gt_xyz"].shape[0]:
            raise ValueError(f"{name}: {value.shape[0]} samples, gt_xyz has {t['gt_xyz'].shape[0]}")
        if not torch.isfinite(value).all():
            raise ValueError(f"{name}: contains NaN or inf")
    xyz, verts, gt_xyz_t, gt_verts_t = t["pred_xyz"], t["pred_verts"], t["gt_xyz"], t["gt_verts"]
    xyz_al = procrustes_align(xyz, gt_xyz_t)
    verts_al = procrustes_align(verts, gt_verts_t)  # aligned on its own, as the official scorer does

    stats = {
        "xyz": point_stats(point_distances(xyz, gt_xyz_t)),
        "xyz_al": point_stats(point_distances(xyz_al, gt_xyz_t)),
        "mesh": point_stats(point_distances(verts, gt_verts_t)),
        "mesh_al": point_stats(point_distances(verts_al, gt_verts_t)),
    }
    if ho3d:
        stats["xyz_procrustes_al"] = stats["xyz_al"]
        stats["xyz_scale_trans_al"] = point_stats(point_distances(scale_translation_align(xyz, gt_xyz_t), gt_xyz_t))
    scores: dict = {}
    for prefix, s in stats.items():
        scores[f"{prefix}_mean3d"] = s.mean * 100.0  # metres -> cm, as the official scores.txt
        scores[f"{prefix}_auc3d"] = s.auc
    f_raw = f_scores(verts, gt_verts_t, F_THRESHOLDS_M, f_method).mean(0)
    f_al = f_scores(verts_al, gt_verts_t, F_THRESHOLDS_M, f_method).mean(0)
    for k, threshold in enumerate(F_THRESHOLDS_M):
        mm = round(threshold * 1000)
        scores[f"f_score_{mm}"] = float(f_raw[k])
        scores[f"f_al_score_{mm}"] = float(f_al[k])
    scores.update({paper: scores[official] for paper, official in PAPER_NAMES.items()})
    scores["curves"] = {"thresholds_m": PCK_THRESHOLDS_M.tolist(), **{k: s.curve.tolist() for k, s in stats.items()}}
    return scores


def scalar_scores(scores: dict) -> dict[str, float]:
    """The scores without the curves: the keys the official ``scores.txt`` and the paper's tables report."""
    return {k: v for k, v in scores.items() if not isinstance(v, dict)}
