"""Cameras: batched, differentiable projection of camera-space points to pixels.

Every camera returns (..., N, 3) screen points: pixel x, pixel y and a depth used for visibility (larger = farther).
The renderer consumes exactly that, so it is independent of the camera model.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

_MIN_DEPTH = 1e-6


def project_perspective(points: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Pinhole projection. points (B, N, 3) in the OpenCV camera frame (metres), K (B, 3, 3) -> (B, N, 2) pixels.

    Points at or behind the camera get their depth clamped to a tiny positive value (the projection is then far
    outside the image, never NaN).
    """
    _check_points(points)
    if K.shape[-2:] != (3, 3) or K.shape[0] != points.shape[0]:
        raise ValueError(f"K must be (B, 3, 3) with B = {points.shape[0]}, got {tuple(K.shape)}")
    z = points[..., 2:3].clamp_min(_MIN_DEPTH)
    xy1 = torch.cat([points[..., :2] / z, torch.ones_like(z)], dim=-1)
    uv = xy1 @ K.transpose(-1, -2)
    return uv[..., :2]


def project_weak_perspective(points: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """Orthographic / weak-perspective projection (paper Table 8, videos without K).

    points (B, N, 3), scale (B,) or (B, 1) pixels per metre, offset (B, 2) pixels -> (B, N, 2): u = s·x + o.
    """
    _check_points(points)
    scale = scale.reshape(-1, 1, 1)
    return points[..., :2] * scale + offset.reshape(-1, 1, 2)


def _check_points(points: torch.Tensor) -> None:
    if points.dim() != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be (B, N, 3), got {tuple(points.shape)}")


@dataclass(frozen=True)
class PerspectiveCamera:
    """Per-sample intrinsics K (B, 3, 3)."""

    K: torch.Tensor

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """(B, N, 3) camera points -> (B, N, 3) screen points (u, v, depth z)."""
        return torch.cat([project_perspective(points, self.K), points[..., 2:3]], dim=-1)


@dataclass(frozen=True)
class WeakPerspectiveCamera:
    """u = s·x + o per sample; depth is the camera z (only its order matters for visibility)."""

    scale: torch.Tensor
    offset: torch.Tensor

    def project(self, points: torch.Tensor) -> torch.Tensor:
        return torch.cat([project_weak_perspective(points, self.scale, self.offset), points[..., 2:3]], dim=-1)


Camera = PerspectiveCamera | WeakPerspectiveCamera


def default_intrinsics(batch: int, image_size: int = 224, focal: float = 480.0, device=None, dtype=None) -> torch.Tensor:
    """A plausible K for synthetic data and demos: focal in pixels, principal point at the image centre."""
    K = torch.zeros(batch, 3, 3, device=device, dtype=dtype or torch.float32)
    K[:, 0, 0] = K[:, 1, 1] = focal
    K[:, 0, 2] = K[:, 1, 2] = image_size / 2.0
    K[:, 2, 2] = 1.0
    return K
