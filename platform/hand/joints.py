"""Joint orders and coordinate conventions, in one place (FACTS §2).

Orders:
- ``FREIHAND`` (21, also OpenPose / MediaPipe): 0 wrist; 1-4 thumb (CMC, MCP, IP, tip); 5-8 index (MCP, PIP, DIP,
  tip); 9-12 middle; 13-16 ring; 17-20 pinky.
- ``MANO`` (16, kinematic): 0 wrist, 1-3 index, 4-6 middle, 7-9 pinky, 10-12 ring, 13-15 thumb.
- ``HO3D`` (21): the 16 MANO joints followed by the fingertips (thumb, index, middle, ring, pinky). The hand model
  produces joints in this order first, since it is MANO's joints plus five tip vertices.

Camera conventions: OpenCV (x right, y down, z forward) and OpenGL (y up, z backward, hand at negative z), related by
``p_gl = p_cv · diag(1, -1, -1)``; the map is its own inverse.
"""
from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

ArrayT = TypeVar("ArrayT", np.ndarray, torch.Tensor)

NUM_JOINTS = 21
NUM_MANO_JOINTS = 16

FREIHAND_NAMES = (
    "wrist",
    "thumb_cmc", "thumb_mcp", "thumb_ip", "thumb_tip",
    "index_mcp", "index_pip", "index_dip", "index_tip",
    "middle_mcp", "middle_pip", "middle_dip", "middle_tip",
    "ring_mcp", "ring_pip", "ring_dip", "ring_tip",
    "pinky_mcp", "pinky_pip", "pinky_dip", "pinky_tip",
)
MANO_NAMES = (
    "wrist",
    "index_mcp", "index_pip", "index_dip",
    "middle_mcp", "middle_pip", "middle_dip",
    "pinky_mcp", "pinky_pip", "pinky_dip",
    "ring_mcp", "ring_pip", "ring_dip",
    "thumb_cmc", "thumb_mcp", "thumb_ip",
)
FINGERTIP_ORDER = ("thumb", "index", "middle", "ring", "pinky")
HO3D_NAMES = MANO_NAMES + tuple(f"{finger}_tip" for finger in FINGERTIP_ORDER)

# index arrays: target = source[..., IDX, :]
HO3D_TO_FREIHAND = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
FREIHAND_TO_HO3D = (0, 5, 6, 7, 9, 10, 11, 17, 18, 19, 13, 14, 15, 1, 2, 3, 4, 8, 12, 16, 20)
# The 16 MANO joints are the first 16 of HO-3D's order.
FREIHAND_TO_MANO = FREIHAND_TO_HO3D[:NUM_MANO_JOINTS]

MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
FREIHAND_PARENTS = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
# 20 bones of E_ori (Eq. 4): wrist -> each finger base, then consecutive joints along each finger.
FREIHAND_BONES = tuple((FREIHAND_PARENTS[j], j) for j in (1, 5, 9, 13, 17)) + tuple(
    (FREIHAND_PARENTS[j], j) for j in range(1, NUM_JOINTS) if j not in (1, 5, 9, 13, 17)
)
FREIHAND_TIPS = (4, 8, 12, 16, 20)
FREIHAND_WRIST = 0
FREIHAND_MIDDLE_MCP, FREIHAND_MIDDLE_PIP = 9, 10

_GL_FLIP = (1.0, -1.0, -1.0)


def _select(joints: ArrayT, index: tuple[int, ...], expected: int) -> ArrayT:
    if joints.shape[-2] != expected:
        raise ValueError(f"expected {expected} joints on axis -2, got shape {tuple(joints.shape)}")
    if isinstance(joints, torch.Tensor):
        return joints[..., torch.as_tensor(index, device=joints.device), :]
    return joints[..., list(index), :]


def ho3d_to_freihand(joints: ArrayT) -> ArrayT:
    """(..., 21, D) in HO-3D order (MANO 16 + tips) -> FreiHAND order."""
    return _select(joints, HO3D_TO_FREIHAND, NUM_JOINTS)


def freihand_to_ho3d(joints: ArrayT) -> ArrayT:
    """(..., 21, D) in FreiHAND order -> HO-3D order."""
    return _select(joints, FREIHAND_TO_HO3D, NUM_JOINTS)


def freihand_to_mano(joints: ArrayT) -> ArrayT:
    """(..., 21, D) in FreiHAND order -> the 16 MANO kinematic joints (tips dropped)."""
    return _select(joints, FREIHAND_TO_MANO, NUM_JOINTS)


def opencv_to_opengl(points: ArrayT) -> ArrayT:
    """(..., 3) OpenCV camera coordinates -> OpenGL (y and z negated). Its own inverse."""
    if points.shape[-1] != 3:
        raise ValueError(f"expected 3D points on the last axis, got shape {tuple(points.shape)}")
    if isinstance(points, torch.Tensor):
        return points * points.new_tensor(_GL_FLIP)
    return points * np.asarray(_GL_FLIP, dtype=points.dtype if points.dtype.kind == "f" else np.float64)


opengl_to_opencv = opencv_to_opengl
