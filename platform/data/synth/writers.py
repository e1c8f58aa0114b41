"""File names and annotation records of the two official layouts the generator writes.

FreiHAND (FACTS §6):
    training/rgb/%08d.jpg, training_{K,mano,xyz,verts,scale}.json
    evaluation/rgb/%08d.jpg, evaluation_{K,scale,xyz,verts,mano}.json   (xyz/verts/mano: the public eval GT)
  xyz/verts: metres, OpenCV camera frame, FreiHAND joint order; K per image; scale = ‖xyz[9] − xyz[10]‖.
  mano: one [[61 numbers]] per image, as FreiHAND stores it: pose 48 = global rotation (3, axis-angle, camera
  frame) + 15 local joint rotations (45, axis-angle, absolute: the hand model's mean pose included, i.e. what
  MANO calls flat_hand_mean=True), shape 10 = β of the hand model that rendered it (the bundled open hand unless
  another model was given), trans 3 = T. This project's convention: vertices = R·M(β, θ) + T with R about the
  model origin (HandModel), not about the root joint as in MANO's own layer.

HO-3D v2 / v3 (FACTS §6): train.txt, evaluation.txt ("SEQ/ffff" lines), {train,evaluation}/SEQ/rgb/ffff.png (v2)
  or .jpg (v3), {train,evaluation}/SEQ/meta/ffff.pkl (pickle protocol 2, numpy only), OpenGL camera frame
  (p_gl = p_cv·diag(1, −1, −1)):
    train meta:      handJoints3D (21, 3) HO-3D order, handPose (48,) = [R_gl rotvec, 45 local absolute],
                     handBeta (10,), handTrans (3,) = T_gl, camMat (3, 3)
    evaluation meta: handJoints3D (3,) root joint only, handBoundingBox (4,) [x0, y0, x1, y1] px of the projected
                     hand, camMat (3, 3)
    evaluation_xyz.json (N, 21, 3) and evaluation_verts.json (N, 778, 3): HO-3D order, OpenGL, the order of
    evaluation.txt — the conventions of the official scorer.
  R_gl = diag(1, −1, −1)·R is itself a rotation (by π about x), so handPose/handTrans reproduce handJoints3D with
  the same hand model: joints_gl = R_gl·J(β, θ) + T_gl.
"""
from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from s2hand.data.jsonio import write_json
from s2hand.hand.joints import freihand_to_ho3d, opencv_to_opengl
from s2hand.io.atomic import atomic_write

FREIHAND_DIRS = {"train": "training", "evaluation": "evaluation"}
HO3D_DIRS = {"train": "train", "evaluation": "evaluation"}
GL_FLIP = np.diag([1.0, -1.0, -1.0])
META_PROTOCOL = 2  # HO-3D's own meta files are Python 2 era pickles


def freihand_image(root: Path, split: str, index: int) -> Path:
    return root / FREIHAND_DIRS[split] / "rgb" / f"{index:08d}.jpg"


def freihand_key(split: str, index: int) -> str:
    return f"{FREIHAND_DIRS[split]}/rgb/{index:08d}.jpg"


def freihand_mano(pose: np.ndarray, rotation: np.ndarray, betas: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(N, 1, 61): [global rotvec, 45 absolute local rotvecs, β, T]."""
    return np.concatenate([rotation, pose, betas, translation], axis=1)[:, None, :]


def write_freihand_annotations(root: Path, split: str, K: np.ndarray, joints: np.ndarray, vertices: np.ndarray,
                               mano: np.ndarray) -> list[Path]:
    """All annotation files of one FreiHAND split (joints/vertices rounded to µm first; scale from the rounded
    joints, so the files agree with each other exactly)."""
    name = FREIHAND_DIRS[split]
    joints, vertices = np.round(joints.astype(np.float64), 6), np.round(vertices.astype(np.float64), 6)
    scale = np.linalg.norm(joints[:, 9] - joints[:, 10], axis=-1)
    files = {f"{name}_K.json": (K, 4), f"{name}_xyz.json": (joints, 6), f"{name}_verts.json": (vertices, 6),
             f"{name}_scale.json": (scale, 8), f"{name}_mano.json": (mano, 6)}
    return [write_json(root / file, data, decimals) for file, (data, decimals) in files.items()]


def ho3d_frame(root: Path, split: str, sequence: str, frame: int, version: int) -> tuple[Path, Path]:
    """(image path, meta path) of one HO-3D frame."""
    base = root / HO3D_DIRS[split] / sequence
    return base / "rgb" / f"{frame:04d}.{'png' if version == 2 else 'jpg'}", base / "meta" / f"{frame:04d}.pkl"


def ho3d_sequence_name(split: str, index: int) -> str:
    return f"{'S' if split == 'train' else 'E'}{index:04d}"


def ho3d_meta(split: str, joints_cv: np.ndarray, pose: np.ndarray, rotation: np.ndarray, betas: np.ndarray,
              translation: np.ndarray, K: np.ndarray, hand_box: np.ndarray) -> dict[str, np.ndarray]:
    """One frame's meta dict (camera-frame OpenCV inputs, FreiHAND joint order) in HO-3D's fields and frame."""
    joints_gl = opencv_to_opengl(freihand_to_ho3d(joints_cv.astype(np.float64))).astype(np.float32)
    if split != "train":
        return {"handJoints3D": joints_gl[0].copy(), "handBoundingBox": hand_box.astype(np.float64),
                "camMat": K.astype(np.float64)}
    rotation_gl = Rotation.from_matrix(GL_FLIP @ Rotation.from_rotvec(rotation).as_matrix()).as_rotvec()
    return {
        "handJoints3D": joints_gl,
        "handPose": np.concatenate([rotation_gl, pose]).astype(np.float32),
        "handBeta": betas.astype(np.float32),
        "handTrans": (GL_FLIP @ translation).astype(np.float32),
        "camMat": K.astype(np.float64),
    }


def write_pickle(path: str | os.PathLike, obj: object) -> Path:
    """Protocol-2 pickle via a temporary sibling and a rename (no fsync: the chunk marker, written after, is what
    makes a chunk count as done)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(obj, handle, protocol=META_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_ho3d_lists(root: Path, split: str, names: list[str]) -> Path:
    with atomic_write(root / f"{HO3D_DIRS[split]}.txt", "w") as handle:
        handle.write("".join(f"{name}\n" for name in names))
    return root / f"{HO3D_DIRS[split]}.txt"


def write_ho3d_evaluation_gt(root: Path, joints_cv: np.ndarray, vertices_cv: np.ndarray) -> list[Path]:
    """evaluation_xyz.json / evaluation_verts.json in the official scorer's conventions (HO-3D order, OpenGL)."""
    joints = opencv_to_opengl(freihand_to_ho3d(joints_cv.astype(np.float64)))
    vertices = opencv_to_opengl(vertices_cv.astype(np.float64))
    return [write_json(root / "evaluation_xyz.json", joints, 6), write_json(root / "evaluation_verts.json", vertices, 6)]
