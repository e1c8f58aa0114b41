"""Flat per-face shading, the paper's Eq. 22, usable on its own (e.g. with canonical-pose normals).

    lit colour = (l_a·c_a + max(0, n·d̂)·l_d·c_d) ⊙ C

n the unit face normal, d̂ the unit direction from the surface toward the light, both in the same frame (camera
space for rendering). The 11 lighting numbers per sample are laid out as
[l_a (1), c_a (3), l_d (1), c_d (3), d (3)].
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

LIGHTING_DIM = 11
_EPS = 1e-12


@dataclass(frozen=True)
class Lighting:
    """The lighting code split into its named parts, each (B, k)."""

    ambient_intensity: torch.Tensor  # (B, 1)
    ambient_color: torch.Tensor  # (B, 3)
    directional_intensity: torch.Tensor  # (B, 1)
    directional_color: torch.Tensor  # (B, 3)
    direction: torch.Tensor  # (B, 3), from surface toward the light, any length

    @classmethod
    def from_tensor(cls, lighting: torch.Tensor) -> Lighting:
        if lighting.dim() != 2 or lighting.shape[1] != LIGHTING_DIM:
            raise ValueError(f"lighting must be (B, {LIGHTING_DIM}), got {tuple(lighting.shape)}")
        return cls(*lighting.split([1, 3, 1, 3, 3], dim=1))


def face_normals(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit normals (B, F, 3) of faces (F, 3) over vertices (B, V, 3): normalize((v1 − v0) × (v2 − v0)).

    Counter-clockwise faces seen from outside give outward normals. Degenerate faces get a zero normal.
    """
    if vertices.dim() != 3 or vertices.shape[-1] != 3:
        raise ValueError(f"vertices must be (B, V, 3), got {tuple(vertices.shape)}")
    if faces.dim() != 2 or faces.shape[-1] != 3:
        raise ValueError(f"faces must be (F, 3), got {tuple(faces.shape)}")
    v0, v1, v2 = vertices[:, faces].unbind(dim=2)
    return F.normalize(torch.linalg.cross(v1 - v0, v2 - v0, dim=-1), dim=-1, eps=_EPS)


def shade_faces(face_colors: torch.Tensor, normals: torch.Tensor, lighting: torch.Tensor) -> torch.Tensor:
    """Eq. 22: lit face colours (B, F, 3) from albedo (B, F, 3), unit normals (B, F, 3) or shared (F, 3), and
    lighting (B, 11). Differentiable in all three."""
    if face_colors.dim() != 3 or face_colors.shape[-1] != 3:
        raise ValueError(f"face_colors must be (B, F, 3), got {tuple(face_colors.shape)}")
    if normals.shape[-2:] != face_colors.shape[-2:] or normals.dim() not in (2, 3):
        num_faces = face_colors.shape[1]
        raise ValueError(f"normals must be (B, F, 3) or (F, 3) with F = {num_faces}, got {tuple(normals.shape)}")
    light = Lighting.from_tensor(lighting)
    if lighting.shape[0] != face_colors.shape[0]:
        raise ValueError(f"lighting must be (B, 11) with B = {face_colors.shape[0]}, got {tuple(lighting.shape)}")
    direction = F.normalize(light.direction, dim=-1, eps=_EPS)
    cosine = (normals * direction[:, None, :]).sum(-1, keepdim=True).clamp_min(0.0)  # (B, F, 1)
    ambient = (light.ambient_intensity * light.ambient_color)[:, None, :]
    directional = (light.directional_intensity * light.directional_color)[:, None, :]
    return (ambient + cosine * directional) * face_colors
