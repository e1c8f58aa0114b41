"""S2HAND: encoder → geometry/texture heads → hand model → camera → renderer, plus the optional 2D branch.

One forward pass gives everything the losses need (paper §3): MANO parameters, camera-space mesh and joints,
projected joints, per-face texture and lighting, the rendered silhouette and image, and the 2D branch's keypoints.
S2HAND(V) is the same network applied to m × n frames (weights shared); the video losses regroup the batch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from s2hand.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera
from s2hand.hand.model import HandModel
from s2hand.models.encoder import EfficientNetEncoder
from s2hand.models.heads import GeometryHead, TextureHead
from s2hand.models.hourglass import StackedHourglass
from s2hand.render import MeshRenderer, face_normals

CameraKind = Literal["perspective", "orthographic"]
# Orthographic camera (videos without K): pixels per metre as a fraction of the image size; the hand's predicted
# scale and x/y translation place it in the frame.
ORTHO_PIXELS_PER_METRE_PER_PIXEL = 1.0 / 0.25


@dataclass(frozen=True)
class S2HandConfig:
    image_size: int = 224
    camera: CameraKind = "perspective"
    use_texture_head: bool = True
    use_2d_branch: bool = False
    hourglass_stacks: int = 2
    hourglass_channels: int = 256
    hourglass_depth: int = 4
    pretrained_weights: str | None = None


class S2Hand(nn.Module):
    def __init__(self, hand: HandModel, config: S2HandConfig = S2HandConfig()) -> None:
        super().__init__()
        self.config = config
        self.hand = hand
        self.encoder = EfficientNetEncoder(config.pretrained_weights)
        self.geometry = GeometryHead(EfficientNetEncoder.GLOBAL_CHANNELS, hand.pose_pca, hand.num_betas)
        num_faces = hand.faces.shape[0]
        self.texture = TextureHead(EfficientNetEncoder.LOW_CHANNELS, num_faces) if config.use_texture_head else None
        self.keypoints2d = (
            StackedHourglass(config.hourglass_stacks, config.hourglass_channels, config.hourglass_depth)
            if config.use_2d_branch else None
        )
        self.renderer = MeshRenderer(config.image_size)
        # canonical-pose normals for the lighted textures of E_T&S (paper Eq. 22): template, zero pose, mean shape
        with torch.no_grad():
            rest = hand(torch.zeros(1, 45), pose_space="axis_angle").canonical_vertices
        self.register_buffer("canonical_normals", face_normals(rest, hand.faces)[0], persistent=False)

    def camera(self, K: torch.Tensor | None, batch: int, like: torch.Tensor):
        if self.config.camera == "perspective":
            if K is None:
                raise ValueError("a perspective S2Hand needs intrinsics K (B, 3, 3)")
            return PerspectiveCamera(K.to(like.dtype))
        size = self.config.image_size
        scale = like.new_full((batch,), size * ORTHO_PIXELS_PER_METRE_PER_PIXEL)
        return WeakPerspectiveCamera(scale, like.new_full((batch, 2), size / 2.0))

    def forward(self, image: torch.Tensor, K: torch.Tensor | None = None, *, render: bool = True,
                keypoints2d: bool = True) -> dict[str, torch.Tensor | list[torch.Tensor]]:
        """image (B, 3, S, S) in [0, 1]; K (B, 3, 3) for the perspective camera. Returns a dict of predictions:
        pose, betas, scale, rotation, translation, vertices, joints3d (FreiHAND order, m), joints2d (px), rotations
        (B, 16, 3); with the texture head: face_colors, lighting (and, when render, rendered_image, silhouette);
        with the 2D branch (when keypoints2d): keypoints2d_stacks (list of (B, 21, 2))."""
        low, feature = self.encoder(image)
        out: dict = dict(self.geometry(feature))
        hand = self.hand(out["pose"], out["betas"], out["rotation"], out["scale"], out["translation"])
        camera = self.camera(K, image.shape[0], hand.vertices)
        out.update(vertices=hand.vertices, joints3d=hand.joints, rotations=hand.rotations,
                   joints2d=camera.project(hand.joints)[..., :2])
        if self.texture is not None:
            out.update(self.texture(low))
            if render:
                rendered = self.renderer(hand.vertices, self.hand.faces, out["face_colors"], out["lighting"], camera)
                out.update(rendered_image=rendered.image, silhouette=rendered.silhouette)
        if self.keypoints2d is not None and keypoints2d:
            out["keypoints2d_stacks"], _ = self.keypoints2d(image)
        return out
