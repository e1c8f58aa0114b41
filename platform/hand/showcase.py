"""Render the hand in named poses: a quick visual check that the model looks and bends like a right hand."""
from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from s2hand.geometry.camera import PerspectiveCamera
from s2hand.geometry.rotations import axis_angle_to_matrix
from s2hand.hand.model import HandModel

SKIN_RGB = (0.85, 0.64, 0.55)
# ambient (1), ambient colour (3), directional (1), directional colour (3), direction toward the light (3)
SHOWCASE_LIGHTING = (0.45, 1.0, 1.0, 1.0, 0.65, 1.0, 0.97, 0.92, -0.35, -0.45, -0.82)
# camera-from-model rotations: fingers up in the image; "back" shows the dorsum, "palm" the palm, "side" the thumb
VIEWS = {
    "back": torch.tensor([[0.0, 0.0, -1.0], [1.0, 0.0, 0.0], [0.0, -1.0, 0.0]]),
    "palm": torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]),
    "side": torch.tensor([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]]),
}


def skin_colors(num_faces: int, seed: int = 0) -> torch.Tensor:
    """A plain skin albedo with slight per-face variation, so the faceting is visible."""
    rng = np.random.default_rng(seed)
    base = np.asarray(SKIN_RGB) * (1.0 + 0.04 * rng.standard_normal((num_faces, 1)))
    return torch.as_tensor(np.clip(base, 0, 1), dtype=torch.float32)


def render_poses(hand: HandModel, poses_deg: list[np.ndarray | None], view: str = "back", image_size: int = 256,
                 face_colors: torch.Tensor | None = None) -> np.ndarray:
    """Render each pose (15×3 degrees, or None for the mean pose) -> (N, H, W, 3) uint8 images."""
    from s2hand.render import render_mesh

    n = len(poses_deg)
    local = torch.stack([
        hand.pose_mean.new_zeros(45) if p is None else torch.as_tensor(np.deg2rad(p).reshape(45), dtype=torch.float32) - hand.pose_mean
        for p in poses_deg
    ])  # offsets from the model's mean, so None renders the mean pose
    out = hand(local, pose_space="axis_angle")
    R = VIEWS[view].expand(n, 3, 3)
    centred = out.canonical_vertices - out.canonical_vertices.mean(1, keepdim=True)
    radius = centred.norm(dim=-1).amax(1).clamp_min(1e-3)
    focal = 3.0 * image_size
    depth = focal * radius / (0.42 * image_size)  # fit the hand in the frame
    vertices = centred @ R.transpose(-1, -2) + torch.stack([torch.zeros(n), torch.zeros(n), depth], -1)[:, None]
    K = torch.tensor([[focal, 0, image_size / 2], [0, focal, image_size / 2], [0, 0, 1.0]]).expand(n, 3, 3)
    colors = (face_colors if face_colors is not None else skin_colors(hand.faces.shape[0])).expand(n, -1, -1)
    lighting = torch.tensor(SHOWCASE_LIGHTING).expand(n, 11)
    with torch.no_grad():
        result = render_mesh(vertices, hand.faces, colors, lighting, PerspectiveCamera(K), image_size,
                             background=(1.0, 1.0, 1.0))
    return (result.image.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)


def contact_sheet(images: np.ndarray, columns: int) -> np.ndarray:
    """(N, H, W, 3) -> one grid image."""
    n, h, w, _ = images.shape
    rows = math.ceil(n / columns)
    sheet = np.full((rows * h, columns * w, 3), 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * h:(r + 1) * h, c * w:(c + 1) * w] = image
    return sheet


def save_png(path: str | os.PathLike, image: np.ndarray) -> Path:
    from PIL import Image

    from s2hand.io.atomic import atomic_write

    with atomic_write(path, "wb") as handle:
        Image.fromarray(image).save(handle, format="PNG")
    return Path(path)
