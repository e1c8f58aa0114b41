"""Procedural backgrounds, batched in torch: colour gradients, multi-scale value noise, stripes, and clutter
(ellipses and rotated boxes, some skin-coloured to tempt the network).

Textures are expensive next to a rendered hand, so a run draws a bank of textures once (seeded) and each image
takes a random window of one: zoom, rotation, flip and a colour shift (bilinear grid_sample, images sharing a
texture together). Windows are magnified about 1.5-2×, which reads as a slightly out-of-focus background behind a
sharp hand."""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from s2hand.data.synth.appearance import SKIN_TONES

CLUTTER_SHAPES = 7
SUB_BATCH = 16  # windows sampled together (BackgroundBank.sample)


def _uniform(gen: torch.Generator, *shape: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return low + (high - low) * torch.rand(*shape, generator=gen)


def _noise(gen: torch.Generator, batch: int, channels: int, grid: int, size: int) -> torch.Tensor:
    return F.interpolate(torch.rand(batch, channels, grid, grid, generator=gen) * 2 - 1, size=(size, size),
                         mode="bicubic", align_corners=False)


def procedural_textures(batch: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """(batch, 3, size, size) float32 in [0, 1]."""
    half = max(size, 8)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, half), torch.linspace(0, 1, half), indexing="ij")

    # gradient between two random colours along a random direction
    c1, c2 = _uniform(gen, batch, 3, 1, 1), _uniform(gen, batch, 3, 1, 1)
    angle = _uniform(gen, batch, 1, 1, 1, high=2 * math.pi)
    t = (xs * angle.cos() + ys * angle.sin() - (angle.cos().clamp_max(0) + angle.sin().clamp_max(0)))
    t = t / (angle.cos().abs() + angle.sin().abs())
    image = c1 + t * (c2 - c1)

    # multi-scale value noise: colour blotches, then luminance texture
    image = image + _uniform(gen, batch, 1, 1, 1, high=0.25) * _noise(gen, batch, 3, 4, half)
    image = image + _uniform(gen, batch, 1, 1, 1, high=0.15) * _noise(gen, batch, 1, 12, half)
    image = image + _uniform(gen, batch, 1, 1, 1, high=0.08) * _noise(gen, batch, 1, 40, half)

    # stripes for about a third of the images (fabric, tiles, blinds)
    on = (torch.rand(batch, 1, 1, 1, generator=gen) < 0.35).float()
    direction = _uniform(gen, batch, 1, 1, 1, high=math.pi)
    period = _uniform(gen, batch, 1, 1, 1, low=0.04, high=0.25)
    phase = _uniform(gen, batch, 1, 1, 1, high=2 * math.pi)
    wave = torch.sin(2 * math.pi * (xs * direction.cos() + ys * direction.sin()) / period + phase)
    stripes = torch.sigmoid(_uniform(gen, batch, 1, 1, 1, low=1, high=12) * wave)
    stripe_color = _uniform(gen, batch, 3, 1, 1)
    image = image + on * _uniform(gen, batch, 1, 1, 1, low=0.3, high=0.9) * stripes * (stripe_color - image)

    # clutter: soft-edged ellipses and rotated boxes with a shading ramp, painted back to front
    skin = torch.as_tensor(SKIN_TONES, dtype=torch.float32)
    px = 1.0 / half
    for _ in range(CLUTTER_SHAPES):
        present = (torch.rand(batch, 1, 1, generator=gen) < 0.6).float()
        cx, cy = _uniform(gen, batch, 1, 1, low=-0.1, high=1.1), _uniform(gen, batch, 1, 1, low=-0.1, high=1.1)
        a, b = _uniform(gen, batch, 1, 1, low=0.03, high=0.35), _uniform(gen, batch, 1, 1, low=0.03, high=0.35)
        theta = _uniform(gen, batch, 1, 1, high=math.pi)
        u = ((xs - cx) * theta.cos() + (ys - cy) * theta.sin()) / a
        v = (-(xs - cx) * theta.sin() + (ys - cy) * theta.cos()) / b
        box = torch.rand(batch, 1, 1, generator=gen) < 0.5
        radius = torch.where(box, torch.maximum(u.abs(), v.abs()), (u * u + v * v).sqrt())
        mask = ((1 - radius) * torch.minimum(a, b) / px + 0.5).clamp(0, 1) * present
        color = _uniform(gen, batch, 3, 1, 1)
        skin_like = torch.rand(batch, 1, 1, 1, generator=gen) < 0.12
        tone = skin[torch.randint(0, len(skin), (batch,), generator=gen)].view(batch, 3, 1, 1)
        color = torch.where(skin_like, tone, color)
        ramp = 1 + _uniform(gen, batch, 1, 1, low=-0.35, high=0.35) * u.clamp(-1, 1)
        image = image + mask[:, None] * (color * ramp[:, None] - image)

    return image.clamp_(0.0, 1.0)


