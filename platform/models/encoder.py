"""Image encoder: torchvision EfficientNet-b0 (paper §3.2), returning a low-level and the global feature.

ImageNet weights cannot be downloaded here: a local state-dict file may be given (torchvision's
``efficientnet_b0`` key layout, as saved by ``torch.save(model.state_dict())``); otherwise random init.
"""
from __future__ import annotations

import os

import torch
import torchvision
from torch import nn

from s2hand.errors import S2HandError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class EfficientNetEncoder(nn.Module):
    """image (B, 3, H, W) in [0, 1] → (low-level features (B, 24, H/4, W/4), global feature (B, 1280))."""

    LOW_CHANNELS = 24
    GLOBAL_CHANNELS = 1280

    def __init__(self, pretrained_weights: str | os.PathLike | None = None) -> None:
        super().__init__()
        net = torchvision.models.efficientnet_b0(weights=None)
        if pretrained_weights is not None:
            load_backbone_weights(net, pretrained_weights)
        # stages 0-2 end at stride 4 (24 channels): the low-level feature for texture and lighting
        self.low = net.features[:3]
        self.high = net.features[3:]
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = (image - self.mean) / self.std
        low = self.low(x)
        return low, self.pool(self.high(low)).flatten(1)


def load_backbone_weights(net: nn.Module, path: str | os.PathLike) -> None:
    """Load a local torchvision EfficientNet-b0 state dict (weights_only: no code from the file runs)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as error:
        raise S2HandError(f"cannot load encoder weights from {path}: {error}") from error
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("classifier.")]
    if missing or unexpected:
        raise S2HandError(f"{path}: not an efficientnet_b0 state dict (missing {missing[:3]}..., unexpected {unexpected[:3]}...)")
