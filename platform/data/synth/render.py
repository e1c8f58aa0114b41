"""Render batches of scenes: hand + occluder through `s2hand.render.render_mesh` (no grad), composited over the
backgrounds, plus the ground truth that falls out of the same pass (joints, vertices, 2D keypoints, per-joint
visibility from the face map, hand box)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from s2hand.geometry.camera import PerspectiveCamera
from s2hand.hand.joints import FREIHAND_PARENTS, FREIHAND_TIPS, HO3D_TO_FREIHAND, MANO_PARENTS
from s2hand.hand.model import HandModel
from s2hand.render import render_mesh

from . import occluder
from .appearance import SkinTexture
from .scene import SceneBatch

# Synthesis needs crisp images, not gradients: a narrow soft band keeps the rasteriser's work per face small
# while still anti-aliasing the outline a little.
RENDER_SIGMA = 0.1
RENDER_MIN_PROBABILITY = 0.02


@dataclass
class Rendered:
    images: np.ndarray  # (B, S, S, 3) uint8
    vertices: np.ndarray  # (B, 778, 3) camera frame (OpenCV), metres
    joints: np.ndarray  # (B, 21, 3) FreiHAND order
    keypoints: np.ndarray  # (B, 21, 2) projected joints, pixels
    visible: np.ndarray  # (B, 21) bool: the joint's own surface is what the image shows at its pixel
    hand_box: np.ndarray  # (B, 4) x0, y0, x1, y1 of the projected vertices
    hand_pixels: np.ndarray  # (B,) pixels showing the hand


def _allowed_segments(weights: torch.Tensor) -> torch.Tensor:
    """(21, 16) bool: which MANO bone's faces may show at a FreiHAND joint's pixel for it to count as visible —
    the two bones meeting at the joint (the palm for the wrist, the last phalanx for a tip)."""
    allowed = torch.zeros(21, 16, dtype=torch.bool)
    allowed[0, 0] = True
    for j in range(1, 21):
        if j in FREIHAND_TIPS:
            allowed[j, HO3D_TO_FREIHAND[FREIHAND_PARENTS[j]]] = True
        else:
            mano = HO3D_TO_FREIHAND[j]  # frei joint j is HO-3D (MANO) joint HO3D_TO_FREIHAND[j]
            allowed[j, [mano, MANO_PARENTS[mano]]] = True
    return allowed


class SceneRenderer:
    def __init__(self, hand: HandModel, image_size: int) -> None:
        self.hand = hand
        self.size = image_size
        self.hand_faces = hand.faces
        self.num_hand_faces = int(hand.faces.shape[0])
        self.sphere_vertices, sphere_faces = occluder.unit_sphere()
        self.faces = torch.cat([hand.faces, sphere_faces + hand.num_vertices])
        self.skin = SkinTexture(hand.mano.v_template, hand.faces)
        face_weights = hand.mano.lbs_weights[hand.faces].mean(1)  # (F, 16)
        self.face_bone = face_weights.argmax(1)
        self.allowed = _allowed_segments(face_weights)

    @torch.no_grad()
    def render(self, scenes: SceneBatch, background: torch.Tensor) -> Rendered:
        batch = len(scenes)
        offsets = torch.as_tensor(scenes.pose, dtype=torch.float32) - self.hand.pose_mean
        out = self.hand(offsets, torch.as_tensor(scenes.betas, dtype=torch.float32),
                        rotation=torch.as_tensor(scenes.rotation, dtype=torch.float32),
                        translation=torch.as_tensor(scenes.translation, dtype=torch.float32), pose_space="axis_angle")
        objects = occluder.place(self.sphere_vertices, scenes.occluder_axes, scenes.occluder_rotation,
                                 scenes.occluder_center, scenes.occluder_present)
        vertices = torch.cat([out.vertices, objects], 1)
        sphere_colors = np.broadcast_to(scenes.occluder_color[:, None], (batch, len(self.faces) - self.num_hand_faces, 3))
        colors = torch.as_tensor(np.concatenate([scenes.colors, sphere_colors], 1), dtype=torch.float32)
        K = torch.as_tensor(scenes.K, dtype=torch.float32)
        result = render_mesh(vertices, self.faces, colors, torch.as_tensor(scenes.lighting, dtype=torch.float32),
                             PerspectiveCamera(K), self.size, background=0.0, sigma=RENDER_SIGMA,
                             min_probability=RENDER_MIN_PROBABILITY)
        # The renderer composited over black: add the textured background where the silhouette leaves room.
        image = torch.addcmul(result.image, (1 - result.silhouette)[:, None], background)
        pixels = image.mul_(255).add_(0.5).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()

        uv = out.joints[..., :2] / out.joints[..., 2:3] @ K[:, :2, :2].transpose(1, 2) + K[:, None, :2, 2]
        visible = self._visible(uv, result.face_index)
        verts_uv = out.vertices[..., :2] / out.vertices[..., 2:3] @ K[:, :2, :2].transpose(1, 2) + K[:, None, :2, 2]
        box = torch.cat([verts_uv.amin(1), verts_uv.amax(1)], 1)
        hand_pixels = ((result.face_index >= 0) & (result.face_index < self.num_hand_faces)).sum((1, 2))
        return Rendered(pixels, out.vertices.numpy(), out.joints.numpy(), uv.numpy(), visible.numpy(), box.numpy(),
                        hand_pixels.numpy())

    def _visible(self, uv: torch.Tensor, face_index: torch.Tensor) -> torch.Tensor:
        batch = uv.shape[0]
        col, row = uv[..., 0].floor().long(), uv[..., 1].floor().long()
        inside = (col >= 0) & (col < self.size) & (row >= 0) & (row < self.size)
        flat = row.clamp(0, self.size - 1) * self.size + col.clamp(0, self.size - 1)
        face = face_index.view(batch, -1).gather(1, flat)  # (B, 21)
        on_hand = (face >= 0) & (face < self.num_hand_faces)
        bone = self.face_bone[face.clamp(0, self.num_hand_faces - 1)]
        own = self.allowed[torch.arange(21).expand(batch, 21), bone]
        # nothing at the pixel (a tip vertex just off the outline) hides the joint; another bone or the object does
        return inside & ((face < 0) | (on_hand & own))
