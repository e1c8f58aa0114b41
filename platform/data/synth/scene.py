"""Scene parameters of synthetic hand images, sampled in batches from one numpy Generator.

A scene is: hand shape β, local pose (45 absolute axis-angles, inside the E_J limits), global rotation R and
translation T (camera frame, OpenCV, metres; M = R·M0 + T about the model origin, as HandModel composes it),
intrinsics K, per-face albedo, lighting, and an optional occluding object. Backgrounds are drawn separately.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from s2hand.hand.model import HandModel
from s2hand.hand.open_hand import sample_plausible_poses

from .appearance import SkinTexture, sample_lighting
from .motion import Motion, sample_motion

FOCAL_RANGE = (430.0, 780.0)  # pixels at 224 px, the span of FreiHAND's intrinsics
PRINCIPAL_JITTER = 6.0  # pixels at 224 px
HAND_FILL = (0.5, 0.85)  # hand bounding-box extent / image size
CENTER_JITTER = 0.08  # of the image size
MIN_DEPTH = 0.2  # metres, nearest vertex
P_OCCLUDER = 0.3
OCCLUDER_AXES = (0.012, 0.035)  # metres


@dataclass
class SceneBatch:
    betas: np.ndarray  # (B, 10)
    pose: np.ndarray  # (B, 45) local axis-angles, absolute (mean pose included)
    rotation: np.ndarray  # (B, 3) axis-angle, model -> camera
    translation: np.ndarray  # (B, 3)
    K: np.ndarray  # (B, 3, 3)
    colors: np.ndarray  # (B, F, 3) albedo
    lighting: np.ndarray  # (B, 11)
    occluder_present: np.ndarray  # (B,) bool
    occluder_axes: np.ndarray  # (B, 3)
    occluder_rotation: np.ndarray  # (B, 3, 3)
    occluder_center: np.ndarray  # (B, 3)
    occluder_color: np.ndarray  # (B, 3)

    def __len__(self) -> int:
        return len(self.betas)

    def take(self, index: np.ndarray | slice) -> SceneBatch:
        return SceneBatch(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(parts: list[SceneBatch]) -> SceneBatch:
        return SceneBatch(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(SceneBatch)})


def sample_intrinsics(rng: np.random.Generator, batch: int, size: int) -> np.ndarray:
    unit = size / 224.0
    K = np.zeros((batch, 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = rng.uniform(*FOCAL_RANGE, batch) * unit
    K[:, :2, 2] = size / 2.0 + rng.normal(0, PRINCIPAL_JITTER * unit, (batch, 2))
    K[:, 2, 2] = 1.0
    return K


def sample_shapes(rng: np.random.Generator, batch: int) -> np.ndarray:
    return np.clip(rng.normal(0, 1, (batch, 10)), -2.5, 2.5)


def random_rotations(rng: np.random.Generator, batch: int) -> np.ndarray:
    return Rotation.random(batch, random_state=rng).as_rotvec()


@torch.no_grad()
def hand_at_origin(hand: HandModel, betas: np.ndarray, pose: np.ndarray, rotation: np.ndarray,
                   translation: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(B, 778, 3) vertices and (B, 21, 3) FreiHAND-order joints in the camera frame (translated if given)."""
    offsets = torch.as_tensor(pose, dtype=torch.float32) - hand.pose_mean
    out = hand(offsets, torch.as_tensor(betas, dtype=torch.float32),
               rotation=torch.as_tensor(rotation, dtype=torch.float32),
               translation=None if translation is None else torch.as_tensor(translation, dtype=torch.float32),
               pose_space="axis_angle")
    return out.vertices.double().numpy(), out.joints.double().numpy()


def place_in_view(vertices: np.ndarray, K: np.ndarray, size: int, fill: np.ndarray, offset_px: np.ndarray) -> np.ndarray:
    """Translation (B, 3) that puts the hand's box centre at the principal point + offset_px and makes its larger
    lateral extent cover ``fill`` of the image."""
    lo, hi = vertices.min(1), vertices.max(1)
    center = (lo + hi) / 2
    extent = (hi - lo)[:, :2].max(1)
    focal = K[:, 0, 0]
    depth = np.maximum(extent * focal / (fill * size), MIN_DEPTH + (hi - lo)[:, 2] / 2)
    target = np.stack([(offset_px[:, 0] + size / 2 - K[:, 0, 2]) * depth / focal,
                       (offset_px[:, 1] + size / 2 - K[:, 1, 2]) * depth / focal, depth], 1)
    return target - center


