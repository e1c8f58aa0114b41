"""Checkpoint → predictions → metrics and benchmark submissions (`s2hand evaluate`, `s2hand submit --checkpoint`).

Predictions are in our internal frame: FreiHAND joint order, OpenCV camera, metres; the submission writer converts
to each benchmark's order and convention.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from s2hand.config import loads_spec
from s2hand.config.spec import ExperimentSpec
from s2hand.models.s2hand import S2Hand
from s2hand.train.checkpoint import load_checkpoint
from s2hand.train.factory import build_model, resolve_device


@dataclass
class Predictions:
    """Per sample, in dataset order: joints (N, 21, 3) and vertices (N, 778, 3) in metres (OpenCV), projected
    joints (N, 21, 2) px, local rotations (N, 16, 3), betas (N, 10), lighted face colours (N, F, 3) with canonical
    normals (for texture S.D.), sequence ids and frame indices."""

    joints: np.ndarray
    vertices: np.ndarray
    joints2d: np.ndarray
    rotations: np.ndarray
    betas: np.ndarray
    lighted_textures: np.ndarray | None
    sequence: np.ndarray
    frame: np.ndarray


def load_trained_model(checkpoint: str | os.PathLike, device: str = "auto") -> tuple[S2Hand, ExperimentSpec]:
    """The network of a training checkpoint (weights_only), with the spec it was trained with."""
    payload = load_checkpoint(checkpoint, "cpu")
    spec = loads_spec(payload["spec"], source=f"{checkpoint}:spec")
    model = build_model(spec)
    model.load_state_dict(payload["model"])
    return model.to(resolve_device(device)).eval(), spec


@torch.no_grad()
def predict(model: S2Hand, dataset, batch_size: int = 32, num_workers: int = 0, progress: bool = True) -> Predictions:
    from s2hand.render import shade_faces

    device = next(model.parameters()).device
    parts: dict[str, list[np.ndarray]] = {k: [] for k in
                                          ("joints", "vertices", "joints2d", "rotations", "betas", "lit", "sequence", "frame")}
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers)
    for batch in tqdm(loader, desc="predict", unit="batch", disable=not progress):
        K = batch["K"].to(device) if "K" in batch else None
        out = model(batch["image"].to(device), K, render=False, keypoints2d=False)
        parts["joints"].append(out["joints3d"].cpu().numpy())
        parts["vertices"].append(out["vertices"].cpu().numpy())
        parts["joints2d"].append(out["joints2d"].cpu().numpy())
        parts["rotations"].append(out["rotations"].cpu().numpy())
        parts["betas"].append(out["betas"].cpu().numpy())
        if "face_colors" in out:
            parts["lit"].append(shade_faces(out["face_colors"], model.canonical_normals, out["lighting"]).cpu().numpy())
        parts["sequence"].append(batch["sequence"].numpy())
        parts["frame"].append(batch["frame"].numpy())
    joined = {k: np.concatenate(v) if v else None for k, v in parts.items()}
    return Predictions(joined["joints"], joined["vertices"], joined["joints2d"], joined["rotations"], joined["betas"],
                       joined["lit"], joined["sequence"], joined["frame"])


def ground_truth(dataset) -> dict[str, np.ndarray]:
    """What the split's ground truth holds (joints3d, vertices, 2D detections), gathered in dataset order."""
    keys = ("joints3d", "vertices", "keypoints2d", "confidence")
    gathered: dict[str, list] = {k: [] for k in keys}
    for batch in DataLoader(dataset, batch_size=64, shuffle=False):
        for k in keys:
            if k in batch:
                gathered[k].append(batch[k].numpy())
    return {k: np.concatenate(v) for k, v in gathered.items() if v}


def evaluate_predictions(pred: Predictions, truth: dict[str, np.ndarray], fps: float | None = None,
                         n: int = 3, interval: int = 3) -> dict:
    """Every metric the ground truth allows: FreiHAND scores (3D), 2D error/PCK vs detections, and for video
    splits ACC / ACC-ERR, quaternion smoothness, texture and shape S.D."""
    from s2hand.evaluation.appearance import shape_sd, texture_sd
    from s2hand.evaluation.keypoints2d import mpjpe_2d
    from s2hand.evaluation.scoring import scalar_scores, score_freihand
    from s2hand.evaluation.temporal import acceleration_metrics, quaternion_smoothness

    results: dict = {}
    if "joints3d" in truth and "vertices" in truth:
        scores = score_freihand(pred.joints, pred.vertices, truth["joints3d"], truth["vertices"])
        results.update(scalar_scores(scores))
        results["curves"] = {k: np.asarray(v).tolist() for k, v in scores.get("curves", {}).items()}
    if "keypoints2d" in truth and "confidence" in truth:
        valid = torch.as_tensor(truth["confidence"] > 0)
        if bool(valid.any()):
            results["mpjpe_2d_px"] = mpjpe_2d(torch.as_tensor(pred.joints2d), torch.as_tensor(truth["keypoints2d"]), valid)
    video = len(np.unique(pred.sequence)) < len(pred.sequence)
    if video:
        order = np.lexsort((pred.frame, pred.sequence))  # metrics need each sequence's frames in time order
        seq = pred.sequence[order]
        acc = acceleration_metrics(pred.joints[order], seq, truth["joints3d"][order] if "joints3d" in truth else None, fps)
        results.update({k: v for k, v in acc.items() if k != "per_sequence"})
        results["acc_per_sequence"] = acc["per_sequence"]
        results["quat_loss"] = quaternion_smoothness(pred.rotations[order], seq, n, interval)["quat_loss"]
        results["shape_sd"] = shape_sd(pred.betas[order], seq)
        if pred.lighted_textures is not None:
            results["texture_sd"] = texture_sd(pred.lighted_textures[order].reshape(len(order), -1), seq)
    return results


BENCHMARK_LAYOUTS = {"freihand": "freihand", "ho3d-v2": "ho3d", "ho3d-v3": "ho3d"}


def checkpoint_submission(checkpoint: str | os.PathLike, benchmark: str, data_root: str | os.PathLike,
                          out: str | os.PathLike, *, count: int | None = None, device: str = "auto",
                          batch_size: int = 32):
    """Predict the benchmark's evaluation split with a checkpoint and write a validated submission zip.

    FreiHAND: evaluation/rgb order, OpenCV, FreiHAND joint order. HO-3D: evaluation.txt order, HO-3D joint
    order, OpenGL for joints and vertices. ``count`` overrides the official sample count (synthetic data).
    """
    from s2hand.config.spec import DataSpec
    from s2hand.data import build_dataset
    from s2hand.evaluation.submission import export_submission

    if benchmark not in BENCHMARK_LAYOUTS:
        from s2hand.errors import S2HandError

        raise S2HandError(f"unknown benchmark {benchmark!r}: use one of {', '.join(BENCHMARK_LAYOUTS)}")
    model, spec = load_trained_model(checkpoint, device)
    data = DataSpec(layout=BENCHMARK_LAYOUTS[benchmark], root=Path(data_root).resolve(),
                    image_size=spec.data.image_size)
    dataset = build_dataset(data, "evaluation", train=False)
    pred = predict(model, dataset, batch_size)
    return export_submission(out, pred.joints, pred.vertices, benchmark, count)
