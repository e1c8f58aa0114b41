"""Smooth hand motion for synthetic videos.

Every channel (the 45 local joint angles, the global rotation, the translation, a held object's offset) follows a
uniform cubic B-spline through random keyframes, evaluated at a time-warped phase:

    speed(t) = deadzone(Σ_k a_k sin(2π f_k t + φ_k) + bias)      exact zeros = pauses, negative = reversals
    deadzone(u) = sign(u)·max(|u| − d, 0)²                          (squared: speed leaves zero smoothly)
    phase(t) = cumulative speed / total distance travelled   (in [0, 1])

A cubic B-spline is a convex combination of its keyframes, so joint angles drawn inside the E_J box limits stay
inside them at every frame. Articulation and global motion get independent warps, so fingers may pause while the
hand still moves. Velocity and acceleration are continuous: the squared deadzone lets the speed leave and reach
zero with zero slope.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from s2hand.hand.open_hand import sample_plausible_poses

DEADZONE = 0.15  # of the speed signal's amplitude: wider = more and longer pauses


def bspline(keys: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Uniform cubic B-spline through keys (K, D), K ≥ 4, at normalised positions s ∈ [0, 1] -> (len(s), D)."""
    segments = len(keys) - 3
    u = np.clip(s, 0.0, 1.0) * segments
    i = np.minimum(np.floor(u).astype(int), segments - 1)
    t = (u - i)[:, None]
    w = np.stack([(1 - t) ** 3, 3 * t**3 - 6 * t**2 + 4, -3 * t**3 + 3 * t**2 + 3 * t + 1, t**3]) / 6.0
    return sum(w[k] * keys[i + k] for k in range(4))


def time_warp(rng: np.random.Generator, frames: int, reversals: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(phase in [0, 1], speed) over the frames: varying speed with pauses (and reversals if allowed)."""
    t = np.arange(frames) / max(frames - 1, 1)
    cycles = rng.uniform(0.5, 3.0, 3) * max(frames / 60.0, 1.0)  # about one speed change every 20-120 frames
    signal = sum(rng.uniform(0.4, 1.0) * np.sin(2 * np.pi * c * t + rng.uniform(0, 2 * np.pi)) for c in cycles)
    signal = signal / (np.abs(signal).max() + 1e-9) + (rng.uniform(0.1, 0.5) if reversals else 1.2)
    speed = np.sign(signal) * np.maximum(np.abs(signal) - DEADZONE, 0.0) ** 2
    # normalise by the distance travelled (not the net span), so back-and-forth motion is not sped up
    travelled = np.abs(speed).sum()
    phase = np.cumsum(speed) / travelled if travelled > 1e-9 else np.zeros(frames)
    phase = phase - phase.min()
    return phase, speed


@dataclass
class Motion:
    pose: np.ndarray  # (F, 45) absolute local axis-angles
    rotation: np.ndarray  # (F, 3) axis-angle, model -> camera
    translation_offset: np.ndarray  # (F, 3) metres, added to the sequence's base translation
    object_offset: np.ndarray  # (F, 3) metres, a held object's offset from its anchor joint
    pose_speed: np.ndarray  # (F,) warp speed of the articulation (0 = paused)
    global_speed: np.ndarray  # (F,) warp speed of the global motion


def sample_motion(rng: np.random.Generator, frames: int, base_rotation: np.ndarray) -> Motion:
    """One sequence's motion around a base orientation."""
    n_keys = 4 + frames // 40  # a new key pose about every 40 frames (before time warping)
    pose_keys = sample_plausible_poses(n_keys, seed=int(rng.integers(2**31)))
    pose_phase, pose_speed = time_warp(rng, frames)
    global_phase, global_speed = time_warp(rng, frames)
    rot_keys = rng.normal(0, 0.3, (n_keys, 3))  # radians, in the model frame
    trans_keys = rng.normal(0, 1, (n_keys, 3)) * np.array([0.02, 0.02, 0.04])
    object_keys = rng.normal(0, 0.01, (n_keys, 3))
    rotation = (Rotation.from_rotvec(base_rotation) * Rotation.from_rotvec(bspline(rot_keys, global_phase))).as_rotvec()
    return Motion(
        pose=bspline(pose_keys, pose_phase),
        rotation=rotation,
        translation_offset=bspline(trans_keys, global_phase),
        object_offset=bspline(object_keys, global_phase),
        pose_speed=pose_speed,
        global_speed=global_speed,
    )
