"""2D affine maps between pixel frames, and what they do to images, keypoints, K and 3D points.

Pixel coordinates are continuous with pixel (i, j) covering [j, j+1) × [i, i+1), so its centre is (j + 0.5, i + 0.5)
(the renderer's and PIL's convention). An affine map A (3×3, last row 0 0 1) takes source pixels to output pixels:
    keypoints' = A · [u, v, 1],   K' = A · K   (the camera sees the same 3D points through the new image).
An in-plane rotation by θ is the one map that also moves 3D points: rotating the camera frame about its optical
axis by R_z(θ) turns K into A · K · R_zᵀ, which stays a proper intrinsic matrix when fx = fy (FACTS §5).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image


def translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def scaling(s: float) -> np.ndarray:
    return np.diag([s, s, 1.0])


def rotation_2d(theta: float) -> np.ndarray:
    """Rotation by θ radians in pixel coordinates (x right, y down): counter-clockwise on screen for θ < 0."""
    c, s = math.cos(theta), math.sin(theta)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_z(theta: float) -> np.ndarray:
    """The 3D rotation about the camera's optical axis that matches rotation_2d(θ) in the image."""
    return rotation_2d(theta)  # same matrix: x, y rotate, z (third row/column) stays


def about(center: tuple[float, float], transform: np.ndarray) -> np.ndarray:
    """transform applied about a centre point instead of the origin."""
    return translation(*center) @ transform @ translation(-center[0], -center[1])


def crop_to(box_center: tuple[float, float], side: float, out_size: int) -> np.ndarray:
    """Map the square of the given side centred at box_center onto an out_size × out_size image."""
    s = out_size / side
    return translation(out_size / 2.0, out_size / 2.0) @ scaling(s) @ translation(-box_center[0], -box_center[1])


def square_box(points: np.ndarray, margin: float, min_side: float = 16.0) -> tuple[tuple[float, float], float]:
    """Centre and side of the square around (N, 2) points, its side = margin × the larger extent."""
    lo, hi = points.min(0), points.max(0)
    center = (float(lo[0] + hi[0]) / 2.0, float(lo[1] + hi[1]) / 2.0)
    return center, max(float((hi - lo).max()) * margin, min_side)


def apply_to_points(A: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) pixel points through the affine A."""
    return points @ A[:2, :2].T + A[:2, 2]


def is_identity(A: np.ndarray, tol: float = 1e-9) -> bool:
    return bool(np.abs(A - np.eye(3)).max() < tol)


def warp_image(image: np.ndarray, A: np.ndarray, out_size: int, fill: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Resample (H, W, 3) uint8 through A onto out_size² (bilinear, one pass in C via PIL; pixels mapped from
    outside the source get ``fill``)."""
    if is_identity(A) and image.shape[:2] == (out_size, out_size):
        return image
    inverse = np.linalg.inv(A)  # PIL asks, for each output pixel, where to sample in the source
    coefficients = tuple(inverse[:2].reshape(-1))
    source = Image.fromarray(image)
    # Downscaling by more than 2× aliases with plain bilinear: shrink first with a box filter (reduce()).
    scale = math.sqrt(abs(np.linalg.det(A[:2, :2])))
    factor = int(1.0 / scale) if scale < 0.5 else 1
    if factor > 1:
        source = source.reduce(factor)
        coefficients = tuple((scaling(1.0 / factor) @ inverse)[:2].reshape(-1))
    out = source.transform((out_size, out_size), Image.Transform.AFFINE, coefficients,
                           resample=Image.Resampling.BILINEAR, fillcolor=fill)
    return np.array(out)  # writable: torch.from_numpy must not alias a read-only buffer
