"""Regression heads: geometry (θ, β, s, R, T) from the global feature; texture and lighting from a low-level map.

Initialisation follows the reference (FACTS §1): scale bias 0.95, translation bias (0, 0, 0.65 m) so the first
prediction is a hand in front of the camera; pose, shape and rotation start at zero (the mean hand).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MEAN_SKIN = (200 / 256, 150 / 256, 150 / 256)
LIGHTING_DIM = 11


def _mlp(inputs: int, outputs: int, hidden: int = 128) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, outputs))


def _init_last(layer: nn.Sequential, bias: tuple[float, ...] | None = None) -> None:
    """Tiny weights: the first prediction is (almost) the bias, yet gradients reach the trunk from step one."""
    last = layer[-1]
    nn.init.normal_(last.weight, std=1e-3)
    if bias is None:
        nn.init.zeros_(last.bias)
    else:
        with torch.no_grad():
            last.bias.copy_(torch.tensor(bias))


class GeometryHead(nn.Module):
    """(B, 1280) → pose (B, P), betas (B, 10), scale (B,), rotation (B, 3) axis-angle, translation (B, 3) m."""

    def __init__(self, in_features: int = 1280, pose_dims: int = 30, shape_dims: int = 10,
                 init_translation: tuple[float, float, float] = (0.0, 0.0, 0.65), init_scale: float = 0.95) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(in_features, 1024), nn.BatchNorm1d(1024), nn.ReLU(inplace=True),
            nn.Linear(1024, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
        )
        self.pose = _mlp(512, pose_dims)
        self.shape = _mlp(512, shape_dims)
        self.scale = _mlp(512, 1)
        self.rotation = _mlp(512, 3)
        self.translation = _mlp(512, 3)
        # tiny initial weights keep the first predictions at the mean hand, in front of the camera
        for head in (self.pose, self.shape, self.rotation):
            _init_last(head)
        _init_last(self.scale, (init_scale,))
        _init_last(self.translation, init_translation)

    def forward(self, feature: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(feature)
        return {
            "pose": self.pose(h),
            "betas": self.shape(h),
            "scale": self.scale(h).abs().squeeze(-1),
            "rotation": self.rotation(h),
            "translation": self.translation(h),
        }


class TextureHead(nn.Module):
    """Low-level map (B, C, H, W) → face colours (B, F, 3) in (0, 1) and lighting (B, 11).

    Colours are a sigmoid around the mean skin colour (the reference adds a tanh residual to it): bounded, and equal
    to the mean at initialisation. Lighting: ambient intensity, ambient colour, directional intensity, directional
    colour (sigmoids), direction (unit vector); it starts as soft white light from the camera.
    """

    def __init__(self, in_channels: int, num_faces: int, width: int = 64) -> None:
        super().__init__()
        self.num_faces = num_faces
        self.conv = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
        )
        hidden = width * 16
        self.colors = nn.Linear(hidden, num_faces * 3)
        self.lighting = nn.Linear(hidden, LIGHTING_DIM)
        nn.init.normal_(self.colors.weight, std=1e-3)
        nn.init.zeros_(self.colors.bias)
        nn.init.normal_(self.lighting.weight, std=1e-3)
        logit = lambda p: math.log(p / (1 - p))  # noqa: E731
        with torch.no_grad():
            self.lighting.bias.copy_(torch.tensor(
                [logit(0.6), 3.0, 3.0, 3.0, logit(0.4), 3.0, 3.0, 3.0, 0.0, 0.0, -1.0]))
        self.register_buffer("mean_logit", torch.logit(torch.tensor(MEAN_SKIN)), persistent=False)

    def forward(self, low: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.conv(low)
        residual = self.colors(h).view(-1, self.num_faces, 3)
        raw = self.lighting(h)
        lighting = torch.cat([torch.sigmoid(raw[:, :8]), F.normalize(raw[:, 8:], dim=-1)], dim=-1)
        return {"face_colors": torch.sigmoid(self.mean_logit + residual), "lighting": lighting}