class BackgroundBank:
    """A seeded bank of textures; ``sample`` crops random windows of them for a batch of images."""

    def __init__(self, count: int, size: int, seed: int, chunk: int = 32) -> None:
        """count textures of size² pixels (an output window of zoom z covers z·size texture pixels)."""
        gen = torch.Generator().manual_seed(seed)
        self.textures = torch.cat([procedural_textures(min(chunk, count - i), size, gen) for i in range(0, count, chunk)])

    def __len__(self) -> int:
        return len(self.textures)

    def sample(self, rng: np.random.Generator, batch: int, out_size: int, *, index: np.ndarray | None = None,
               params: dict[str, np.ndarray] | None = None, as_uint8: bool = False) -> torch.Tensor:
        """(batch, 3, out_size, out_size) float in [0, 1], or with as_uint8 (batch, out_size, out_size, 3) uint8
        (x·255 + 0.5 truncated): window zoom 0.45-1 of the texture, any rotation, mirror, colour gain.

        Works through SUB_BATCH images at a time, so the temporaries (sampling grid, float window) stay small
        enough to be reused rather than mapped afresh (page faults) for every chunk."""
        params = params or self.sample_params(rng, batch)
        index = params["index"] if index is None else index
        zoom, angle, flip = params["zoom"], params["angle"], params["flip"]
        cos, sin = np.cos(angle) * zoom, np.sin(angle) * zoom
        theta = np.zeros((batch, 2, 3))
        theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos * flip, -sin, sin * flip, cos
        # keep the rotated window inside the texture: its half-diagonal reach is zoom·(|cos| + |sin|) ≤ 1
        reach = np.abs(cos) + np.abs(sin)
        theta[:, :, 2] = params["shift"] * np.maximum(1 - reach, 0)[:, None]
        theta = torch.as_tensor(theta, dtype=torch.float32)
        gain = torch.as_tensor(params["gain"], dtype=torch.float32)[:, :, None, None]
        if as_uint8:
            out = torch.empty(batch, out_size, out_size, 3, dtype=torch.uint8)
        else:
            out = torch.empty(batch, 3, out_size, out_size)
        for start in range(0, batch, SUB_BATCH):
            rows = slice(start, min(start + SUB_BATCH, batch))
            image = _windows(self.textures, index[rows], theta[rows], out_size)
            if as_uint8:  # clamp(image·gain, 0, 1)·255 + 0.5, truncated
                image.mul_(gain[rows] * 255.0).add_(0.5).clamp_(0.0, 255.0)
                out[rows].copy_(image.permute(0, 2, 3, 1))
            else:
                out[rows] = image.mul_(gain[rows]).clamp_(0.0, 1.0)
        return out

    def sample_params(self, rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
        return {
            "index": rng.integers(0, len(self), batch),
            "zoom": rng.uniform(0.45, 0.7, batch),  # ≤ 1/√2 so every rotation fits
            "angle": rng.uniform(0, 2 * np.pi, batch),
            "flip": np.where(rng.random(batch) < 0.5, -1.0, 1.0),
            "shift": rng.uniform(-1, 1, (batch, 2)),
            "gain": rng.uniform(0.75, 1.2, (batch, 1)) * rng.uniform(0.9, 1.1, (batch, 3)),
        }


def _windows(textures: torch.Tensor, index: np.ndarray, theta: torch.Tensor, size: int) -> torch.Tensor:
    """(n, 3, size, size) bilinear windows of textures[index] under the affine maps theta (n, 2, 3) (the
    `affine_grid` convention, align_corners=False). The windows lie inside the textures, so the padding mode
    never matters ('border': the cheapest); the grid is formed directly (affine_grid's batched matmul with
    K = 3 is several times slower)."""
    count = len(index)
    coords = (torch.arange(size, dtype=torch.float32) * 2 + 1) / size - 1  # pixel centres in [-1, 1]
    grid = torch.empty(count, size, size, 2)
    for axis in range(2):  # grid[..., axis] = θ[axis, 0]·x + θ[axis, 1]·y + θ[axis, 2]
        column = theta[:, axis, 1, None, None] * coords[None, :, None] + theta[:, axis, 2, None, None]
        torch.add(column, theta[:, axis, 0, None, None] * coords[None, None, :], out=grid[..., axis])
    image = torch.empty(count, 3, size, size)
    for texture in np.unique(index):  # group by texture: expand() views instead of copying a texture per image
        rows = torch.as_tensor(np.flatnonzero(index == texture))
        source = textures[int(texture)][None].expand(len(rows), -1, -1, -1)
        image.index_copy_(0, rows, F.grid_sample(source, grid.index_select(0, rows), mode="bilinear",
                                                 padding_mode="border", align_corners=False))
    return image
