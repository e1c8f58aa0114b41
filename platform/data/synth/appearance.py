"""Skin-like per-face albedo and lighting for synthetic hands (batched, seeded, no loops over faces)."""
from __future__ import annotations

import numpy as np
import torch

# sRGB albedos from very light to very dark skin; a tone is a random point on this polyline.
SKIN_TONES = np.array([
    [0.96, 0.80, 0.70], [0.91, 0.73, 0.61], [0.82, 0.62, 0.49], [0.70, 0.50, 0.37], [0.54, 0.37, 0.26],
    [0.38, 0.25, 0.17],
])


class SkinTexture:
    """Per-face colours from a tone, smooth blotches over the rest-pose surface, a lighter palm, face noise."""

    def __init__(self, rest_vertices: torch.Tensor, faces: torch.Tensor) -> None:
        tri = rest_vertices[faces]  # (F, 3, 3)
        self.centroids = tri.mean(1).double().numpy()  # metres, MANO frame (fingers −x, palm −y)
        normals = torch.linalg.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
        normals = torch.nn.functional.normalize(normals, dim=-1).double().numpy()
        self.palm = np.clip((-normals[:, 1] - 0.2) / 0.6, 0.0, 1.0)  # 1 on the palm side, 0 on the back
        self.num_faces = faces.shape[0]

    def sample(self, rng: np.random.Generator, batch: int) -> tuple[np.ndarray, np.ndarray]:
        """(batch, F, 3) albedos and the (batch, 3) base tone of each."""
        t = rng.uniform(0, len(SKIN_TONES) - 1, batch)
        lo = np.floor(t).astype(int).clip(0, len(SKIN_TONES) - 2)
        frac = (t - lo)[:, None]
        tone = SKIN_TONES[lo] * (1 - frac) + SKIN_TONES[lo + 1] * frac
        tone = tone * rng.uniform(0.92, 1.08, (batch, 1)) + rng.normal(0, 0.02, (batch, 3))
        # blotches: three random plane waves over the rest-pose surface (wavelengths 3-8 cm)
        k = rng.normal(size=(batch, 3, 3))
        k *= (2 * np.pi / rng.uniform(0.03, 0.08, (batch, 3, 1))) / np.linalg.norm(k, axis=-1, keepdims=True)
        phase = rng.uniform(0, 2 * np.pi, (batch, 3, 1))
        waves = np.sin(np.einsum("bkd,fd->bkf", k, self.centroids) + phase).mean(1)  # (B, F)
        shade = 1 + rng.uniform(0.02, 0.07, (batch, 1)) * waves + rng.normal(0, 0.02, (batch, self.num_faces))
        palm = self.palm[None, :, None] * rng.uniform(0.1, 0.3, (batch, 1, 1))
        colors = tone[:, None] * shade[..., None]
        colors = colors + palm * (np.array([1.0, 0.85, 0.8]) - colors)  # the palm is lighter and pinker
        return np.clip(colors, 0.02, 1.0), np.clip(tone, 0.02, 1.0)


def sample_lighting(rng: np.random.Generator, batch: int) -> np.ndarray:
    """(batch, 11): [ambient intensity, ambient rgb, directional intensity, directional rgb, direction toward the
    light]; the light sits on the camera's side (direction z < 0 in the OpenCV camera frame)."""
    ambient = rng.uniform(0.35, 0.75, (batch, 1))
    ambient_rgb = np.clip(1 + rng.normal(0, 0.06, (batch, 3)), 0.7, 1.2)
    directional = rng.uniform(0.2, 0.8, (batch, 1))
    directional_rgb = np.clip(1 + rng.normal(0, 0.08, (batch, 3)), 0.6, 1.3)
    direction = rng.normal(size=(batch, 3))
    direction[:, 2] = -np.abs(direction[:, 2]) - 0.5
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return np.concatenate([ambient, ambient_rgb, directional, directional_rgb, direction], axis=1)
