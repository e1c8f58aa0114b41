"""Anatomical joint-angle limits of E_J (FACTS §3), per MANO joint, on MANO's local axes.

Components are (x twist, y spread, z bend) of each joint's local axis-angle (mean pose added), in degrees.
"""
from __future__ import annotations

import numpy as np

_FINGER_MCP = ((-5.0, 5.0), (-10.0, 10.0), (-10.0, 100.0))
_PINKY_MCP = ((-20.0, 5.0), (-10.0, 20.0), (-10.0, 100.0))
_PIP_DIP = ((-5.0, 5.0), (-5.0, 5.0), (-10.0, 100.0))
_THUMB_CMC = ((0.0, 90.0), (-22.5, 33.75), (-22.5, 22.5))
_THUMB_MCP = ((-5.0, 5.0), (-5.0, 5.0), (-22.5, 22.5))
_THUMB_IP = ((-5.0, 5.0), (-5.0, 5.0), (-20.0, 100.0))

# MANO joints 1..15: index (1-3), middle (4-6), pinky (7-9), ring (10-12), thumb (13-15)
JOINT_LIMITS_DEG = np.array(
    [
        _FINGER_MCP, _PIP_DIP, _PIP_DIP,
        _FINGER_MCP, _PIP_DIP, _PIP_DIP,
        _PINKY_MCP, _PIP_DIP, _PIP_DIP,
        _FINGER_MCP, _PIP_DIP, _PIP_DIP,
        _THUMB_CMC, _THUMB_MCP, _THUMB_IP,
    ]
)  # (15, 3, 2): joint, axis, (min, max)
JOINT_LIMITS_RAD = np.deg2rad(JOINT_LIMITS_DEG)
AXIS_WEIGHTS = np.array([1.0, 1.0, 2.0])  # twist, spread, bend (FACTS §3)
