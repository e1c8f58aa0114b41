"""2D keypoint branch: stacked hourglass (Newell et al.) + integral regression (FACTS §4).

The 224 input is zero-padded right/bottom to 256 so pixel coordinates are unchanged; each stack predicts 21
heatmaps at 64×64, which are upsampled to the input size, soft-maxed over all pixels, and reduced to expected
(x, y) pixel positions (soft-argmax). Used in training only.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Residual(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        mid = cout // 2
        self.body = nn.Sequential(
            nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, mid, 1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, mid, 3, padding=1),
            nn.BatchNorm2d(mid), nn.ReLU(inplace=True), nn.Conv2d(mid, cout, 1),
        )
        self.skip = nn.Identity() if cin == cout else nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Hourglass(nn.Module):
    def __init__(self, depth: int, channels: int) -> None:
        super().__init__()
        self.up = Residual(channels, channels)
        self.down = Residual(channels, channels)
        self.inner = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels, channels)
        self.after = Residual(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.after(self.inner(self.down(F.max_pool2d(x, 2))))
        return self.up(x) + F.interpolate(low, scale_factor=2, mode="nearest")


def soft_argmax(heatmaps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, J, h, w) logits → (B, J, 2) expected pixel (x, y) after upsampling to size=(H, W); pixel centres at
    integer + 0.5, as in the renderer."""
    up = F.interpolate(heatmaps, size=size, mode="bilinear", align_corners=False)
    b, j, height, width = up.shape
    prob = torch.softmax(up.reshape(b, j, -1).float(), dim=-1).reshape(b, j, height, width)
    xs = torch.arange(width, device=up.device, dtype=prob.dtype) + 0.5
    ys = torch.arange(height, device=up.device, dtype=prob.dtype) + 0.5
    return torch.stack([(prob.sum(2) * xs).sum(-1), (prob.sum(3) * ys).sum(-1)], dim=-1)


class StackedHourglass(nn.Module):
    """image (B, 3, H, W) → list over stacks of keypoints (B, 21, 2) in input pixels (and the last heatmaps)."""

    def __init__(self, stacks: int = 2, channels: int = 256, depth: int = 4, joints: int = 21, input_size: int = 256) -> None:
        super().__init__()
        self.input_size = input_size
        self.stem = nn.Sequential(
            nn.Conv2d(3, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
            Residual(64, channels // 2), nn.MaxPool2d(2), Residual(channels // 2, channels // 2),
            Residual(channels // 2, channels),
        )
        self.hourglasses = nn.ModuleList(Hourglass(depth, channels) for _ in range(stacks))
        self.features = nn.ModuleList(
            nn.Sequential(Residual(channels, channels), nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels),
                          nn.ReLU(inplace=True)) for _ in range(stacks))
        self.heads = nn.ModuleList(nn.Conv2d(channels, joints, 1) for _ in range(stacks))
        self.merge_features = nn.ModuleList(nn.Conv2d(channels, channels, 1) for _ in range(stacks - 1))
        self.merge_heatmaps = nn.ModuleList(nn.Conv2d(joints, channels, 1) for _ in range(stacks - 1))

    def forward(self, image: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        height, width = image.shape[-2:]
        pad_h, pad_w = max(self.input_size - height, 0), max(self.input_size - width, 0)
        x = F.pad(image, (0, pad_w, 0, pad_h))  # right/bottom: coordinates stay those of the input
        x = self.stem(x)
        keypoints, heatmaps = [], None
        for k, hourglass in enumerate(self.hourglasses):
            feature = self.features[k](hourglass(x))
            heatmaps = self.heads[k](feature)
            keypoints.append(soft_argmax(heatmaps, (height + pad_h, width + pad_w)))
            if k < len(self.merge_features):
                x = x + self.merge_features[k](feature) + self.merge_heatmaps[k](heatmaps)
        return keypoints, heatmaps
