"""An occluding object: a low-poly ellipsoid mesh rendered with the hand, so it hides joints through the z-buffer
exactly as a held object or another hand would."""
from __future__ import annotations

import math

import numpy as np
import torch

RINGS, SEGMENTS = 6, 12


def unit_sphere(rings: int = RINGS, segments: int = SEGMENTS) -> tuple[torch.Tensor, torch.Tensor]:
    """UV sphere: (rings·segments + 2, 3) vertices, (2·rings·segments, 3) faces, counter-clockwise from outside."""
    polar = np.arange(1, rings + 1) * math.pi / (rings + 1)
    azimuth = np.arange(segments) * 2 * math.pi / segments
    p, a = np.meshgrid(polar, azimuth, indexing="ij")
    ring = np.stack([np.sin(p) * np.cos(a), np.sin(p) * np.sin(a), np.cos(p)], -1).reshape(-1, 3)
    vertices = np.concatenate([[[0.0, 0.0, 1.0]], ring, [[0.0, 0.0, -1.0]]])
    top, bottom = 0, rings * segments + 1
    idx = lambda r, s: 1 + r * segments + s % segments  # noqa: E731
    faces = [(top, idx(0, s), idx(0, s + 1)) for s in range(segments)]
    for r in range(rings - 1):
        for s in range(segments):
            faces += [(idx(r, s), idx(r + 1, s), idx(r + 1, s + 1)), (idx(r, s), idx(r + 1, s + 1), idx(r, s + 1))]
    faces += [(idx(rings - 1, s), bottom, idx(rings - 1, s + 1)) for s in range(segments)]
    faces = np.array(faces, dtype=np.int64)
    # orient outward: the normal of each face must point away from the centre
    tri = vertices[faces]
    outward = (np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]) * tri.mean(1)).sum(1) > 0
    faces[~outward] = faces[~outward][:, [0, 2, 1]]
    return torch.as_tensor(vertices, dtype=torch.float32), torch.as_tensor(faces)


ABSENT_DEPTH = -1.0  # behind the camera: culled by the renderer's near plane


def place(unit: torch.Tensor, semi_axes: np.ndarray, rotation: np.ndarray, center: np.ndarray,
          present: np.ndarray) -> torch.Tensor:
    """(B, V, 3) object vertices: scaled, rotated, moved; absent objects go behind the camera."""
    verts = unit[None].double().numpy() * semi_axes[:, None] @ np.transpose(rotation, (0, 2, 1)) + center[:, None]
    verts = np.where(present[:, None, None], verts, unit[None].numpy() * 0.01 + np.array([0.0, 0.0, ABSENT_DEPTH]))
    return torch.as_tensor(verts, dtype=torch.float32)
