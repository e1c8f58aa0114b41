"""Training-time augmentation (FACTS §5), drawn per sample from a seeded Generator.

Geometric part, one affine map about the output centre c:  A = T(c + shift) · R(θ) · S(zoom) · T(−c)
  θ ~ U(±rotation_max_deg) when `rotation` is on (the reference: U(−π, π)); zoom ~ U(1 ± scale_jitter);
  shift ~ U(±crop_jitter · size) per axis. The rotation is also applied to 3D quantities as R_z(θ) about the
  optical axis, with K' = A·K·R_zᵀ, so projecting the rotated joints with K' lands on the rotated keypoints.
Photometric part: brightness, contrast and saturation factors ~ U(1 ± color_jitter), in that order.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from s2hand.config.spec import AugmentSpec
from s2hand.data.transforms import about, rotation_2d, rotation_z, scaling, translation


@dataclass(frozen=True)
class Augmentation:
    angle: float = 0.0  # radians
    zoom: float = 1.0
    shift: tuple[float, float] = (0.0, 0.0)  # output pixels
    brightness: float = 1.0
    contrast: float = 1.0
    saturation: float = 1.0

    def affine(self, size: int) -> np.ndarray:
        c = size / 2.0
        return translation(*self.shift) @ about((c, c), rotation_2d(self.angle) @ scaling(self.zoom))

    def rotation3d(self) -> np.ndarray:
        return rotation_z(self.angle)

    @property
    def photometric(self) -> bool:
        return (self.brightness, self.contrast, self.saturation) != (1.0, 1.0, 1.0)


IDENTITY = Augmentation()


def sample_augmentation(spec: AugmentSpec, size: int, rng: np.random.Generator) -> Augmentation:
    angle = math.radians(rng.uniform(-spec.rotation_max_deg, spec.rotation_max_deg)) if spec.rotation else 0.0
    zoom = rng.uniform(1 - spec.scale_jitter, 1 + spec.scale_jitter) if spec.scale_jitter else 1.0
    shift = tuple(rng.uniform(-spec.crop_jitter, spec.crop_jitter, 2) * size) if spec.crop_jitter else (0.0, 0.0)
    j = spec.color_jitter
    factors = rng.uniform(1 - j, 1 + j, 3) if j else (1.0, 1.0, 1.0)
    return Augmentation(angle, zoom, (float(shift[0]), float(shift[1])), *(float(f) for f in factors))


_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def color_jitter(image: np.ndarray, aug: Augmentation) -> np.ndarray:
    """(H, W, 3) float32 in [0, 1] -> jittered and clamped, in place where possible (torchvision's definitions of
    the three factors). NumPy, not torch: per-sample work in loader processes must not start torch thread pools."""
    if not aug.photometric:
        return image
    image *= aug.brightness
    mean = float((image @ _LUMA).mean())
    image = mean + aug.contrast * (image - mean)
    gray = (image @ _LUMA)[..., None]
    image = gray + aug.saturation * (image - gray)
    return np.clip(image, 0.0, 1.0, out=image)
