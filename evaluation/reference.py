"""The naive reference scorer: one sample at a time, in plain numpy/scipy, straight from the official ``eval.py``.

Kept to check the batched scorer (``scoring.py``) against, in tests and in ``benchmarks/bench_eval.py``; it is
the loop the official FreiHAND / HO-3D scorers run (Procrustes by ``scipy.linalg.orthogonal_procrustes`` per
sample, per-point error lists, PCK by a loop over thresholds, F-score by a KD-tree per sample; the official code
uses Open3D's KD-tree, scipy's gives the same nearest-neighbour distances). Not for production use: slow.
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import orthogonal_procrustes
from scipy.spatial import cKDTree


def align_w_scale(mtx1: np.ndarray, mtx2: np.ndarray) -> np.ndarray:
    """Official ``align_w_scale``: mtx2 (prediction) aligned to mtx1 (ground truth) by a similarity."""
    t1, t2 = mtx1.mean(0), mtx2.mean(0)
    mtx1_t, mtx2_t = mtx1 - t1, mtx2 - t2
    s1 = np.linalg.norm(mtx1_t) + 1e-8
    mtx1_t = mtx1_t / s1
    s2 = np.linalg.norm(mtx2_t) + 1e-8
    mtx2_t = mtx2_t / s2
    rot, s = orthogonal_procrustes(mtx1_t, mtx2_t)
    return np.dot(mtx2_t, rot.T) * s * s1 + t1


def align_sc_tr(mtx1: np.ndarray, mtx2: np.ndarray) -> np.ndarray:
    """HO-3D's ``align_sc_tr``: scale mtx2 so ‖J4 − J0‖ matches mtx1, then put its J0 on mtx1's."""
    pred = mtx2.copy()
    s = np.sqrt(np.sum(np.square(pred[4] - pred[0])))
    if s > 0:
        pred = pred / s
    pred = pred * np.sqrt(np.sum(np.square(mtx1[4] - mtx1[0])))
    return pred - pred[0:1, :] + mtx1[0:1, :]


class EvalUtil:
    """Official ``EvalUtil``: per-point error lists, then per-point mean, PCK and AUC, averaged over points."""

    def __init__(self, num_kp: int = 21):
        self.data: list[list[float]] = [[] for _ in range(num_kp)]

    def feed(self, keypoint_gt: np.ndarray, keypoint_pred: np.ndarray) -> None:
        dist = np.sqrt(np.sum(np.square(keypoint_gt - keypoint_pred), axis=1))
        for i, d in enumerate(dist):
            self.data[i].append(d)

    def get_measures(self, val_min: float, val_max: float, steps: int):
        thresholds = np.linspace(val_min, val_max, steps)
        norm_factor = np.trapezoid(np.ones_like(thresholds), thresholds)
        means, aucs, curves = [], [], []
        for part in self.data:
            data = np.array(part)
            means.append(np.mean(data))
            curve = np.array([np.mean((data <= t).astype("float")) for t in thresholds])
            curves.append(curve)
            aucs.append(np.trapezoid(curve, thresholds) / norm_factor)
        return float(np.mean(means)), float(np.mean(aucs)), np.mean(np.array(curves), 0), thresholds


def calculate_fscore(gt: np.ndarray, pr: np.ndarray, th: float) -> float:
    """Official ``calculate_fscore`` (nearest-neighbour distances both ways, strict <)."""
    d_gt = cKDTree(pr).query(gt)[0]  # for each gt point, its nearest prediction
    d_pr = cKDTree(gt).query(pr)[0]
    recall = float(np.sum(d_pr < th)) / len(d_pr)  # (the official names; F is symmetric)
    precision = float(np.sum(d_gt < th)) / len(d_gt)
    return 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0


def reference_score(pred_xyz, pred_verts, gt_xyz, gt_verts, ho3d: bool = False) -> dict:
    """The official scores of N samples (same keys and units as ``scoring.score_freihand`` / ``score_ho3d``)."""
    evals = {name: EvalUtil(21) for name in ("xyz", "xyz_al", "xyz_scale_trans_al")}
    evals.update({name: EvalUtil(778) for name in ("mesh", "mesh_al")})
    f_threshs = (0.005, 0.015)
    f_score, f_al_score = [], []
    for idx in range(len(gt_xyz)):
        xyz, verts = np.asarray(gt_xyz[idx], np.float64), np.asarray(gt_verts[idx], np.float64)
        xyz_pred, verts_pred = np.asarray(pred_xyz[idx], np.float64), np.asarray(pred_verts[idx], np.float64)
        evals["xyz"].feed(xyz, xyz_pred)
        evals["mesh"].feed(verts, verts_pred)
        evals["xyz_scale_trans_al"].feed(xyz, align_sc_tr(xyz, xyz_pred))
        xyz_pred_aligned = align_w_scale(xyz, xyz_pred)
        verts_pred_aligned = align_w_scale(verts, verts_pred)
        evals["xyz_al"].feed(xyz, xyz_pred_aligned)
        evals["mesh_al"].feed(verts, verts_pred_aligned)
        f_score.append([calculate_fscore(verts, verts_pred, th) for th in f_threshs])
        f_al_score.append([calculate_fscore(verts, verts_pred_aligned, th) for th in f_threshs])
    names = ["xyz", "xyz_al", "mesh", "mesh_al"] + (["xyz_scale_trans_al"] if ho3d else [])
    scores: dict = {}
    curves: dict = {}
    for name in names:
        mean, auc, curve, thresholds = evals[name].get_measures(0.0, 0.05, 100)
        scores[f"{name}_mean3d"], scores[f"{name}_auc3d"] = mean * 100.0, auc
        curves[name] = curve.tolist()
    if ho3d:
        scores["xyz_procrustes_al_mean3d"] = scores["xyz_al_mean3d"]
        scores["xyz_procrustes_al_auc3d"] = scores["xyz_al_auc3d"]
        curves["xyz_procrustes_al"] = curves["xyz_al"]
    f_score, f_al_score = np.mean(f_score, 0), np.mean(f_al_score, 0)
    for k, th in enumerate(f_threshs):
        scores[f"f_score_{round(th * 1000)}"] = float(f_score[k])
        scores[f"f_al_score_{round(th * 1000)}"] = float(f_al_score[k])
    scores.update(
        MPJPE=scores["xyz_al_mean3d"], AUC_J=scores["xyz_al_auc3d"], MPVPE=scores["mesh_al_mean3d"],
        AUC_V=scores["mesh_al_auc3d"], F_5=scores["f_al_score_5"], F_15=scores["f_al_score_15"],
    )
    scores["curves"] = {"thresholds_m": thresholds.tolist(), **curves}
    return scores
