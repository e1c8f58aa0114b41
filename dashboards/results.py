"""Result files the dashboards read, and writers for the two that ``s2hand evaluate`` does not write yet.

``scores.json`` (written by ``s2hand evaluate``; logged as a run artifact of that name): scalar scores (FreiHAND
keys and the paper's names, ``acc``, ``quat_loss``, ``texture_sd``, ``shape_sd``, ...) plus
  - ``curves``: ``thresholds_m`` and one 3D PCK curve per key (``xyz``, ``xyz_al``, ``mesh``, ``mesh_al``);
  - ``curves_2d`` (optional, Fig. 7): ``thresholds_px`` and one 2D PCK curve per keypoint set, e.g. ``projected``,
    ``predicted``, ``detected`` (fraction of joints within the distance; ``s2hand.evaluation.keypoints2d.pck_2d``);
  - ``acc_per_sequence``: ``ids`` and per-sequence ``acc`` (and ``acc_err``), metres per frame².
  Scores of a split other than the run's evaluation split go to ``scores.<split>.json`` (e.g. ``scores.train.json``
  for Table 5's train-set columns).

``predictions.npz`` (``write_predictions``): per frame ``joints`` (N, 21, 3) metres, FreiHAND order; ``sequence``
(N,) ids (int or str); ``frame`` (N,) int; optional ``gt_joints`` (N, 21, 3) and ``betas`` (N, 10).

``reconstructions.npz`` (``write_reconstructions``): for K chosen eval samples ``images`` (K, H, W, 3) uint8,
``keypoints`` (K, 21, 2) projected joints in pixels, ``vertices`` (K, V, 3) metres (camera frame), ``faces`` (F, 3)
int, ``face_colors`` (K, F, 3) lit colours in [0, 1]; optional ``ids`` (K,) sample indices and ``keypoints_ref``
(K, 21, 2) reference keypoints (ground truth or detections).

All npz files are read with ``allow_pickle=False``; a malformed file raises a DataError naming the file and key.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from s2hand.errors import DataError
from s2hand.io.atomic import atomic_write

SCORES_FILE = "scores.json"
PREDICTIONS_FILE = "predictions.npz"
RECONSTRUCTIONS_FILE = "reconstructions.npz"
_SCORES_NAME = re.compile(r"^scores(?:\.(?P<split>[\w-]+))?\.json$")


# --------------------------------------------------------------------------------------------- scores.json


def scores_split(filename: str) -> tuple[bool, str | None]:
    """(is a scores file, its split): ``scores.json`` -> (True, None), ``scores.train.json`` -> (True, "train")."""
    match = _SCORES_NAME.match(os.path.basename(filename))
    return (match is not None, match["split"] if match else None)


def read_scores(path: str | os.PathLike) -> dict[str, Any]:
    try:
        scores = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable scores file ({error})") from None
    if not isinstance(scores, dict):
        raise DataError(f"{path}: a scores file holds a JSON object, found {type(scores).__name__}")
    return scores


def pck_curves(scores: Mapping[str, Any] | None) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """(thresholds in mm, {key: curve}) of the 3D PCK curves, or None when the scores have none."""
    return _curves(scores, "curves", "thresholds_m", 1000.0)


def pck_curves_2d(scores: Mapping[str, Any] | None) -> tuple[np.ndarray, dict[str, np.ndarray]] | None:
    """(thresholds in px, {keypoint set: curve}) of the 2D PCK curves, or None."""
    return _curves(scores, "curves_2d", "thresholds_px", 1.0)


def acc_per_sequence(scores: Mapping[str, Any] | None) -> dict[str, list] | None:
    """``{"ids": [...], "acc": [...], "acc_err": [...]?}`` (metres per frame²), or None."""
    table = (scores or {}).get("acc_per_sequence")
    if not isinstance(table, dict) or not table.get("ids") or len(table.get("acc", ())) != len(table["ids"]):
        return None
    return table


def _curves(scores: Mapping[str, Any] | None, key: str, axis: str, scale: float):
    block = (scores or {}).get(key)
    if not isinstance(block, dict) or axis not in block:
        return None
    thresholds = np.asarray(block[axis], dtype=float)
    curves = {name: np.asarray(values, dtype=float) for name, values in block.items()
              if name != axis and np.shape(values) == thresholds.shape}
    return (thresholds * scale, curves) if curves else None


# --------------------------------------------------------------------------------------------- predictions.npz


@dataclass(frozen=True)
class SequencePredictions:
    """Per-frame predicted joints of video sequences (see the module doc)."""

    joints: np.ndarray
    sequence: np.ndarray
    frame: np.ndarray
    gt_joints: np.ndarray | None = None
    betas: np.ndarray | None = None

    def sequence_ids(self) -> list:
        """Sequence ids in order of first appearance."""
        _, first = np.unique(self.sequence, return_index=True)
        return [self.sequence[i].item() for i in sorted(first)]

    def frames_of(self, sequence: Any) -> np.ndarray:
        """Indices of ``sequence``'s frames, in time order."""
        index = np.flatnonzero(self.sequence.astype(str) == str(sequence))
        return index[np.argsort(self.frame[index], kind="stable")]


