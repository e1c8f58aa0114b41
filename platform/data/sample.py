"""The one sample type every loader returns (a dict of tensors, so torch's default collate batches it).

Always present:
    image        (3, S, S) float32 in [0, 1]
    orthographic ()  bool: True = no intrinsics (YT 3D); then there is no "K"
    keypoints2d  (21, 2) float32, detected joints in output pixels, FreiHAND order (0, 0 where missing)
    confidence   (21,) float32 in [0, 1], 0 = missing
    sequence     () int64, sequence id (image datasets: the sample index); frame () int64, frame index
    index        () int64, position in the dataset
Present when the dataset has them (for every sample of that dataset alike):
    K            (3, 3) float32, intrinsics of the output image (OpenCV: x right, y down, z forward)
    joints3d     (21, 3) float32, ground-truth joints, metres, camera frame (OpenCV), FreiHAND order
    vertices     (778, 3) float32, ground-truth vertices likewise
    mano         (61,) float32, the dataset's hand-model parameters as stored (FreiHAND: pose 48, shape 10, trans 3)
    scale        () float32, ‖joints3d[9] − joints3d[10]‖ (FreiHAND's scale annotation)
"""
from __future__ import annotations

from typing import TypedDict

import torch

NUM_JOINTS = 21


class Sample(TypedDict, total=False):
    image: torch.Tensor
    orthographic: torch.Tensor
    keypoints2d: torch.Tensor
    confidence: torch.Tensor
    sequence: torch.Tensor
    frame: torch.Tensor
    index: torch.Tensor
    K: torch.Tensor
    joints3d: torch.Tensor
    vertices: torch.Tensor
    mano: torch.Tensor
    scale: torch.Tensor


REQUIRED_KEYS = ("image", "orthographic", "keypoints2d", "confidence", "sequence", "frame", "index")
OPTIONAL_KEYS = ("K", "joints3d", "vertices", "mano", "scale")
