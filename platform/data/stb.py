"""STB (Zhang et al., ICIP'17), the SK (RealSense) colour stream: images/SEQ/SK_color_%d.png (640×480) and
labels/SEQ_SK.mat ('handPara', 3 × 21 × 1500, millimetres, depth-camera frame). 12 sequences B1..B6 × {Counting,
Random}; train = B2-B6 (10), evaluation = B1 (2).

Conversions (the common practice of STB users): joints move from the depth to the colour camera with the published
extrinsics, from STB's order [palm, pinky, ring, middle, index, thumb (each MCP→tip)] to FreiHAND's, millimetres to
metres, and the palm centre becomes a wrist: wrist = middle MCP + 2.2 (palm − middle MCP). STB shows left hands;
every sample is mirrored into a right hand (image, K and the 3D x axis; see dataset.py).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
from scipy.spatial.transform import Rotation

from s2hand.data.source import Annotation, FrameSource, require_dir
from s2hand.data.transforms import square_box
from s2hand.errors import DataError

TRAIN_SEQUENCES = tuple(f"B{b}{kind}" for b in range(2, 7) for kind in ("Counting", "Random"))
EVAL_SEQUENCES = ("B1Counting", "B1Random")
SK_K = np.array([[607.92271, 0.0, 314.78337], [0.0, 607.88192, 236.42484], [0.0, 0.0, 1.0]])
SK_ROTATION = Rotation.from_rotvec([0.00531, -0.01196, 0.00301]).as_matrix()
SK_TRANSLATION_MM = np.array([-24.0381, -0.4563, -1.2326])
# STB index of each FreiHAND joint: wrist(palm), thumb, index, middle, ring, pinky (MCP → tip)
STB_TO_FREIHAND = (0, 17, 18, 19, 20, 13, 14, 15, 16, 9, 10, 11, 12, 5, 6, 7, 8, 1, 2, 3, 4)
PALM_TO_WRIST = 2.2
CROP_MARGIN = 1.5


def stb_joints_to_freihand(hand_para: np.ndarray) -> np.ndarray:
    """'handPara' (3, 21, N) mm, depth camera -> (N, 21, 3) metres, colour camera (OpenCV), FreiHAND order."""
    depth = np.transpose(hand_para, (2, 1, 0)).astype(np.float64)
    color = (depth - SK_TRANSLATION_MM) @ SK_ROTATION  # the extrinsics map colour -> depth; this is the inverse
    joints = color[:, list(STB_TO_FREIHAND)] / 1000.0
    joints[:, 0] = joints[:, 9] + PALM_TO_WRIST * (joints[:, 0] - joints[:, 9])
    return joints


class StbSource(FrameSource):
    def __init__(self, root: str | Path, split: str) -> None:
        root = Path(root)
        if split in ("train", "training"):
            sequences = TRAIN_SEQUENCES
        elif split in ("evaluation", "eval", "test"):
            sequences = EVAL_SEQUENCES
        else:
            raise DataError(f"STB has no split {split!r}: use train or evaluation")
        require_dir(root / "images", "STB")
        keys, seq, frame, joints = [], [], [], []
        for s, name in enumerate(sequences):
            label = root / "labels" / f"{name}_SK.mat"
            try:
                para = scipy.io.loadmat(label)["handPara"]
            except FileNotFoundError:
                raise DataError(f"missing STB label file {label}") from None
            except (KeyError, ValueError, OSError) as error:
                raise DataError(f"{label}: not an STB label file with 'handPara' ({error})") from error
            if para.ndim != 3 or para.shape[:2] != (3, 21):
                raise DataError(f"{label}: 'handPara' has shape {para.shape}, expected (3, 21, frames)")
            n = para.shape[2]
            joints.append(stb_joints_to_freihand(para))
            keys += [f"images/{name}/SK_color_{i}.png" for i in range(n)]
            seq += [s] * n
            frame += list(range(n))
        self._joints = np.concatenate(joints) if joints else np.zeros((0, 21, 3))
        super().__init__(
            layout="stb", root=root, split=split, keys=keys, sequence=np.asarray(seq, np.int64),
            frame=np.asarray(frame, np.int64), sequence_names=list(sequences), has=frozenset({"K", "joints3d"}),
            crop_margin=CROP_MARGIN,
        )

    def annotation(self, index: int) -> Annotation:
        joints = self._joints[index]
        uv = joints[:, :2] / joints[:, 2:3] @ SK_K[:2, :2].T + SK_K[:2, 2]
        return Annotation(K=SK_K, crop=square_box(uv, CROP_MARGIN), mirror=True, joints3d=joints)