def write_predictions(path: str | os.PathLike, joints: Any, sequence: Any, frame: Any, *,
                      gt_joints: Any = None, betas: Any = None) -> Path:
    arrays = {"joints": np.asarray(joints, np.float32), "sequence": np.asarray(sequence),
              "frame": np.asarray(frame, np.int64)}
    if gt_joints is not None:
        arrays["gt_joints"] = np.asarray(gt_joints, np.float32)
    if betas is not None:
        arrays["betas"] = np.asarray(betas, np.float32)
    _validate_predictions(arrays, str(path))
    return _save_npz(path, arrays)


def read_predictions(path: str | os.PathLike) -> SequencePredictions:
    arrays = _load_npz(path)
    _validate_predictions(arrays, str(path))
    return SequencePredictions(arrays["joints"], arrays["sequence"], arrays["frame"], arrays.get("gt_joints"),
                               arrays.get("betas"))


def _validate_predictions(arrays: Mapping[str, np.ndarray], where: str) -> None:
    _require(arrays, where, "joints", (None, 21, 3))
    n = arrays["joints"].shape[0]
    _require(arrays, where, "sequence", (n,))
    _require(arrays, where, "frame", (n,))
    _require(arrays, where, "gt_joints", (n, 21, 3), optional=True)
    _require(arrays, where, "betas", (n, None), optional=True)
    if arrays["sequence"].dtype == object:
        raise DataError(f"{where}: 'sequence' must hold ints or strings, not Python objects")


# --------------------------------------------------------------------------------------------- reconstructions.npz


@dataclass(frozen=True)
class Reconstructions:
    """Textured meshes of chosen eval samples with their input images (see the module doc)."""

    images: np.ndarray
    keypoints: np.ndarray
    vertices: np.ndarray
    faces: np.ndarray
    face_colors: np.ndarray
    ids: np.ndarray
    keypoints_ref: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.images)


def write_reconstructions(path: str | os.PathLike, images: Any, keypoints: Any, vertices: Any, faces: Any,
                          face_colors: Any, *, ids: Any = None, keypoints_ref: Any = None) -> Path:
    """Write K samples; float images in [0, 1] become uint8, uint8 face colours become floats in [0, 1]."""
    images = np.asarray(images)
    if images.dtype.kind == "f":
        images = (np.clip(images, 0.0, 1.0) * 255).round()
    colors = np.asarray(face_colors)
    colors = colors / 255.0 if colors.dtype == np.uint8 else np.clip(colors, 0.0, 1.0)
    arrays = {"images": images.astype(np.uint8), "keypoints": np.asarray(keypoints, np.float32),
              "vertices": np.asarray(vertices, np.float32), "faces": np.asarray(faces, np.int32),
              "face_colors": colors.astype(np.float32),
              "ids": np.arange(len(images)) if ids is None else np.asarray(ids, np.int64)}
    if keypoints_ref is not None:
        arrays["keypoints_ref"] = np.asarray(keypoints_ref, np.float32)
    _validate_reconstructions(arrays, str(path))
    return _save_npz(path, arrays)


def read_reconstructions(path: str | os.PathLike) -> Reconstructions:
    arrays = _load_npz(path)
    if "ids" not in arrays and "images" in arrays:
        arrays["ids"] = np.arange(len(arrays["images"]))
    _validate_reconstructions(arrays, str(path))
    return Reconstructions(arrays["images"], arrays["keypoints"], arrays["vertices"], arrays["faces"],
                           arrays["face_colors"], arrays["ids"], arrays.get("keypoints_ref"))


def _validate_reconstructions(arrays: Mapping[str, np.ndarray], where: str) -> None:
    _require(arrays, where, "images", (None, None, None, 3))
    k = arrays["images"].shape[0]
    _require(arrays, where, "faces", (None, 3))
    _require(arrays, where, "keypoints", (k, 21, 2))
    _require(arrays, where, "vertices", (k, None, 3))
    _require(arrays, where, "face_colors", (k, arrays["faces"].shape[0], 3))
    _require(arrays, where, "ids", (k,))
    _require(arrays, where, "keypoints_ref", (k, 21, 2), optional=True)
    faces, vertices = arrays["faces"], arrays["vertices"]
    if faces.size and (faces.min() < 0 or faces.max() >= vertices.shape[1]):
        raise DataError(f"{where}: 'faces' index vertices outside 0..{vertices.shape[1] - 1}")


# --------------------------------------------------------------------------------------------- npz helpers


def _require(arrays: Mapping[str, np.ndarray], where: str, key: str, shape: tuple[int | None, ...],
             optional: bool = False) -> None:
    if key not in arrays:
        if optional:
            return
        raise DataError(f"{where}: missing array {key!r}")
    actual = arrays[key].shape
    if len(actual) != len(shape) or any(want is not None and want != got for want, got in zip(shape, actual)):
        expected = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise DataError(f"{where}: {key!r} has shape {actual}, expected {expected}")


def _load_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable npz file ({error})") from None


def _save_npz(path: str | os.PathLike, arrays: Mapping[str, np.ndarray]) -> Path:
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        np.savez_compressed(handle, **arrays)
    return path


__all__ = ["SCORES_FILE", "PREDICTIONS_FILE", "RECONSTRUCTIONS_FILE", "scores_split", "read_scores", "pck_curves",
           "pck_curves_2d", "acc_per_sequence", "SequencePredictions", "write_predictions", "read_predictions",
           "Reconstructions", "write_reconstructions", "read_reconstructions"]
