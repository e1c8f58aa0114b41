"""Soft rasterisation of screen-space triangles (SoftRas-style silhouette, hard z-buffer), batched, pure PyTorch.

For every candidate (face, pixel) pair (see `binning`) with d the distance in pixels from the pixel centre to the
triangle (0 on its boundary) the coverage probability is

    D = sigmoid(sign · d² / σ),   sign = +1 inside the triangle, −1 outside,

truncated to 0 where D < min_probability (outside beyond the margin sqrt(σ·ln((1 − p)/p))), and the silhouette is
S = 1 − Π(1 − D), accumulated as a scatter-add of log(1 − D) = −softplus(sign · d² / σ). Given the mesh's
edge adjacency, d inside a face is measured to its outline edges only (see `rasterize_faces`), so that S = 1
inside the outline instead of dipping along every internal edge.

One int64 key per pair encodes, from most to least significant bits: outside flag, a float32 value (depth key
inside, d² outside) made order-preserving as an integer, and the face row; a single scatter `amin` then gives per
pixel the nearest covering face (z-buffer), or if none covers the pixel the face with the largest D, with ties
broken deterministically by the lower face index.

Gradients: only the silhouette is differentiable here, with respect to the faces' screen x, y (via d², through
a custom autograd.Function that saves per-pair coefficients, or recomputes them chunk by chunk when there are too
many pairs to keep). The depth and the face maps are piecewise constant and carry no gradient.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, NamedTuple

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .binning import PixelBoxes, PixelFacePairs, enumerate_pairs, pixel_boxes, sample_chunks
from .topology import EdgeAdjacency

_KEY_EMPTY = torch.iinfo(torch.int64).max
_MIN_AREA2 = 1e-10  # twice the screen area (pixel²) below which a face counts as degenerate
_NOT_OUTLINE = 1e12  # added to d² (pixel²) of internal edges for pixels inside: never the nearest boundary


@dataclass(frozen=True)
class RasterSettings:
    """How to rasterise.

    image_size: (H, W). sigma: blur of the coverage sigmoid in pixel² (SoftRas σ). min_probability: D below this
    is dropped (sets the margin around each face). near: faces with any vertex at screen depth <= near are
    culled (None: no near plane).
    max_pairs_per_chunk: samples are processed in chunks of about this many (face, pixel) pairs, which bounds
    the per-pair temporaries (~200 bytes per pair); None picks 2^18 on CPU (temporaries stay in cache: ~2.5x
    faster than 2^20) and 2^23 on GPU (fewer kernel launches).
    max_cached_pairs: up to this many pairs in total, forward keeps 36 bytes per pair for backward; above it,
    backward recomputes them chunk by chunk (bounded memory, about 1.5x the time).
    """

    image_size: tuple[int, int]
    sigma: float = 0.5
    min_probability: float = 1e-4
    near: float | None = None
    max_pairs_per_chunk: int | None = None
    max_cached_pairs: int = 1 << 24

    def __post_init__(self) -> None:
        size = tuple(self.image_size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(f"image_size must be two positive ints (H, W), got {self.image_size!r}")
        object.__setattr__(self, "image_size", size)
        if not self.sigma > 0:
            raise ValueError(f"sigma must be > 0 (pixel²), got {self.sigma}")
        if not 0 < self.min_probability < 0.5:
            raise ValueError(f"min_probability must be in (0, 0.5), got {self.min_probability}")
        if (self.max_pairs_per_chunk is not None and self.max_pairs_per_chunk < 1) or self.max_cached_pairs < 0:
            raise ValueError("max_pairs_per_chunk must be >= 1 and max_cached_pairs >= 0")

    def chunk_budget(self, device: torch.device) -> int:
        if self.max_pairs_per_chunk is not None:
            return self.max_pairs_per_chunk
        return 1 << 18 if device.type == "cpu" else 1 << 23

    @property
    def cutoff_sq(self) -> float:
        """Squared distance (pixel²) outside a face beyond which D < min_probability."""
        p = self.min_probability
        return self.sigma * math.log((1.0 - p) / p)


@dataclass(frozen=True)
class Fragments:
    """Rasteriser output. silhouette (B, H, W) soft, in [0, 1], differentiable w.r.t. the faces' screen x, y.

    face_index (B, H, W) long: the nearest face whose triangle contains the pixel centre, −1 for none.
    color_face_index (B, H, W) long: the face whose colour the pixel shows: face_index where covered, else the
    face with the largest D within the soft margin, −1 where no face is within the margin (silhouette is 0 there).
    num_pairs: number of (face, pixel) candidate pairs examined (the memory/work measure; ≪ B·H·W·F).
    """

    silhouette: torch.Tensor
    face_index: torch.Tensor
    color_face_index: torch.Tensor
    num_pairs: int


def rasterize_faces(
    face_screen: torch.Tensor,
    settings: RasterSettings,
    *,
    perspective: bool,
    adjacency: EdgeAdjacency | None = None,
) -> Fragments:
    """Rasterises per-sample triangles given in screen space.

    face_screen: (B, F, 3, 3) per face the (x, y, depth) of its three corners, x, y in pixels (pixel (i, j) has
    its centre at (j + 0.5, i + 0.5)), depth = camera z. perspective: True if the screen points come from a
    pinhole projection (then 1/z, not z, is affine across a face; used for exact z-buffering).
    adjacency: the faces' edge adjacency (`topology.edge_adjacency`). With it, for a pixel inside a face d is the
    distance to the nearest edge of that face that can lie on the outline (boundary edge, or the surface folds
    over it on screen), so internal edges leave no soft seam; without it every edge counts (plain SoftRas).
    """
    if face_screen.dim() != 4 or face_screen.shape[-2:] != (3, 3):
        raise ValueError(f"face_screen must be (B, F, 3, 3), got {tuple(face_screen.shape)}")
    if not face_screen.is_floating_point():
        raise ValueError(f"face_screen must be floating point, got {face_screen.dtype}")
    batch, num_faces = face_screen.shape[:2]
    height, width = settings.image_size
    face_bits = _face_bits(batch * num_faces)
    with torch.no_grad():
        table = _face_table(face_screen[..., :2], face_screen[..., 2], settings, perspective, adjacency)
        chunks = _plan_chunks(table, batch, settings.chunk_budget(face_screen.device))
    silhouette, keys = _SoftRasterize.apply(face_screen[..., :2], table, chunks, settings, face_bits)
    face_index, color_face_index = _decode_keys(keys, num_faces, face_bits)
    shape = (batch, height, width)
    num_pairs = sum(c.num_pairs for c in chunks)
    return Fragments(silhouette.view(shape), face_index.view(shape), color_face_index.view(shape), num_pairs)


# ----------------------------------------------------------------------------------------------------------------
# Per-face table


@dataclass(frozen=True)
class _FaceTable:
    """Everything the per-pair kernel reads about a face, one column per face of the flat (B·F) batch.

    data rows (each block of 3 is per corner / per edge k, edge k running from corner k to corner k+1):
    0-2 corner x, 3-5 corner y (shifted by −0.5 so pixel centres sit at integer coordinates), 6-8 edge x,
    9-11 edge y, 12-14 1/|edge|², 15-17 depth key of the corner opposite edge k divided by twice the area,
    18-20 what to add to the squared distance to edge k for pixels inside the face (0, or a huge number for
    internal edges, which are never the nearest boundary).
    Faces are stored counter-clockwise on screen (flipped: corners 1 and 2 swapped), so an edge function >= 0
    on all three edges means inside whatever the input orientation.
    """

    data: torch.Tensor
    flipped: torch.Tensor
    boxes: PixelBoxes
    counts: torch.Tensor


class _OrientedFaces(NamedTuple):
    """Per face (columns of the flat B·F batch), corners reordered counter-clockwise on screen (see _FaceTable).

    Planar (3, N) tensors, one row per corner k / edge k (corner k -> corner k+1): x, y corners, ex, ey edges,
    depth_weight the depth key of the corner opposite edge k over twice the area. valid (N,): not degenerate
    and (perspective) in front of the near plane; flipped (N,): corners 1 and 2 were swapped; area2 (N,): signed
    twice the area as given. Shared by the soft and the hard rasteriser, so both see bitwise the same numbers.
    """

    x: torch.Tensor
    y: torch.Tensor
    ex: torch.Tensor
    ey: torch.Tensor
    depth_weight: torch.Tensor
    valid: torch.Tensor
    flipped: torch.Tensor
    area2: torch.Tensor


def _oriented_faces(face_screen: torch.Tensor, near: float | None, perspective: bool) -> _OrientedFaces:
    """face_screen (B, F, 3, 3) -> planar per-face geometry. Planar so that every op runs over N contiguous
    values (per-face (N, 3, 2) layouts leave the CPU kernels 2- or 3-element inner loops)."""
    x, y, z = face_screen.reshape(-1, 3, 3).permute(2, 1, 0).contiguous()  # each (3 corners, N)
    device = face_screen.device
    next_corner = torch.tensor([1, 2, 0], device=device)
    ex, ey = x.index_select(0, next_corner) - x, y.index_select(0, next_corner) - y
    area2 = ey[0] * ex[2] - ex[0] * ey[2]  # cross(v1 − v0, v2 − v0)
    valid = area2.abs() > _MIN_AREA2
    if near is not None:
        valid &= (z > near).all(dim=0)
    flipped = area2 < 0
    # Corners (0, 2, 1) where flipped; the edges then run (2, 1, 0) reversed.
    swap = torch.tensor([0, 2, 1], device=device)
    x, y, z = (torch.where(flipped, c.index_select(0, swap), c) for c in (x, y, z))
    ex, ey = x.index_select(0, next_corner) - x, y.index_select(0, next_corner) - y
    area2_abs = area2.abs()
    # Pinhole: 1/z is affine in screen space, so −1/z interpolates exactly (smaller = nearer); else z itself.
    depth_key = -1.0 / z.clamp_min(torch.finfo(z.dtype).tiny) if perspective else z
    opposite = torch.tensor([2, 0, 1], device=device)  # corner k − 1 (= k + 2) lies opposite edge k
    depth_weight = depth_key.index_select(0, opposite) / torch.where(valid, area2_abs, torch.ones_like(area2_abs))
    return _OrientedFaces(x, y, ex, ey, depth_weight, valid, flipped, area2)


def _face_table(
    face_xy: torch.Tensor,
    face_z: torch.Tensor,
    settings: RasterSettings,
    perspective: bool,
    adjacency: EdgeAdjacency | None,
) -> _FaceTable:
    height, width = settings.image_size
    batch, num_faces = face_xy.shape[:2]
    faces = _oriented_faces(torch.cat([face_xy, face_z[..., None]], -1), settings.near, perspective)
    valid, flipped = faces.valid, faces.flipped
    outline = _outline_edges(faces.area2.view(batch, num_faces), valid.view(batch, num_faces), adjacency)
    outline = outline.view(-1, 3).T
    outline = torch.where(flipped, outline.flip(0), outline)
    inv_len2 = 1.0 / (faces.ex * faces.ex + faces.ey * faces.ey).clamp_min(torch.finfo(faces.x.dtype).tiny)

    lo = torch.stack([faces.x.amin(0), faces.y.amin(0)], 1)
    hi = torch.stack([faces.x.amax(0), faces.y.amax(0)], 1)
    boxes = pixel_boxes(lo, hi, math.sqrt(settings.cutoff_sq), height, width)
    counts = torch.where(valid, boxes.num_pairs, 0)
    inside_penalty = torch.where(outline, 0.0, _NOT_OUTLINE).to(faces.x.dtype)
    columns = [faces.x - 0.5, faces.y - 0.5, faces.ex, faces.ey, inv_len2, faces.depth_weight, inside_penalty]
    return _FaceTable(torch.cat(columns), flipped, boxes, counts)


def _outline_edges(area2: torch.Tensor, valid: torch.Tensor, adjacency: EdgeAdjacency | None) -> torch.Tensor:
    """(B, F, 3) bool: edge k of a face can be on the screen outline: no (valid) neighbour across it, or the
    neighbour lies on the same side of the edge on screen (the surface folds over the edge)."""
    if adjacency is None:
        return torch.ones(*valid.shape, 3, dtype=torch.bool, device=valid.device)
    neighbor = adjacency.neighbor.clamp_min(0).view(-1)
    ccw = area2 > 0
    neighbor_ccw = ccw.index_select(1, neighbor).view(*ccw.shape, 3)
    neighbor_valid = valid.index_select(1, neighbor).view(*ccw.shape, 3)
    # Third corners on the same side of the shared edge: equal orientation if the two faces run along the
    # edge the same way, opposite orientation if they run along it the opposite way (consistent winding).
    same_side = (ccw[..., None] == neighbor_ccw) ^ adjacency.opposite
    return (adjacency.neighbor < 0) | ~neighbor_valid | same_side


# ----------------------------------------------------------------------------------------------------------------
# Chunks of (face, pixel) pairs


class _Chunk(NamedTuple):
    start: int  # first sample
    stop: int
    num_rows: int
    num_pairs: int


def _plan_chunks(table: _FaceTable, batch: int, max_pairs: int) -> list[_Chunk]:
    counts = table.counts.view(batch, -1)
    rows = torch.where(counts > 0, table.boxes.ny.view(batch, -1), 0)
    pairs_per_sample, rows_per_sample = torch.stack([counts.sum(1), rows.sum(1)]).tolist()  # one device sync
    return [
        _Chunk(a, b, sum(rows_per_sample[a:b]), sum(pairs_per_sample[a:b]))
        for a, b in sample_chunks(pairs_per_sample, max_pairs)
        if sum(pairs_per_sample[a:b]) > 0
    ]


def _chunk_pairs(
    table: _FaceTable, chunk: _Chunk, num_faces: int, pixels_per_image: int, width: int
) -> PixelFacePairs:
    rows = slice(chunk.start * num_faces, chunk.stop * num_faces)
    active = torch.nonzero(table.counts[rows]).squeeze(1) + chunk.start * num_faces
    b = table.boxes
    boxes = PixelBoxes(*(v.index_select(0, active) for v in (b.x0, b.y0, b.nx, b.ny)))
    pixel_base = torch.div(active, num_faces, rounding_mode="floor") * pixels_per_image
    return enumerate_pairs(boxes, active, pixel_base, width, chunk.num_rows, chunk.num_pairs)


class _PairGeometry(NamedTuple):
    inside: torch.Tensor  # (P,) bool: pixel centre inside the triangle (edges inclusive)
    keep: torch.Tensor  # (P,) bool: D >= min_probability
    logit: torch.Tensor  # (P,) sign·d²/σ, −inf where not kept (so D = 0 and log(1 − D) = 0 exactly)
    dist2: torch.Tensor  # (P,) d²
    depth: torch.Tensor  # (P,) interpolated depth key at the pixel centre (meaningful where inside)
    edge: torch.Tensor  # (P,) index of the nearest edge
    t: torch.Tensor  # (3, P) position of the nearest point along each edge, in [0, 1]
    rx: torch.Tensor  # (3, P) pixel centre minus nearest point on each edge
    ry: torch.Tensor


def _pair_geometry(data: torch.Tensor, pairs: PixelFacePairs, settings: RasterSettings) -> _PairGeometry:
    """Distances, inside test and depth for every pair; each quantity is a contiguous (P,) or (3, P) tensor."""
    num_pairs = len(pairs)
    columns = data.index_select(1, pairs.face).view(7, 3, num_pairs)
    vx, vy, ex, ey, inv_len2, depth_weight, inside_penalty = columns.unbind(0)
    px = pairs.x.to(data.dtype)
    py = pairs.y.to(data.dtype)
    apx = px - vx
    apy = py - vy
    t = torch.addcmul(apx * ex, apy, ey).mul_(inv_len2).clamp_(0.0, 1.0)
    rx = torch.addcmul(apx, t, ex, value=-1.0)
    ry = torch.addcmul(apy, t, ey, value=-1.0)
    dist2_edges = torch.addcmul(rx * rx, ry, ry)
    edge_fn = torch.addcmul(ex * apy, ey, apx, value=-1.0)  # 2 × signed area of (v_k, v_k+1, p); >= 0 inside
    inside = edge_fn.amin(0) >= 0
    # Inside: distance to the nearest outline edge; outside: to the triangle.
    dist2, edge = torch.where(inside, dist2_edges + inside_penalty, dist2_edges).min(0)
    keep = inside | (dist2 <= settings.cutoff_sq)
    logit = torch.where(inside, dist2, -dist2).div_(settings.sigma).masked_fill_(~keep, -math.inf)
    depth = (edge_fn * depth_weight).sum(0)
    return _PairGeometry(inside, keep, logit, dist2, depth, edge, t, rx, ry)


# ----------------------------------------------------------------------------------------------------------------
# Z-buffer keys


def _face_bits(num_rows: int) -> int:
    bits = max(1, (num_rows - 1).bit_length())
    if 33 + bits > 63:
        raise ValueError(f"too many faces in the batch for the z-buffer key ({num_rows} = B·F rows)")
    return bits


def _order_preserving_int(value: torch.Tensor) -> torch.Tensor:
    """float -> int32 with the same order (value rounded to float32): flip the magnitude bits of negatives."""
    bits = value.float().view(torch.int32)
    return bits ^ ((bits >> 31) & 0x7FFFFFFF)


def _pair_keys(geom: _PairGeometry, face_rows: torch.Tensor, face_bits: int) -> torch.Tensor:
    """key = outside·2^(32+fb) + ordered(value)·2^fb + face row: one `amin` does z-test, fallback and tie-break."""
    value = torch.where(geom.inside, geom.depth, geom.dist2)
    key = torch.add(face_rows, _order_preserving_int(value).long(), alpha=1 << face_bits)
    key = torch.where(geom.inside, key, key + (1 << (32 + face_bits)))
    return key.masked_fill_(~geom.keep, _KEY_EMPTY)


def _decode_keys(keys: torch.Tensor, num_faces: int, face_bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    empty = keys == _KEY_EMPTY
    face = (keys & ((1 << face_bits) - 1)).remainder_(num_faces)
    covered = keys < (1 << (31 + face_bits))  # no outside flag (the ordered value is a signed 32-bit number)
    return torch.where(covered, face, -1), torch.where(empty, -1, face)


# ----------------------------------------------------------------------------------------------------------------
# Autograd


class _PairGradTerms(NamedTuple):
    """Per pair: ∂(sign·d²/σ)/∂(corner) · D, for the two corners of the nearest edge (a = corner k, b = k+1).

    ∂d²/∂a = −2(1 − t)·r, ∂d²/∂b = −2t·r (the derivative through t vanishes: r ⊥ edge, or t clamped).
    """

    pixel: torch.Tensor
    slot_a: torch.Tensor  # row into the flat (B·F·3) corner array
    slot_b: torch.Tensor
    ux: torch.Tensor  # −2·sign·D/σ · r
    uy: torch.Tensor
    t: torch.Tensor


def _grad_terms(geom: _PairGeometry, pairs: PixelFacePairs, sigma: float) -> _PairGradTerms:
    prob = torch.sigmoid(geom.logit)  # 0 where not kept
    coef = torch.where(geom.inside, prob, -prob).mul_(-2.0 / sigma)
    edge = geom.edge[None]
    slot_a = torch.add(geom.edge, pairs.face, alpha=3)  # corner k of face row f: 3f + k
    return _PairGradTerms(
        pixel=pairs.pixel,
        slot_a=slot_a,
        slot_b=slot_a + torch.where(geom.edge == 2, -2, 1),  # corner k + 1 (mod 3)
        ux=coef * geom.rx.gather(0, edge)[0],
        uy=coef * geom.ry.gather(0, edge)[0],
        t=geom.t.gather(0, edge)[0],
    )


class _SoftRasterize(torch.autograd.Function):
    """face_xy (B, F, 3, 2) -> silhouette (B·H·W), z-buffer keys (B·H·W); the other inputs are precomputed."""

    @staticmethod
    def forward(  # type: ignore[override]
        ctx, face_xy, table: _FaceTable, chunks: list[_Chunk], settings: RasterSettings, face_bits: int
    ):
        batch, num_faces = face_xy.shape[:2]
        height, width = settings.image_size
        pixels = height * width
        num_pairs = sum(c.num_pairs for c in chunks)
        cache = ctx.needs_input_grad[0] and num_pairs <= settings.max_cached_pairs

        log_transmittance = face_xy.new_zeros(batch * pixels)
        keys = torch.full((batch * pixels,), _KEY_EMPTY, dtype=torch.long, device=face_xy.device)
        cached: list[_PairGradTerms] = []
        for chunk in chunks:
            pairs = _chunk_pairs(table, chunk, num_faces, pixels, width)
            geom = _pair_geometry(table.data, pairs, settings)
            log_transmittance.index_add_(0, pairs.pixel, F.softplus(geom.logit, threshold=30.0).neg_())
            keys.scatter_reduce_(0, pairs.pixel, _pair_keys(geom, pairs.face, face_bits), "amin")
            if cache:
                cached.append(_grad_terms(geom, pairs, settings.sigma))

        transmittance = log_transmittance.exp_()  # 1 − S, kept as is: S near 1 would lose the gradient to rounding
        silhouette = 1.0 - transmittance
        ctx.mark_non_differentiable(keys)
        ctx.save_for_backward(transmittance)
        ctx.state = (table, chunks, cached if cache else None, settings, face_xy.shape)
        return silhouette, keys

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_silhouette, _grad_keys):  # type: ignore[override]
        (transmittance,) = ctx.saved_tensors
        table, chunks, cached, settings, shape = ctx.state
        batch, num_faces = shape[:2]
        height, width = settings.image_size
        # dS/d(logit) = (1 − S)·D for S = 1 − exp(Σ −softplus(logit)).
        grad_log = grad_silhouette.reshape(-1) * transmittance
        grad_x = grad_log.new_zeros(batch * num_faces * 3)
        grad_y = torch.zeros_like(grad_x)

        def terms() -> Iterator[_PairGradTerms]:
            if cached is not None:
                yield from cached
                return
            for chunk in chunks:  # too many pairs to keep: recompute chunk by chunk
                pairs = _chunk_pairs(table, chunk, num_faces, height * width, width)
                yield _grad_terms(_pair_geometry(table.data, pairs, settings), pairs, settings.sigma)

        for term in terms():
            weight = grad_log.index_select(0, term.pixel)
            wx = term.ux * weight
            wy = term.uy * weight
            bx = wx * term.t
            by = wy * term.t
            grad_x.index_add_(0, term.slot_a, wx - bx).index_add_(0, term.slot_b, bx)
            grad_y.index_add_(0, term.slot_a, wy - by).index_add_(0, term.slot_b, by)

        grad = torch.stack([grad_x, grad_y], dim=-1).view(-1, 3, 2)
        grad = torch.where(table.flipped[:, None, None], grad.flip(1).roll(1, dims=1), grad)  # undo CCW reorder
        return grad.view(shape), None, None, None, None
