"""Binning: which (face, pixel) pairs a rasteriser has to look at, without a B×H×W×F tensor.

Each face touches only the pixels of its screen bounding box, grown by the soft margin and clipped to the image.
The boxes are enumerated as flat (face, pixel) pairs with two `repeat_interleave` levels (faces -> box rows ->
pixels), so there is no Python loop over samples, faces or pixels and no integer division per pair. Batches
whose pair count exceeds a budget are split into chunks of whole samples (pixels of different samples never
interact), which bounds the memory of the per-pair tensors.

Pixel convention: pixel (i, j) (row i, column j) has its centre at screen point (x, y) = (j + 0.5, i + 0.5).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PixelBoxes:
    """Per-face pixel boxes: first column/row and their counts (all (N,) long; count 0 = face touches nothing)."""

    x0: torch.Tensor
    y0: torch.Tensor
    nx: torch.Tensor
    ny: torch.Tensor

    @property
    def num_pairs(self) -> torch.Tensor:
        return self.nx * self.ny


@dataclass(frozen=True)
class PixelFacePairs:
    """Flat candidate pairs, one entry per (face, pixel); all (P,).

    face: row into the flat (B·F) face table; pixel: flat index into (B·H·W); x, y: integer pixel column and row
    (the pixel centre is at (x + 0.5, y + 0.5)).
    """

    face: torch.Tensor
    pixel: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return self.face.shape[0]


def pixel_boxes(lo: torch.Tensor, hi: torch.Tensor, margin: float, height: int, width: int) -> PixelBoxes:
    """Pixels whose centres lie in the box [lo - margin, hi + margin], clipped to the image.

    lo, hi: (N, 2) screen-space (x, y) corners of each face's bounding box.
    """
    x0, nx = _pixel_range(lo[:, 0], hi[:, 0], margin, width)
    y0, ny = _pixel_range(lo[:, 1], hi[:, 1], margin, height)
    return PixelBoxes(x0=x0, y0=y0, nx=nx, ny=ny)


def _pixel_range(lo: torch.Tensor, hi: torch.Tensor, margin: float, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Centre j + 0.5 >= lo − m  <=>  j >= lo − m − 0.5; clamping in float first keeps far-away faces finite.
    first = torch.ceil(lo - (margin + 0.5)).clamp_(0, size)
    last = torch.floor(hi + (margin - 0.5)).clamp_(-1, size - 1)
    return first.long(), (last - first + 1).clamp_min_(0).long()


def enumerate_pairs(
    boxes: PixelBoxes,
    face_rows: torch.Tensor,
    pixel_base: torch.Tensor,
    width: int,
    num_rows: int,
    num_pairs: int,
) -> PixelFacePairs:
    """Expands the boxes of some faces into flat (face, pixel) pairs.

    boxes: the selected faces' boxes (A,) (all with a non-zero count), face_rows: their rows in the face table,
    pixel_base: flat index of each face's sample's first pixel (b·H·W). num_rows = Σ ny and num_pairs = Σ nx·ny
    are passed in because the caller already has them on the host (no extra device sync here).
    """
    device = face_rows.device
    # Level 1: one entry per (face, box row). index_select, not fancy indexing: the faster kernel on CPU.
    row_face = torch.repeat_interleave(boxes.ny, output_size=num_rows)
    first_row = torch.cumsum(boxes.ny, 0) - boxes.ny
    row_in_box = torch.arange(num_rows, device=device) - first_row.index_select(0, row_face)
    row_y = boxes.y0.index_select(0, row_face) + row_in_box
    row_nx = boxes.nx.index_select(0, row_face)
    # Level 2: one entry per (face, pixel). Within a row x = pair number − the row's first pair number + x0.
    pair_row = torch.repeat_interleave(row_nx, output_size=num_pairs)
    first_pair = torch.cumsum(row_nx, 0) - row_nx
    row_x_offset = boxes.x0.index_select(0, row_face) - first_pair
    row_pixel_offset = pixel_base.index_select(0, row_face) + row_y * width + row_x_offset
    pair_number = torch.arange(num_pairs, device=device)
    return PixelFacePairs(
        face=face_rows.index_select(0, row_face).index_select(0, pair_row),
        pixel=pair_number + row_pixel_offset.index_select(0, pair_row),
        x=pair_number + row_x_offset.index_select(0, pair_row),
        y=row_y.index_select(0, pair_row),
    )


def sample_chunks(pairs_per_sample: list[int], max_pairs: int) -> list[tuple[int, int]]:
    """Splits samples 0..B-1 into consecutive [start, stop) chunks of at most max_pairs pairs.

    A chunk holds at least one sample, so a single sample larger than the budget forms a chunk on its own.
    """
    chunks: list[tuple[int, int]] = []
    start, total = 0, 0
    for b, n in enumerate(pairs_per_sample):  # B host integers: planning only, no tensor work per sample
        if b > start and total + n > max_pairs:
            chunks.append((start, b))
            start, total = b, 0
        total += n
    if pairs_per_sample:
        chunks.append((start, len(pairs_per_sample)))
    return chunks
