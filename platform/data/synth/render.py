"""Render batches of scenes: hand + occluder through the renderer's hard, forward-only path
(`s2hand.render.rasterize_hard`: nearest face per pixel, flat Eq. 22 shading), composited straight into uint8 over
the backgrounds, the outline anti-aliased by a small blur on the outline pixels only; plus the ground truth that
falls out of the same pass (joints, vertices, 2D keypoints, per-joint visibility from the face map, hand box)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from s2hand.geometry.camera import PerspectiveCamera
from s2hand.hand.joints import FREIHAND_PARENTS, FREIHAND_TIPS, HO3D_TO_FREIHAND, MANO_PARENTS
from s2hand.hand.model import HandModel
from s2hand.render import face_normals, rasterize_hard, shade_faces
from s2hand.render.renderer import DEFAULT_NEAR

from . import occluder
from .appearance import SkinTexture
from .scene import SceneBatch

ANTIALIAS = True  # blur the outline pixels (both sides) a little, as a camera would


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
    def render(self, scenes: SceneBatch, background: torch.Tensor, timer: Timer | None = None) -> Rendered:
        """background: (B, S, S, 3) uint8 (painted over in place) or (B, 3, S, S) float in [0, 1]. timer: optional
        per-stage seconds (see Timer). The images are (B, S, S, 3) uint8."""
        timer = timer or Timer(enabled=False)
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
        lit = shade_faces(colors, face_normals(vertices, self.faces), torch.as_tensor(scenes.lighting, dtype=torch.float32))
        screen = PerspectiveCamera(K).project(vertices)
        timer.lap("hand_model")
        face_index = rasterize_hard(screen[:, self.faces], (self.size, self.size), perspective=True,
                                    near=DEFAULT_NEAR).face_index
        timer.lap("rasterize")
        pixels = composite_u8(lit, face_index, background, antialias=ANTIALIAS)
        timer.lap("composite")

        uv = out.joints[..., :2] / out.joints[..., 2:3] @ K[:, :2, :2].transpose(1, 2) + K[:, None, :2, 2]
        visible = self._visible(uv, face_index)
        verts_uv = out.vertices[..., :2] / out.vertices[..., 2:3] @ K[:, :2, :2].transpose(1, 2) + K[:, None, :2, 2]
        box = torch.cat([verts_uv.amin(1), verts_uv.amax(1)], 1)
        hand_pixels = torch.bucketize(face_index.view(batch, -1), torch.tensor([0, self.num_hand_faces]),
                                      right=True).eq_(1).sum(1)  # 0 <= face < hand faces
        rendered = Rendered(pixels.numpy(), out.vertices.numpy(), out.joints.numpy(), uv.numpy(), visible.numpy(),
                            box.numpy(), hand_pixels.numpy())
        timer.lap("ground_truth")
        return rendered

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


def composite_u8(lit: torch.Tensor, face_index: torch.Tensor, background: torch.Tensor,
                 antialias: bool = True) -> torch.Tensor:
    """(B, S, S, 3) uint8: each covered pixel the lit colour of its face, the background elsewhere; with
    antialias, each outline pixel (covered next to uncovered, or the other way round) becomes
    (4·itself + its 4 neighbours) / 8, a soft edge about a pixel wide.

    lit (B, F, 3) float, face_index (B, S, S) long (−1: none), background (B, S, S, 3) uint8 (painted over in
    place and returned) or (B, 3, S, S) float in [0, 1]. Colours round like the float image would (x·255 + 0.5,
    truncated), per face rather than per pixel.
    """
    batch, height, width = face_index.shape
    if background.dtype == torch.uint8:
        if background.shape != (batch, height, width, 3):
            raise ValueError(f"uint8 background must be (B, S, S, 3) = {(batch, height, width, 3)}, "
                             f"got {tuple(background.shape)}")
        image = background
    else:
        image = torch.empty(batch, height, width, 3, dtype=torch.uint8)
        image.copy_((background * 255.0).add_(0.5).clamp_(0, 255).permute(0, 2, 3, 1))
    palette = (lit * 255.0).add_(0.5).clamp_(0, 255).to(torch.uint8).view(-1, 3)
    covered = face_index >= 0
    flat = image.view(-1, 3)
    pixel = torch.nonzero(covered.view(-1)).squeeze(1)
    face = face_index.view(-1).index_select(0, pixel)
    face += torch.div(pixel, height * width, rounding_mode="floor") * lit.shape[1]  # row of the (B·F) palette
    flat.index_copy_(0, pixel, palette.index_select(0, face))
    if antialias:
        _blur_outline(flat, covered)
    return image


def _blur_outline(flat: torch.Tensor, covered: torch.Tensor) -> None:
    """In place on the (B·H·W, 3) uint8 image: outline pixels <- (4·pixel + 4 neighbours) / 8 (at the image
    border the missing neighbour is the pixel itself)."""
    batch, height, width = covered.shape
    change_y = covered[:, 1:] != covered[:, :-1]  # (B, H − 1, W): between rows i and i + 1
    change_x = covered[:, :, 1:] != covered[:, :, :-1]
    outline = torch.zeros_like(covered)
    outline[:, 1:] |= change_y
    outline[:, :-1] |= change_y
    outline[:, :, 1:] |= change_x
    outline[:, :, :-1] |= change_x
    pixel = torch.nonzero(outline.view(-1)).squeeze(1)
    if pixel.numel() == 0:
        return
    col = pixel.remainder(width)
    row = pixel.div(width, rounding_mode="floor").remainder_(height)
    neighbours = torch.stack([
        pixel - (col > 0).long(), pixel + (col < width - 1).long(),
        pixel - (row > 0).long() * width, pixel + (row < height - 1).long() * width,
    ])
    total = flat.index_select(0, neighbours.view(-1)).view(4, -1, 3).sum(0, dtype=torch.int16)
    total += flat.index_select(0, pixel).to(torch.int16) * 4
    flat.index_copy_(0, pixel, total.add_(4).div_(8, rounding_mode="floor").to(torch.uint8))


class Timer:
    """Accumulates wall and CPU seconds per named stage: lap(name) charges the time since the previous lap."""

    def __init__(self, enabled: bool = True) -> None:
        import time

        self.enabled = enabled
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._clock = (time.perf_counter, time.process_time)
        self._last = self._now() if enabled else (0.0, 0.0)

    def _now(self) -> tuple[float, float]:
        return self._clock[0](), self._clock[1]()

    def start(self) -> None:
        if self.enabled:
            self._last = self._now()

    def lap(self, name: str) -> None:
        if not self.enabled:
            return
        now = self._now()
        self.wall[name] = self.wall.get(name, 0.0) + now[0] - self._last[0]
        self.cpu[name] = self.cpu.get(name, 0.0) + now[1] - self._last[1]
        self._last = now