def sample_occluders(rng: np.random.Generator, joints: np.ndarray, probability: float) -> dict[str, np.ndarray]:
    """An ellipsoid in front of a random joint, offset sideways so it covers part of the hand."""
    batch = len(joints)
    present = rng.random(batch) < probability
    anchor = joints[np.arange(batch), rng.integers(0, 21, batch)]
    axes = rng.uniform(*OCCLUDER_AXES, (batch, 3))
    lateral = rng.normal(0, 0.015, (batch, 2))
    center = anchor + np.concatenate([lateral, -rng.uniform(0.03, 0.08, (batch, 1))], 1)
    return {
        "occluder_present": present,
        "occluder_axes": axes,
        "occluder_rotation": Rotation.random(batch, random_state=rng).as_matrix(),
        "occluder_center": center,
        "occluder_color": rng.uniform(0.05, 0.95, (batch, 3)),
    }


def sample_still_scenes(rng: np.random.Generator, batch: int, hand: HandModel, skin: SkinTexture,
                        size: int) -> SceneBatch:
    """Independent scenes (FreiHAND-like still images)."""
    betas = sample_shapes(rng, batch)
    pose = sample_plausible_poses(batch, seed=int(rng.integers(2**31)))
    rotation = random_rotations(rng, batch)
    K = sample_intrinsics(rng, batch, size)
    vertices, joints = hand_at_origin(hand, betas, pose, rotation)
    translation = place_in_view(vertices, K, size, rng.uniform(*HAND_FILL, batch),
                                rng.uniform(-CENTER_JITTER, CENTER_JITTER, (batch, 2)) * size)
    joints = joints + translation[:, None]
    colors, _ = skin.sample(rng, batch)
    return SceneBatch(betas=betas, pose=pose, rotation=rotation, translation=translation, K=K, colors=colors,
                      lighting=sample_lighting(rng, batch), **sample_occluders(rng, joints, P_OCCLUDER))



def sample_sequence_scenes(rng: np.random.Generator, frames: int, hand: HandModel, skin: SkinTexture,
                           size: int, occluder_probability: float = 0.5) -> tuple[SceneBatch, Motion]:
    """One video: constant shape, texture, lighting, camera and background; smooth motion (see motion.py); a held
    object (half the sequences) follows one joint with a smoothly varying offset."""
    betas = np.repeat(sample_shapes(rng, 1), frames, 0)
    K = np.repeat(sample_intrinsics(rng, 1, size), frames, 0)
    motion = sample_motion(rng, frames, random_rotations(rng, 1)[0])
    vertices, joints = hand_at_origin(hand, betas, motion.pose, motion.rotation)
    # place the sequence by its middle frame, leaving room to move
    mid = frames // 2
    fill = rng.uniform(0.5, 0.75)
    base = place_in_view(vertices[mid][None], K[:1], size, np.array([fill]),
                         rng.uniform(-CENTER_JITTER, CENTER_JITTER, (1, 2)) * size)[0]
    # HandModel rotates about the model origin, several cm from the hand's middle: compensate so the global
    # rotation turns the hand about its own centre instead of swinging it across the image
    canonical, _ = hand_at_origin(hand, betas[mid:mid + 1], motion.pose[mid:mid + 1], np.zeros((1, 3)))
    centre = (canonical[0].min(0) + canonical[0].max(0)) / 2
    rotations = Rotation.from_rotvec(motion.rotation)
    swing = rotations[mid].apply(centre) - rotations.apply(centre)
    translation = base + swing + motion.translation_offset
    joints = joints + translation[:, None]
    colors, _ = skin.sample(rng, 1)
    lighting = sample_lighting(rng, 1)
    present = rng.random() < occluder_probability
    anchor = joints[:, rng.integers(0, 21)]
    center = anchor + np.array([0.0, 0.0, -rng.uniform(0.03, 0.07)]) + motion.object_offset
    scenes = SceneBatch(
        betas=betas, pose=motion.pose, rotation=motion.rotation, translation=translation, K=K,
        colors=np.repeat(colors, frames, 0), lighting=np.repeat(lighting, frames, 0),
        occluder_present=np.full(frames, present),
        occluder_axes=np.repeat(rng.uniform(*OCCLUDER_AXES, (1, 3)), frames, 0),
        occluder_rotation=np.repeat(Rotation.random(1, random_state=rng).as_matrix(), frames, 0),
        occluder_center=center, occluder_color=np.repeat(rng.uniform(0.05, 0.95, (1, 3)), frames, 0),
    )
    return scenes, motion
