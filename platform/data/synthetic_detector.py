"""The synthetic 2D detector: projected ground truth plus the errors a real detector (OpenPose, MediaPipe) makes,
so self-supervision on synthetic data faces realistic, not perfect, keypoints. Seeded; rates documented here.

Noise model, per image (sizes scale with the image: σ in px at 224 px, ×image_size/224):
  1. image difficulty q ~ Beta(2, 5) (mostly easy, a tail of hard images); it scales jitter by (1 + 2q) and lowers
     confidence by 0.3q.
  2. visible joints: Gaussian jitter σ_visible = 1.5 px (fingertips ×1.3), confidence ~ N(0.85, 0.08).
     occluded joints (hidden by the hand itself or an object): σ_occluded = 5 px, confidence ~ U(0.1, 0.5).
  3. finger swap, probability p_swap = 0.04 per image: two neighbouring fingers exchange their 1-4 most distal
     joints (the classic confusion of adjacent fingers); confidence unchanged (the detector is sure, and wrong).
  4. wild joint, probability p_wild = 0.015 per joint: the keypoint lands uniformly inside the hand box grown ×1.5,
     confidence ~ U(0.1, 0.6).
  5. image border: confidence × clip(d / border_px, 0, 1), d the distance to the nearest image edge
     (border_px = 8 px); a keypoint outside the image is missed: (0, 0) with confidence 0.
  6. missed joints, probability p_miss = 0.01 per joint: (0, 0), confidence 0 (OpenPose's convention).
Detected joints keep a confidence in [0.02, 1]; exactly 0 means missed.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from s2hand.hand.joints import FREIHAND_TIPS

# FreiHAND-order chains from MCP/CMC to tip, thumb first.
FINGER_CHAINS = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16], [17, 18, 19, 20]])


@dataclass(frozen=True)
class NoiseModel:
    """Rates and scales of the synthetic detector (see the module docstring)."""

    sigma_visible_px: float = 1.5
    sigma_occluded_px: float = 5.0
    tip_sigma_factor: float = 1.3
    confidence_visible: tuple[float, float] = (0.85, 0.08)  # mean, sd
    confidence_occluded: tuple[float, float] = (0.1, 0.5)  # uniform range
    difficulty_beta: tuple[float, float] = (2.0, 5.0)
    p_swap: float = 0.04
    p_wild: float = 0.015
    wild_confidence: tuple[float, float] = (0.1, 0.6)
    p_miss: float = 0.01
    border_px: float = 8.0
    reference_size: int = 224

    def describe(self) -> dict:
        return {"name": "synthetic", "version": "1", **asdict(self)}


def synthetic_detections(keypoints: np.ndarray, visible: np.ndarray, image_size: tuple[int, int], seed: int,
                         model: NoiseModel = NoiseModel()) -> tuple[np.ndarray, np.ndarray]:
    """keypoints (N, 21, 2) true projections in pixels; visible (N, 21) bool (or fraction in [0, 1]);
    image_size (width, height) -> noisy keypoints (N, 21, 2) float32 and confidences (N, 21) float32."""
    rng = np.random.default_rng(seed)
    keypoints = np.asarray(keypoints, np.float64)
    n = len(keypoints)
    width, height = image_size
    unit = max(width, height) / model.reference_size
    visible = np.asarray(visible, np.float64) >= 0.5

    difficulty = rng.beta(*model.difficulty_beta, size=(n, 1))
    sigma = np.where(visible, model.sigma_visible_px, model.sigma_occluded_px) * unit * (1 + 2 * difficulty)
    sigma[:, list(FREIHAND_TIPS)] *= model.tip_sigma_factor
    noisy = keypoints + rng.normal(size=keypoints.shape) * sigma[..., None]
    conf = np.where(visible, rng.normal(*model.confidence_visible, size=(n, 21)),
                    rng.uniform(*model.confidence_occluded, size=(n, 21)))
    conf = conf - 0.3 * difficulty

    swap = rng.random(n) < model.p_swap
    for i in np.nonzero(swap)[0]:  # rare (a few % of images): a loop over them is cheap
        finger = rng.integers(0, 4)
        depth = rng.integers(1, 5)
        a, b = FINGER_CHAINS[finger, 4 - depth:], FINGER_CHAINS[finger + 1, 4 - depth:]
        noisy[i, a], noisy[i, b] = noisy[i, b].copy(), noisy[i, a].copy()

    wild = rng.random((n, 21)) < model.p_wild
    lo, hi = keypoints.min(1), keypoints.max(1)  # (N, 2) hand box
    center, half = (lo + hi) / 2, 0.75 * (hi - lo) + 2 * unit
    anywhere = center[:, None] + (rng.random((n, 21, 2)) * 2 - 1) * half[:, None]
    noisy = np.where(wild[..., None], anywhere, noisy)
    conf = np.where(wild, rng.uniform(*model.wild_confidence, size=(n, 21)), conf)

    distance = np.minimum.reduce([noisy[..., 0], noisy[..., 1], width - noisy[..., 0], height - noisy[..., 1]])
    conf = conf * np.clip(distance / (model.border_px * unit), 0.0, 1.0)  # inside the image: floored below
    missed = (distance <= 0) | (rng.random((n, 21)) < model.p_miss)
    noisy[missed] = 0.0
    conf = np.where(missed, 0.0, np.clip(conf, 0.02, 1.0))
    return noisy.astype(np.float32), conf.astype(np.float32)


def visibility_from_depth(keypoints: np.ndarray, depth: np.ndarray, radius_px: float | np.ndarray = 6.0,
                          margin_m: float = 0.012) -> np.ndarray:
    """Self-occlusion estimate when no rendered visibility exists (real data): a joint counts as hidden when
    another joint projects within radius_px of it and lies more than margin_m nearer the camera.
    keypoints (N, 21, 2), depth (N, 21) camera z, radius_px a number or one per image -> (N, 21) bool visible."""
    radius = np.reshape(np.asarray(radius_px, dtype=np.float64), (-1, 1, 1))
    d2 = ((keypoints[:, :, None] - keypoints[:, None]) ** 2).sum(-1)  # (N, 21, 21)
    nearer = depth[:, None, :] < depth[:, :, None] - margin_m
    return ~((d2 < radius**2) & nearer).any(-1)
