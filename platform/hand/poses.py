"""Named hand poses for showcases, tests and synthetic data: local joint rotations in degrees, on the flat hand.

Rows are MANO joints 1..15 (index, middle, pinky, ring, thumb; three joints each), columns the (x twist,
y spread, z bend) components of the joint-limit table.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from s2hand.errors import S2HandError

_INDEX, _MIDDLE, _PINKY, _RING, _THUMB = (slice(0, 3), slice(3, 6), slice(6, 9), slice(9, 12), slice(12, 15))


def _pose(**fingers) -> np.ndarray:
    deg = np.zeros((15, 3))
    rows = {"index": _INDEX, "middle": _MIDDLE, "pinky": _PINKY, "ring": _RING, "thumb": _THUMB}
    for finger, values in fingers.items():
        deg[rows[finger]] = values
    return deg


_CURLED = [[0, 0, 85], [0, 0, 95], [0, 0, 70]]
NAMED_POSES: dict[str, np.ndarray] = {
    "flat": _pose(),
    "fist": _pose(index=_CURLED, middle=_CURLED, ring=_CURLED, pinky=_CURLED,
                  thumb=[[70, 10, 10], [0, 0, 20], [0, 0, 60]]),
    "point": _pose(middle=_CURLED, ring=_CURLED, pinky=_CURLED, thumb=[[60, 0, 10], [0, 0, 15], [0, 0, 60]]),
    "pinch": _pose(index=[[0, 0, 45], [0, 0, 50], [0, 0, 30]], middle=[[0, 0, 15], [0, 0, 20], [0, 0, 10]],
                   thumb=[[75, 10, 5], [0, 0, 10], [0, 0, 30]]),
    "spread": _pose(index=[[0, 10, 0], [0, 0, 0], [0, 0, 0]], ring=[[0, -8, 0], [0, 0, 0], [0, 0, 0]],
                    pinky=[[-5, -10, 0], [0, 0, 0], [0, 0, 0]], thumb=[[10, 30, 0], [0, 0, 0], [0, 0, 0]]),
    "victory": _pose(index=[[0, 8, 0], [0, 0, 0], [0, 0, 0]], middle=[[0, -6, 0], [0, 0, 0], [0, 0, 0]],
                     ring=_CURLED, pinky=_CURLED, thumb=[[70, 10, 10], [0, 0, 20], [0, 0, 60]]),
}


def pose_from_argument(value: str) -> np.ndarray | None:
    """A pose name, 'mean' (None: the model's mean pose), or a JSON file holding 45 or 15×3 degrees."""
    if value == "mean":
        return None
    if value in NAMED_POSES:
        return NAMED_POSES[value]
    path = Path(value)
    if path.suffix == ".json":
        try:
            deg = np.asarray(json.loads(path.read_text()), dtype=np.float64)
        except (OSError, ValueError) as error:
            raise S2HandError(f"cannot read pose file {path}: {error}") from error
        if deg.size != 45:
            raise S2HandError(f"pose file {path}: expected 45 numbers (15 joints × 3, degrees), got {deg.size}")
        return deg.reshape(15, 3)
    raise S2HandError(f"unknown pose '{value}': use one of mean, {', '.join(NAMED_POSES)} or a .json file")
