"""2D keypoint detections: the one on-disk format, S2HAND's OpenPose import, and alignment to a dataset.

On-disk format (one JSON file per dataset split, written by `s2hand detect` and the synthetic generator):

    {"format": "s2hand-detections", "version": 1,
     "detector": {"name": "mediapipe" | "synthetic" | "openpose" | ..., "version": "...", ...settings},
     "split": "train",
     "images": ["training/rgb/00000000.jpg", ...],          image files relative to the dataset root, one per entry
     "keypoints": [[[x, y] × 21] × N],                      pixels of the image file as stored, FreiHAND order
     "confidence": [[c × 21] × N]}                          in [0, 1]; 0 = not detected (then x = y = 0)

Pixel coordinates follow the renderer: x right, y down, the centre of pixel (i, j) at (j + 0.5, i + 0.5).

S2HAND's OpenPose files are a JSON list [peaks (N × 21 × 2 px), values (N × 21 × 1), names (N × [file name])];
raw per-chunk dumps leave out the value of an undetected joint (peak [0, 0]), which the import puts back as 0.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from s2hand.data.jsonio import read_json, write_json
from s2hand.errors import DataError

FORMAT = "s2hand-detections"
VERSION = 1
NUM_JOINTS = 21


@dataclass
class Detections:
    keypoints: np.ndarray  # (N, 21, 2) float32 pixels
    confidence: np.ndarray  # (N, 21) float32
    images: list[str] | None  # keys (relative paths) or None when the source had no names
    detector: dict[str, Any] = field(default_factory=dict)
    split: str | None = None

    def __post_init__(self) -> None:
        self.keypoints = np.asarray(self.keypoints, dtype=np.float32)
        self.confidence = np.asarray(self.confidence, dtype=np.float32)
        n = len(self.keypoints)
        if self.keypoints.shape != (n, NUM_JOINTS, 2) or self.confidence.shape != (n, NUM_JOINTS):
            raise ValueError(f"keypoints must be (N, 21, 2) and confidence (N, 21), got "
                             f"{self.keypoints.shape} and {self.confidence.shape}")
        if self.images is not None and len(self.images) != n:
            raise ValueError(f"{len(self.images)} image names for {n} detections")

    def __len__(self) -> int:
        return len(self.keypoints)


def save_detections(path: str | os.PathLike, detections: Detections) -> Path:
    return write_json(path, {
        "format": FORMAT,
        "version": VERSION,
        "detector": detections.detector,
        "split": detections.split,
        "images": detections.images,
        "keypoints": np.round(detections.keypoints.astype(np.float64), 2),
        "confidence": np.round(detections.confidence.astype(np.float64), 4),
    })


def load_detections(path: str | os.PathLike) -> Detections:
    """Our format or S2HAND's OpenPose list (recognised by shape). Errors name the file and the bad entry."""
    path = Path(path)
    data = read_json(path)
    if isinstance(data, list):
        return _from_openpose(data, path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise DataError(f"{path}: not a detection file (expected format {FORMAT!r} or S2HAND's OpenPose "
                        "[peaks, values, names] list)")
    if data.get("version") != VERSION:
        raise DataError(f"{path}: detection format version {data.get('version')!r}, this reader knows {VERSION}")
    keypoints = _array(data.get("keypoints"), (NUM_JOINTS, 2), path, "keypoints")
    confidence = _array(data.get("confidence"), (NUM_JOINTS,), path, "confidence")
    if len(keypoints) != len(confidence):
        raise DataError(f"{path}: {len(keypoints)} keypoint entries but {len(confidence)} confidence entries")
    images = data.get("images")
    if images is not None and (not isinstance(images, list) or len(images) != len(keypoints)):
        raise DataError(f"{path}: 'images' must list one name per entry ({len(keypoints)})")
    if not ((confidence >= 0) & (confidence <= 1)).all():
        bad = int(np.nonzero(((confidence < 0) | (confidence > 1)).any(1))[0][0])
        raise DataError(f"{path}: entry {bad} has a confidence outside [0, 1]")
    return Detections(keypoints, confidence, images, dict(data.get("detector") or {}), data.get("split"))


def import_openpose(path: str | os.PathLike) -> Detections:
    """S2HAND's OpenPose JSON [peaks, values, names] -> Detections."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: an OpenPose detection file is a JSON list [peaks, values, names]")
    return _from_openpose(data, path)


def _from_openpose(data: list, path: Path) -> Detections:
    if len(data) not in (2, 3):
        raise DataError(f"{path}: expected [peaks, values, names], got a list of {len(data)}")
    peaks, values = data[0], data[1]
    names = data[2] if len(data) == 3 else None
    if len(peaks) != len(values) or (names is not None and len(names) != len(peaks)):
        raise DataError(f"{path}: {len(peaks)} peaks, {len(values)} values"
                        + (f", {len(names)} names" if names is not None else "") + ": counts differ")
    keypoints = _array(peaks, (NUM_JOINTS, 2), path, "peaks")
    confidence = np.zeros((len(peaks), NUM_JOINTS), dtype=np.float32)
    for index, (peak, value) in enumerate(zip(keypoints, values)):
        flat = [float(v[0]) if isinstance(v, list) else float(v) for v in value]
        missing = np.nonzero((peak == 0).all(1))[0]
        if len(flat) < NUM_JOINTS:  # raw dumps omit the values of undetected joints: put zeros back in place
            for j in missing:
                if len(flat) >= NUM_JOINTS:
                    break
                flat.insert(int(j), 0.0)
        if len(flat) != NUM_JOINTS:
            raise DataError(f"{path}: entry {index} has {len(flat)} confidence values for {NUM_JOINTS} peaks")
        confidence[index] = flat
        confidence[index, missing] = 0.0
    if names is not None:
        names = [str(n[0]) if isinstance(n, list) else str(n) for n in names]
    confidence = np.clip(confidence, 0.0, 1.0)
    return Detections(keypoints, confidence, names, {"name": "openpose", "source": path.name})


def _array(value: Any, item_shape: tuple[int, ...], path: Path, key: str) -> np.ndarray:
    if not isinstance(value, list):
        raise DataError(f"{path}: '{key}' must be a list")
    try:
        array = np.asarray(value, dtype=np.float32)
        if array.shape[1:] == item_shape or (len(value) == 0):
            return array.reshape(len(value), *item_shape)
    except (ValueError, TypeError):
        pass
    for index, item in enumerate(value):
        try:
            shape = np.asarray(item, dtype=np.float32).shape
        except (ValueError, TypeError):
            shape = None
        if shape != item_shape:
            raise DataError(f"{path}: {key} entry {index} has {'a ragged entry' if shape is None else shape}, "
                            f"expected {item_shape}")
    raise DataError(f"{path}: '{key}' is not a list of {item_shape} arrays")


# --------------------------------------------------------------------------------------------- alignment


@dataclass
class Aligned:
    keypoints: np.ndarray  # (M, 21, 2) for the M dataset images
    confidence: np.ndarray  # (M, 21)
    missing: np.ndarray  # (K,) dataset indices without a detection


def align(detections: Detections, keys: list[str], source: str | os.PathLike) -> Aligned:
    """Rows of ``detections`` for each dataset image key (relative path). Matching: by relative path, else by file
    name when names are unique on both sides, else by order (then the counts must agree). Images without a
    detection are listed in ``missing`` (the caller raises or skips)."""
    m = len(keys)
    keypoints = np.zeros((m, NUM_JOINTS, 2), np.float32)
    confidence = np.zeros((m, NUM_JOINTS), np.float32)
    if detections.images is None:
        n = min(m, len(detections))
        keypoints[:n], confidence[:n] = detections.keypoints[:n], detections.confidence[:n]
        if len(detections) > m:
            raise DataError(f"{source}: {len(detections)} detections (no image names) for {m} images: counts differ")
        return Aligned(keypoints, confidence, np.arange(n, m))
    rows = _match(detections.images, keys)
    found = rows >= 0
    keypoints[found], confidence[found] = detections.keypoints[rows[found]], detections.confidence[rows[found]]
    return Aligned(keypoints, confidence, np.nonzero(~found)[0])


def _match(names: list[str], keys: list[str]) -> np.ndarray:
    by_path = {PurePosixPath(n).as_posix(): i for i, n in enumerate(names)}
    rows = np.array([by_path.get(k, -1) for k in keys], dtype=np.int64)
    if (rows >= 0).all():
        return rows
    base_names = [PurePosixPath(n).name for n in names]
    base_keys = [PurePosixPath(k).name for k in keys]
    if len(set(base_names)) == len(base_names) and len(set(base_keys)) == len(base_keys):
        by_name = {n: i for i, n in enumerate(base_names)}
        by_base = np.array([by_name.get(k, -1) for k in base_keys], dtype=np.int64)
        if (by_base >= 0).sum() > (rows >= 0).sum():
            return by_base
    return rows


def missing_message(source: str | os.PathLike, count: int, total: int, first_index: int, first_file: str) -> str:
    return (f"{source}: no detection for {count} of {total} images (first: sample {first_index}, {first_file}); "
            "the detection file does not match the images (re-run `s2hand detect`, or set data.skip_bad to skip them)")
