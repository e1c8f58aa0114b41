"""What every dataset loader provides: an index of image files and, per frame, its annotation.

A loader (`freihand.py`, `ho3d.py`, `stb.py`, `yt3d.py`) only reads its layout; decoding, cropping, augmentation,
detections and the bad-input policy live in `dataset.py`, shared by all of them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from s2hand.errors import DataError

OPTIONAL_FIELDS = frozenset({"K", "joints3d", "vertices", "mano", "scale"})


@dataclass
class Annotation:
    """One frame. Pixel quantities refer to the image file as stored; 3D ones to its camera (OpenCV, metres)."""

    K: np.ndarray | None = None  # (3, 3)
    crop: tuple[tuple[float, float], float] | None = None  # (centre, side) of the square to crop; None = whole image
    mirror: bool = False  # a left hand: mirror the image (and the 3D x axis) so every sample shows a right hand
    joints3d: np.ndarray | None = None  # (21, 3) FreiHAND order
    vertices: np.ndarray | None = None  # (778, 3)
    mano: np.ndarray | None = None  # (61,) as the dataset stores it
    scale: float | None = None


@dataclass
class FrameSource:
    """The frames of one split. ``keys`` are image paths relative to ``root`` (they match detection files);
    ``has`` names the optional sample fields every frame provides."""

    layout: str
    root: Path
    split: str
    keys: list[str]
    sequence: np.ndarray  # (N,) int64 sequence id (image datasets: the frame's own index)
    frame: np.ndarray  # (N,) int64 frame index within the sequence
    sequence_names: list[str] = field(default_factory=list)
    has: frozenset[str] = frozenset()
    orthographic: bool = False
    crop_margin: float | None = None  # when set, frames without a crop are cropped around their detections

    def __len__(self) -> int:
        return len(self.keys)

    def image_path(self, index: int) -> Path:
        return self.root / self.keys[index]

    def annotation(self, index: int) -> Annotation:  # overridden by loaders with annotations
        return Annotation()

    def default_detections(self) -> Path:
        return self.root / "detections" / f"{self.split}.json"

    def missing_files(self) -> np.ndarray:
        """Indices whose image file does not exist (one directory listing per folder, not one stat per file)."""
        listings: dict[Path, set[str]] = {}
        missing = []
        for index, key in enumerate(self.keys):
            path = self.root / key
            names = listings.get(path.parent)
            if names is None:
                try:
                    names = listings[path.parent] = set(os.listdir(path.parent))
                except OSError:
                    names = listings[path.parent] = set()
            if path.name not in names:
                missing.append(index)
        return np.asarray(missing, dtype=np.int64)


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{what}: {path} is not a directory")
    return path


def read_split_list(path: Path) -> list[tuple[str, str]]:
    """HO-3D style list file: lines "SEQ/frame" -> [(SEQ, frame)]; errors name the file and line."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise DataError(f"missing split list {path}") from None
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from error
    entries = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        parts = line.split("/")
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise DataError(f"{path}:{number}: expected 'SEQUENCE/frame', got {line!r}")
        entries.append((parts[0], parts[1]))
    return entries


def frame_number(text: str, path: Path, line: int) -> int:
    try:
        return int(text)
    except ValueError:
        raise DataError(f"{path}: entry {line}: frame id {text!r} is not a number") from None


def sequence_ids(names: list[str]) -> tuple[np.ndarray, list[str]]:
    """Per-frame sequence names -> (int ids in order of first appearance, the names by id)."""
    order: dict[str, int] = {}
    ids = np.array([order.setdefault(n, len(order)) for n in names], dtype=np.int64)
    return ids, list(order)
