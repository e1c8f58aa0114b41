"""Forward-only hard rasterisation: the nearest face whose triangle contains each pixel centre, nothing else.

For data synthesis and other uses that need no soft coverage and no gradients. Gives bitwise the same face map
as the soft rasteriser's z-buffer (`rasterize_faces(...).face_index`): the per-face numbers come from the same
code (`_oriented_faces`), and the per-pair inside test and depth use the same float32 operations in the same
order, so every (face, pixel) pair gets the same verdict and the same depth key.

What it skips: the soft margin (faces are binned by their bounding box only), distances to edges, coverage
probabilities, saved tensors for backward. And instead of every pixel of a face's box it visits only the pixels
of each box row that can be inside the triangle: per row, the three edge functions bound the inside pixels to
one span (computed in float64 with a small tolerance, so it always contains every pixel the float32 test
accepts); on a hand at 224 px that is about a third of the box pixels. Levels, all vectorised (no Python loop
over samples, faces, rows or pixels):

    faces (B·F, active only) -> box rows (repeat_interleave) -> span pixels (repeat_interleave)

One int64 key per pair, order-preserving float32 depth key above the face's index within its sample, and one
scatter `amin` per chunk give the z-buffer with ties broken by the lower face index (as the soft path does).
Work is split into chunks of faces by an upper bound on their pairs (their box areas), which keeps the per-pair
temporaries in cache; pixels of one sample may be split across chunks (the scatter `amin` composes).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .rasterize import _KEY_EMPTY, _order_preserving_int, _oriented_faces

# Guard band (pixels) around each face's box, and relative tolerance of the span bounds: both far above float32
# rounding (~2e-7 relative), far below a pixel. They only admit candidates; the exact test decides. For a dtype
# coarser than float32 the relative ones grow with its epsilon (_tolerance).
_BOX_GUARD = 1e-3
_SPAN_TOL = 1e-6
_WIDEN_TOL = 2e-6


def _tolerance(dtype: torch.dtype, relative: float) -> float:
    return relative * max(1.0, torch.finfo(dtype).eps / torch.finfo(torch.float32).eps)


@dataclass(frozen=True)
class HardFragments:
    """face_index (B, H, W) long: nearest face whose triangle contains the pixel centre (edges inclusive), −1 for
    none. num_pairs: candidate (face, pixel) pairs examined (span pixels)."""

    face_index: torch.Tensor
    num_pairs: int


def rasterize_hard(
    face_screen: torch.Tensor,
    image_size: tuple[int, int],
    *,
    perspective: bool,
    near: float | None = None,
    max_pairs_per_chunk: int | None = None,
) -> HardFragments:
    """Hard z-buffer of per-sample screen-space triangles, without gradients.

    face_screen: (B, F, 3, 3) per face the (x, y, depth) of its corners, as for `rasterize_faces` (pixel (i, j)
    has its centre at (j + 0.5, i + 0.5)). perspective: depth is a pinhole camera's z (1/z is interpolated).
    near: faces with a corner at depth <= near are culled. max_pairs_per_chunk: bound on the box pixels of the
    faces processed together (None: 2^19 on CPU, measured best on a 224-px hand batch; 2^24 on GPU).
    """
    if face_screen.dim() != 4 or face_screen.shape[-2:] != (3, 3):
        raise ValueError(f"face_screen must be (B, F, 3, 3), got {tuple(face_screen.shape)}")
    if not face_screen.is_floating_point():
        raise ValueError(f"face_screen must be floating point, got {face_screen.dtype}")
    height, width = (int(s) for s in image_size)
    if height < 1 or width < 1:
        raise ValueError(f"image_size must be two positive ints (H, W), got {image_size!r}")
    batch, num_faces = face_screen.shape[:2]
    device = face_screen.device
    keys = torch.full((batch * height * width,), _KEY_EMPTY, dtype=torch.long, device=device)
    face_bits = max(1, num_faces.bit_length())  # room for an all-ones 'no face' value
    if 31 + face_bits > 62:
        raise ValueError(f"too many faces for the z-buffer key ({num_faces})")
    budget = max_pairs_per_chunk or (1 << 19 if device.type == "cpu" else 1 << 24)

    # Perspective: inside a face every depth key is <= 0 (−1/z weights times edge functions >= 0). There the
    # order-preserving map reduces to flipping the magnitude bits: the same integers, except +0.0 (reachable only
    # if all three products are zero), which lands above every negative value either way: the same order.
    ordered = _negative_order_preserving_int if perspective else _order_preserving_int
    num_pairs = 0
    with torch.no_grad():
        table = _active_faces(face_screen.detach(), height, width, num_faces, near, perspective)
        if table is not None:
            plane = height * width
            for chunk in _face_chunks(table, budget, max(1, (_EXACT - 1) // plane)):
                num_pairs += _rasterize_chunk(table, chunk, keys, width, plane, face_bits, ordered)
        # The low bits hold the face; an empty pixel's all-ones low bits name no face (face_bits leaves room).
        face_index = keys.bitwise_and_((1 << face_bits) - 1)
        face_index.masked_fill_(face_index == (1 << face_bits) - 1, -1)
    return HardFragments(face_index.view(batch, height, width), num_pairs)


_EXACT = 1 << 24  # float32 holds every integer below this exactly


def _negative_order_preserving_int(value: torch.Tensor) -> torch.Tensor:
    """Order-preserving float32 -> int32 for values <= 0 (rasterize._order_preserving_int there): one xor."""
    return value.float().view(torch.int32) ^ 0x7FFFFFFF

# Rows of _ActiveFaces.table. The first block is copied per row as is (rows 3-12 of the per-row table).
_EY, _VX, _WEIGHT, _FACE, _LINES, _EX, _VY = 0, 3, 6, 9, 10, 18, 21
_TABLE_ROWS = 24


@dataclass(frozen=True)
class _ActiveFaces:
    """Faces with at least one candidate pixel, one column each (A of them).

    table (24, A) float32: 0-2 edge y, 3-5 corner x, 6-8 depth weight, 9 face index within the sample,
    10-13 intercepts a and 14-17 slopes s of two right and two left span bounds (x <= a + s·y, x >= a + s·y at
    pixel-centre row y), 18-20 edge x, 21-23 corner y. Corners are shifted by −0.5 (pixel centres at integer
    coordinates), exactly as the soft path's per-pair test sees them.
    y0, ny, sample (A,) long: first box row, box rows, sample. box_pixels (A,) long: box area (bounds the pairs).
    """

    table: torch.Tensor
    y0: torch.Tensor
    ny: torch.Tensor
    sample: torch.Tensor
    box_pixels: torch.Tensor


def _active_faces(
    face_screen: torch.Tensor, height: int, width: int, num_faces: int, near: float | None, perspective: bool
) -> _ActiveFaces | None:
    faces = _oriented_faces(face_screen, near, perspective)
    vx, vy = faces.x - 0.5, faces.y - 0.5
    lo_x, hi_x, lo_y, hi_y = vx.amin(0), vx.amax(0), vy.amin(0), vy.amax(0)
    guard = torch.maximum(hi_x - lo_x, hi_y - lo_y).mul_(_tolerance(vx.dtype, _SPAN_TOL)).add_(_BOX_GUARD)
    x0 = torch.ceil(lo_x - guard).clamp_(0, width)
    x1 = torch.floor(hi_x + guard).clamp_(-1, width - 1)
    y0 = torch.ceil(lo_y - guard).clamp_(0, height)
    y1 = torch.floor(hi_y + guard).clamp_(-1, height - 1)
    nx, ny = (x1 - x0 + 1).clamp_min_(0), (y1 - y0 + 1).clamp_min_(0)
    active = torch.nonzero(faces.valid & (nx > 0) & (ny > 0)).squeeze(1)
    if active.numel() == 0:
        return None
    extras = torch.stack([y0, ny, nx, hi_x - lo_x, hi_y - lo_y])
    picked = torch.cat([vx, vy, faces.ex, faces.ey, faces.depth_weight, extras]).index_select(1, active)
    vx, vy, ex, ey, weight = picked[:15].view(5, 3, -1)
    y0, ny, nx, width_x, height_y = picked[15:]
    sample = torch.div(active, num_faces, rounding_mode="floor")
    face = (active - sample * num_faces).to(picked.dtype)[None]
    lines = _span_lines(vx, vy, ex, ey, width_x, height_y, y0 + ny)
    table = torch.cat([ey, vx, weight, face, lines, ex, vy])
    ny = ny.long()
    return _ActiveFaces(table, y0.long(), ny, sample, nx.long() * ny)


def _span_lines(vx, vy, ex, ey, width_x, height_y, y_end) -> torch.Tensor:
    """(8, A) float32: intercepts a of two right bounds (x <= a + s·y) and two left bounds (x >= a + s·y), then
    their slopes s, per face, y the pixel-centre row: together they contain every pixel the float32 inside test
    accepts.

    Edge k: e_k = ex·(y − vy) − ey·(x − vx) >= 0 inside. In float32 e_k errs by at most about
    3·2⁻²⁴·(|ex||y − vy| + |ey||x − vx|), |y − vy| and |x − vx| at most the box's height and width: accept
    e_k >= −tol, tol 5x that. Then ey > 0 bounds x from the right: x <= vx + (ex/ey)·(y − vy) + tol/ey; ey < 0
    from the left (same line). A nearly horizontal edge (|ey| <= 1e-6·|ex|, ill-conditioned) bounds nothing; the
    box rows stand in for it. Forming the line and evaluating it at y in float32 loses at most about
    3e-7·(|vx| + |s|·(|vy| + y) + |tol/ey| + |a|): each bound is widened by 1e-4 px plus 2e-6 times that
    (6x; both relative tolerances scale with a coarser dtype's epsilon). A triangle has at most two edges on each side (the ey sum to 0): the slots take the first and the last
    such edge (the same one twice if only one).
    """
    tol = (ex.abs() * (height_y + 2.0)).add_(ey.abs() * (width_x + 2.0)).mul_(_tolerance(ex.dtype, _SPAN_TOL))
    bounding = ey.abs() > ex.abs() * 1e-6
    safe_ey = torch.where(bounding, ey, 1.0)
    slope = ex / safe_ey
    offset = tol / safe_ey
    intercept = (vx - slope * vy).add_(offset)
    widen = (vy.abs() + y_end).mul_(slope.abs()).add_(vx.abs()).add_(offset.abs()).add_(intercept.abs())
    widen.mul_(_tolerance(ex.dtype, _WIDEN_TOL)).add_(1e-4)
    intercepts, slopes = [], []
    for side, sign in ((bounding & (ey > 0), 1.0), (bounding & (ey < 0), -1.0)):
        a = torch.where(side, torch.add(intercept, widen, alpha=sign), sign * math.inf)
        s = torch.where(side, slope, 0.0)
        for values, out in ((a, intercepts), (s, slopes)):  # first and last edge on this side
            out.append(torch.where(side[0], values[0], torch.where(side[1], values[1], values[2])))
            out.append(torch.where(side[2], values[2], torch.where(side[1], values[1], values[0])))
    return torch.stack(intercepts + slopes)


class _Chunk(NamedTuple):
    start: int  # faces [start, stop) of the active list
    stop: int
    num_rows: int
    first_sample: int


def _face_chunks(table: _ActiveFaces, budget: int, max_samples: int) -> list[_Chunk]:
    """Consecutive faces whose box pixels before them fall in one multiple of the budget (a chunk holds about
    budget box pixels, a bigger face one alone), and from at most max_samples consecutive samples (so that
    pixel offsets within a chunk are exact in float32); one host sync."""
    box_pixels, rows, sample = table.box_pixels, table.ny, table.sample
    before = torch.cumsum(box_pixels, 0) - box_pixels
    total = int(before[-1] + box_pixels[-1])
    starts = torch.cat([
        torch.searchsorted(before, torch.arange(0, total, budget, device=before.device)),
        torch.searchsorted(sample, torch.arange(0, int(sample[-1]) + 1, max_samples, device=sample.device)),
    ]).unique()  # sorted
    row_before = torch.cumsum(rows, 0) - rows
    bounds = torch.cat([starts, starts.new_tensor([len(rows)])])
    row_bounds = torch.cat([row_before, row_before.new_tensor([int(row_before[-1] + rows[-1])])])[bounds]
    first_sample = sample[starts.clamp_max(len(rows) - 1)]
    bounds, row_bounds, first_sample = (
        torch.cat([bounds, row_bounds, first_sample]).split([len(bounds), len(bounds), len(first_sample)]))
    bounds, row_bounds, first_sample = bounds.tolist(), row_bounds.tolist(), first_sample.tolist()
    return [
        _Chunk(a, b, rb - ra, s)
        for a, b, ra, rb, s in zip(bounds[:-1], bounds[1:], row_bounds[:-1], row_bounds[1:], first_sample)
        if b > a
    ]


def _rasterize_chunk(
    table: _ActiveFaces, chunk: _Chunk, keys: torch.Tensor, width: int, plane: int, face_bits: int, ordered
) -> int:
    """Rows -> spans -> pairs for one chunk of faces; scatters their keys into the z-buffer; returns the pairs.

    Everything per row and per pair is float32 (integers in it are exact: see _face_chunks), so one gather
    (index_select, fast on CPU for float) brings each pair all it needs."""
    device, start, stop, num_rows = keys.device, chunk.start, chunk.stop, chunk.num_rows
    data = table.table[:, start:stop]
    # Level 1: one entry per (face, box row): row y = row number − the face's first row number + its box y0.
    ny = table.ny[start:stop]
    row_face = torch.repeat_interleave(ny, output_size=num_rows)
    per_face = torch.stack([table.y0[start:stop] - (torch.cumsum(ny, 0) - ny),
                            (table.sample[start:stop] - chunk.first_sample) * plane]).to(data.dtype)
    shift, pixel_base = per_face.index_select(1, row_face)
    y = shift.add_(torch.arange(num_rows, dtype=data.dtype, device=device))
    geometry = data[_LINES:].index_select(1, row_face)  # (14, R): lines, ex, vy
    bounds = torch.addcmul(geometry[0:4], geometry[4:8], y)  # two right, two left
    x_last = torch.minimum(bounds[0], bounds[1]).clamp_max_(width - 1).floor_()
    x_first = torch.maximum(bounds[2], bounds[3]).clamp_min_(0).ceil_()
    count = (x_last - x_first).add_(1).clamp_min_(0).long()
    num_pairs = int(count.sum())
    if num_pairs == 0:
        return 0
    if num_pairs >= _EXACT:
        raise ValueError(f"{num_pairs} pairs in one chunk: lower max_pairs_per_chunk")

    # Per row: ex·(y − vy), exactly the product the soft path forms per pair; ey, vx, weight, face as they are;
    # x of the row's first pair minus its pair number; pixel of column 0 of the row (relative to the chunk).
    first_pair = (torch.cumsum(count, 0) - count).to(data.dtype)
    rows = torch.empty(15, num_rows, dtype=data.dtype, device=device)
    torch.mul(geometry[_EX - _LINES:_EX - _LINES + 3], y - geometry[_VY - _LINES:], out=rows[0:3])
    torch.index_select(data[:_LINES], 1, row_face, out=rows[3:13])
    torch.sub(x_first.clamp_max_(width), first_pair, out=rows[13])
    torch.add(pixel_base, y, alpha=width, out=rows[14])

    # Level 2: one entry per (face, pixel) of the spans; inside test and depth as rasterize._pair_geometry does.
    pair_row = torch.repeat_interleave(count, output_size=num_pairs)
    pairs = rows.index_select(1, pair_row)
    ex_apy, ey, vx, weight = pairs[:12].view(4, 3, num_pairs).unbind(0)
    face, px, pixel = pairs[12:]
    px += torch.arange(num_pairs, dtype=px.dtype, device=device)
    apx = px - vx
    edge_fn = torch.addcmul(ex_apy, ey, apx, value=-1.0)
    inside = edge_fn.amin(0) >= 0
    depth = (edge_fn * weight).sum(0)
    key = torch.add(face.long(), ordered(depth), alpha=1 << face_bits)  # int32 promoted in the add
    target = keys[chunk.first_sample * plane:]
    target.scatter_reduce_(0, pixel.add_(px).long(), torch.where(inside, key, _KEY_EMPTY), "amin")
    return num_pairs
