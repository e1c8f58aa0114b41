"""HO-3D v2 / v3 (FACTS §6): {train,evaluation}.txt list "SEQ/ffff"; {split}/SEQ/rgb/ffff.png (v2) or .jpg (v3);
{split}/SEQ/meta/ffff.pkl; coordinates in the OpenGL camera frame; evaluation GT (since Nov 2024) in
evaluation_{xyz,verts}.json, HO-3D joint order, OpenGL.

Meta pickles come from outside: they are read through the restricted unpickler (numpy arrays only). Each frame is
cropped to a square around the hand — the projected GT joints for training frames, handBoundingBox for evaluation
frames — of side CROP_MARGIN × the box's larger extent; K follows the crop (dataset.py). Joints are returned in this
project's convention: OpenCV camera frame, FreiHAND order.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from s2hand.data.jsonio import read_array_json
from s2hand.data.source import Annotation, FrameSource, frame_number, read_split_list, require_dir, sequence_ids
from s2hand.data.transforms import square_box
from s2hand.errors import DataError
from s2hand.hand.joints import ho3d_to_freihand, opengl_to_opencv
from s2hand.utils.safe_pickle import restricted_load

CROP_MARGIN = 1.5
SPLITS = {"train": "train", "evaluation": "evaluation", "eval": "evaluation", "test": "evaluation"}


def read_meta(path: Path, index: int | None = None) -> dict:
    """One meta pickle as a dict of numpy arrays (restricted unpickler); errors name the file and sample."""
    meta = restricted_load(path)
    if not isinstance(meta, dict):
        raise DataError(f"{path} (sample {index}): meta is a {type(meta).__name__}, expected a dict")
    return meta


def _field(meta: dict, key: str, shape: tuple[int, ...], path: Path, index: int) -> np.ndarray | None:
    value = meta.get(key)
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64)
    if array.shape != shape and array.size == int(np.prod(shape)):
        array = array.reshape(shape)
    if array.shape != shape or not np.isfinite(array).all():
        raise DataError(f"{path} (sample {index}): '{key}' has shape {array.shape} or non-finite values, expected {shape}")
    return array


def detect_version(root: Path, split_dir: str, first: tuple[str, str]) -> int:
    rgb = root / split_dir / first[0] / "rgb"
    if (rgb / f"{first[1]}.jpg").exists():
        return 3
    if (rgb / f"{first[1]}.png").exists():
        return 2
    raise DataError(f"HO-3D: neither {rgb / first[1]}.jpg (v3) nor .png (v2) exists (sample 0)")


class Ho3dSource(FrameSource):
    def __init__(self, root: str | Path, split: str, with_vertices: bool | None = None) -> None:
        root = Path(root)
        if split not in SPLITS:
            raise DataError(f"HO-3D has no split {split!r}: use train or evaluation")
        directory = SPLITS[split]
        require_dir(root / directory, f"HO-3D {split}")
        list_path = root / f"{directory}.txt"
        entries = read_split_list(list_path)
        self.version = detect_version(root, directory, entries[0]) if entries else 3
        ext = "jpg" if self.version == 3 else "png"
        frames = np.array([frame_number(f, list_path, i) for i, (_, f) in enumerate(entries)], dtype=np.int64)
        sequence, names = sequence_ids([s for s, _ in entries])
        self._meta = [root / directory / s / "meta" / f"{f}.pkl" for s, f in entries]
        self._xyz = self._verts = None
        has = {"K"}
        if directory == "evaluation":
            n = len(entries)
            if (root / "evaluation_xyz.json").exists():
                xyz = read_array_json(root / "evaluation_xyz.json", (21, 3), n)
                self._xyz = ho3d_to_freihand(opengl_to_opencv(xyz))
                has.add("joints3d")
            if (with_vertices is None or with_vertices) and (root / "evaluation_verts.json").exists():
                self._verts = opengl_to_opencv(read_array_json(root / "evaluation_verts.json", (778, 3), n))
                has.add("vertices")
        else:
            has |= {"joints3d", "mano"}
        self.split_dir = directory
        super().__init__(
            layout="ho3d", root=root, split=split, keys=[f"{directory}/{s}/rgb/{f}.{ext}" for s, f in entries],
            sequence=sequence, frame=frames, sequence_names=names, has=frozenset(has), crop_margin=CROP_MARGIN,
        )

    def annotation(self, index: int) -> Annotation:
        path = self._meta[index]
        meta = read_meta(path, index)
        K = _field(meta, "camMat", (3, 3), path, index)
        if K is None:
            raise DataError(f"{path} (sample {index}): no camMat")
        joints = self._xyz[index] if self._xyz is not None else None
        mano = None
        if self.split_dir == "train":
            gl = _field(meta, "handJoints3D", (21, 3), path, index)
            if gl is None:  # HO-3D leaves a few frames unannotated
                raise DataError(f"{path} (sample {index}): no handJoints3D (unannotated frame)")
            joints = ho3d_to_freihand(opengl_to_opencv(gl))
            parts = [_field(meta, k, s, path, index) for k, s in (("handPose", (48,)), ("handBeta", (10,)),
                                                                 ("handTrans", (3,)))]
            mano = np.concatenate(parts) if all(p is not None for p in parts) else np.zeros(61)
            uv = joints[:, :2] / joints[:, 2:3] @ K[:2, :2].T + K[:2, 2]
            crop = square_box(uv, CROP_MARGIN)
        else:
            box = _field(meta, "handBoundingBox", (4,), path, index)
            if box is None:
                raise DataError(f"{path} (sample {index}): no handBoundingBox")
            crop = square_box(box.reshape(2, 2), CROP_MARGIN)
        return Annotation(K=K, crop=crop, joints3d=joints,
                          vertices=None if self._verts is None else self._verts[index], mano=mano)
