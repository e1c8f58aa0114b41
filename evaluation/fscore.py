"""F-score of meshes (Knapitsch et al.), as the official FreiHAND / HO-3D scorers compute it, batched and exact.

Official definition, per sample and threshold t: nearest-neighbour distances both ways; precision = fraction of
predicted points whose nearest ground-truth point is closer than t (strict <), recall = fraction of ground-truth
points whose nearest predicted point is closer than t; F = 2PR / (P + R), or 0 when P + R = 0. (The official code
names the two fractions the other way round; F is symmetric, so nothing changes.) Thresholds 5 mm and 15 mm.

Only "is there a neighbour closer than t" is needed, never the distance itself; both searches below are exact:
- a point whose same-index counterpart is closer than t is settled at once (meshes share MANO's topology);
- on a GPU: chunked dense distance matrices (``torch.cdist``), memory bounded by ``max_chunk_bytes``;
- on a CPU: a grid per sample, its columns as wide as the largest threshold and its cells as high as the
  smallest. Any neighbour closer than t lies in the 3×3 block of columns around the query, and only in the
  columns and z-range that the ball of radius t reaches; points are sorted by cell, so that z-range of a column
  is one run of candidates. Columns are visited own column first, then faces, then corners, and a query leaves
  as soon as it has a neighbour. Every candidate is tested with the true Euclidean distance, so the result
  equals the brute-force search bit for bit.
"""
from __future__ import annotations

import torch

from s2hand.evaluation.tensors import single_thread

F_THRESHOLDS_M = (0.005, 0.015)

# Work is cut into pieces whose temporaries stay near 10 MiB: measured faster on CPU than larger blocks, which
# leave the caches and the allocator's heap (fresh pages fault in).
_MAX_SAMPLES = 512  # samples per grid chunk
_MAX_CELLS = 1 << 21  # cell-table entries per grid chunk
_MAX_PAIRS = 1 << 20  # candidate pairs tested at once
_SAFETY = 1e-9  # cell units; widens the candidate region against rounding, never narrows it


def f_scores(
    pred: torch.Tensor,
    gt: torch.Tensor,
    thresholds: tuple[float, ...] = F_THRESHOLDS_M,
    method: str = "auto",
) -> torch.Tensor:
    """(N, n, 3) predicted and (N, m, 3) ground-truth points (metres) -> (N, T) F-score per sample and threshold.

    ``method``: "grid" (CPU default), "dense" (GPU default) or "auto". Both give identical results.
    """
    if pred.shape[0] != gt.shape[0] or pred.shape[-1] != 3 or gt.shape[-1] != 3:
        raise ValueError(f"expected (N, n, 3) and (N, m, 3) points, got {tuple(pred.shape)} and {tuple(gt.shape)}")
    known = None
    if pred.shape == gt.shape:  # same topology (MANO): the vertex of the same index is a free first candidate
        same = _distance(pred, gt)
        known = torch.stack([same < t for t in thresholds], dim=-1)
    with single_thread(pred.device):
        precision = has_neighbour_within(pred, gt, thresholds, known, method).to(pred.dtype).mean(1)
        recall = has_neighbour_within(gt, pred, thresholds, known, method).to(pred.dtype).mean(1)
    total = precision + recall
    return torch.where(total > 0, 2 * precision * recall / torch.where(total > 0, total, 1.0), 0.0)


def _distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Euclidean distance over the last axis, summed in x, y, z order as in every other path here."""
    d = a - b
    return (d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2]).sqrt()


def has_neighbour_within(
    query: torch.Tensor,
    target: torch.Tensor,
    thresholds: tuple[float, ...],
    known: torch.Tensor | None = None,
    method: str = "auto",
) -> torch.Tensor:
    """(N, n, T) bool: does query point i of sample s have a target point of sample s closer than thresholds[k]?

    ``known`` (N, n, T) marks entries already known to be True (they are not searched again).
    """
    if method == "auto":
        method = "grid" if query.device.type == "cpu" else "dense"
    hits = torch.zeros(*query.shape[:2], len(thresholds), dtype=torch.bool, device=query.device)
    if known is not None:
        hits |= known
    if method == "dense":
        nearest = nearest_distances(query, target)
        return hits | torch.stack([nearest < t for t in thresholds], dim=-1)
    if method != "grid":
        raise ValueError(f"unknown method {method!r}: expected 'auto', 'grid' or 'dense'")
    cell = torch.tensor([max(thresholds)] * 2 + [min(thresholds)], dtype=target.dtype, device=target.device)
    origin = target.amin(1, keepdim=True)
    # cells per axis: the target's cells, in x and y plus two on each side (useful queries and their neighbours)
    dims = ((target.amax(1) - origin[:, 0]) / cell).floor().long() + torch.tensor([5, 5, 1], device=target.device)
    big = dims.prod(-1) > _MAX_CELLS  # absurdly spread samples (garbage predictions): dense search instead
    if big.any():
        idx = big.nonzero()[:, 0]
        hits[idx] = has_neighbour_within(query[idx], target[idx], thresholds, hits[idx], "dense")
    # smallest threshold first: a hit there is a hit for every larger one
    order = sorted(range(len(thresholds)), key=lambda k: thresholds[k])
    for idx in _chunks((~big).nonzero()[:, 0], dims):
        grid = _Grid(target[idx], origin[idx], dims[idx].amax(0).tolist(), cell)
        queries = grid.locate(query[idx])
        chunk = hits[idx].reshape(-1, len(thresholds))
        for rank, k in enumerate(order):
            if rank:
                chunk[:, k] |= chunk[:, order[rank - 1]]
            chunk[:, k] = grid.within(queries, float(thresholds[k]), chunk[:, k])
        hits[idx] = chunk.reshape(idx.numel(), -1, len(thresholds))
    return hits


def nearest_distances(query: torch.Tensor, target: torch.Tensor, max_chunk_bytes: int = 1 << 26) -> torch.Tensor:
    """(N, n, 3), (N, m, 3) -> (N, n) distance from each query point to its nearest target point (same sample).

    Dense and chunked over samples so a chunk's (c, n, m) distance matrix stays under ``max_chunk_bytes``.
    Differences are taken directly (no ‖a‖² + ‖b‖² − 2ab expansion), so ties at a threshold stay ties.
    """
    n, m = query.shape[1], target.shape[1]
    chunk = max(1, max_chunk_bytes // max(1, n * m * query.element_size()))
    out = [
        torch.cdist(query[s : s + chunk], target[s : s + chunk], compute_mode="donot_use_mm_for_euclid_dist").amin(2)
        for s in range(0, query.shape[0], chunk)
    ]
    return torch.cat(out) if out else query.new_zeros(query.shape[:2])


# Columns of the 3×3 block around a query's cell, by round: the own column first, since most neighbours are found
# there and those queries then skip the later rounds.
_ROUNDS = (((0, 0),), ((1, 0), (-1, 0), (0, 1), (0, -1)), ((1, 1), (1, -1), (-1, 1), (-1, -1)))


def _chunks(samples: torch.Tensor, dims: torch.Tensor):
    """Consecutive runs of ``samples`` whose common cell table (count × per-axis max dims) fits the budget."""
    start = 0
    while start < samples.numel():
        rest = dims[samples[start : start + _MAX_SAMPLES]]
        table = rest.cummax(0).values.prod(-1) * torch.arange(1, rest.shape[0] + 1, device=rest.device)
        fit = max(1, int((table <= _MAX_CELLS).sum()))  # the running table size only grows
        yield samples[start : start + fit]
        start += fit


class _Grid:
    """The target points of a chunk of samples, sorted by (sample, x, y, z) cell.

    Coordinates in cell units u = (p − origin) / cell, with cells as wide (x, y) as the largest threshold and as
    high (z) as the smallest. A point's cell is floor(u) + (2, 2, 0): the x, y shift keeps every neighbour column
    of a useful query at an index >= 0; z-ranges are clamped to the column instead. The cells of one (sample, x,
    y) column are consecutive in key order, so the targets of any z-range of a column are one run of the sorted
    points. All samples of a chunk share the table's dimensions, so neighbour offsets are plain integers.
    """

    def __init__(self, target: torch.Tensor, origin: torch.Tensor, dims: list[int], cell: torch.Tensor):
        self.origin, self.dims, self.cell = origin, dims, cell
        self.stride_x, self.stride_y = dims[1] * dims[2], dims[2]
        size = target.shape[0] * dims[0] * self.stride_x
        c = self._cells(((target - origin) / cell).floor())
        keys = self._column(c) + c[..., 2]
        order = keys.reshape(-1).argsort()
        # padded past the end so that every run, rounded up to a power of two, is a window of the array
        pad = target.new_full((1 << max(target.shape[1] - 1, 1).bit_length(), 3), torch.inf)
        points = torch.cat([target.reshape(-1, 3).index_select(0, order), pad])
        self.xyz = tuple(a.contiguous() for a in points.unbind(1))
        # run_start[c] = first sorted point with key >= c: cells lo..hi hold points run_start[lo]:run_start[hi + 1]
        self.run_start = torch.zeros(size + 1, dtype=torch.long, device=target.device)
        self.run_start[1:] = torch.bincount(keys.reshape(-1), minlength=size).cumsum(0)

    @staticmethod
    def _cells(floor_u: torch.Tensor) -> torch.Tensor:
        return floor_u.long() + torch.tensor([2, 2, 0], device=floor_u.device)

    def _column(self, c: torch.Tensor) -> torch.Tensor:
        """(s, k, ≥2) cell indices -> (s, k) key of their column's z = 0 cell."""
        sample = torch.arange(c.shape[0], device=c.device)[:, None] * (self.dims[0] * self.stride_x)
        return sample + c[..., 0] * self.stride_x + c[..., 1] * self.stride_y

    def locate(self, query: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per query point (flattened): position in its column, own column key, usefulness, coordinates."""
        u = (query - self.origin) / self.cell
        c = u.floor()
        # a query more than one column outside the target's columns has no neighbour within a column width
        useful = ((c[..., :2] >= -1) & (c[..., :2] <= torch.tensor(self.dims[:2], device=c.device) - 4)).all(-1)
        flat = {
            "fx": u[..., 0] - c[..., 0], "fy": u[..., 1] - c[..., 1], "uz": u[..., 2],
            "column": self._column(self._cells(c)), "useful": useful,
            "x": query[..., 0], "y": query[..., 1], "z": query[..., 2],
        }
        return {k: v.reshape(-1) for k, v in flat.items()}

    def within(self, queries: dict[str, torch.Tensor], radius: float, done: torch.Tensor) -> torch.Tensor:
        """(s·n,) bool: ``done`` or a target closer than ``radius`` (<= the column width) to the query point."""
        width, height = float(self.cell[0]), float(self.cell[2])
        reach = radius / width  # ball radius in column widths, <= 1: the 3×3 columns hold every neighbour
        hit = done.clone()
        for columns in _ROUNDS:
            active = (queries["useful"] & ~hit).nonzero()[:, 0]
            if active.numel() == 0:
                break
            q = {k: queries[k].index_select(0, active) for k in ("fx", "fy", "uz", "column")}
            starts, lengths, owners = [], [], []
            for dx, dy in columns:
                # squared distance (column widths) from the query to the column in x and y: 0 inside it
                gap2 = q["fx"].new_zeros(())
                if dx:
                    gap2 = gap2 + (q["fx"] if dx < 0 else 1.0 - q["fx"]) ** 2
                if dy:
                    gap2 = gap2 + (q["fy"] if dy < 0 else 1.0 - q["fy"]) ** 2
                # the ball's half-height over the column, in cell heights; widened, never narrowed, for rounding
                reach2 = (reach * reach - gap2 * (1.0 - _SAFETY)).expand(active.numel())
                sel = (reach2 > 0).nonzero()[:, 0]
                half = reach2.index_select(0, sel).sqrt() * (width / height) + _SAFETY
                uz = q["uz"].index_select(0, sel)
                column = q["column"].index_select(0, sel) + (dx * self.stride_x + dy * self.stride_y)
                # clamped to the column: an empty range gives hi <= lo, as run_start never decreases
                z_lo = (uz - half).floor().clamp(0, self.dims[2]).long()
                z_hi = (uz + half).floor().clamp(-1, self.dims[2] - 1).long()
                lo = self.run_start.index_select(0, column + z_lo)
                hi = self.run_start.index_select(0, column + z_hi + 1)
                keep = (hi > lo).nonzero()[:, 0]
                starts.append(lo.index_select(0, keep))
                lengths.append((hi - lo).index_select(0, keep))
                owners.append(active.index_select(0, sel.index_select(0, keep)))
            owner = torch.cat(owners)  # flat query index of each run
            points = (queries["x"], queries["y"], queries["z"])
            close = _runs_within(points, self.xyz, torch.cat(starts), torch.cat(lengths), owner, radius)
            hit.index_fill_(0, owner.index_select(0, close), True)
        return hit


def _runs_within(
    queries: tuple[torch.Tensor, ...],
    targets: tuple[torch.Tensor, ...],
    starts: torch.Tensor,
    lengths: torch.Tensor,
    owners: torch.Tensor,
    radius: float,
) -> torch.Tensor:
    """Positions (into ``owners``) of the runs holding a target closer than ``radius`` to the run's query.

    Runs are read as fixed-width windows of the sorted target arrays, one power-of-two width per bucket of run
    lengths (at most twice the work): copying contiguous windows is an order of magnitude faster than gathering
    scattered candidates, and each query is read once per run.
    """
    hits = []
    if lengths.numel() == 0:
        return owners[:0]
    width_of = torch.ceil(torch.log2(lengths.to(torch.float64))).long()
    for b in range(int(width_of.max()) + 1):
        sel = (width_of == b).nonzero()[:, 0]
        width = 1 << b
        step = torch.arange(width, device=starts.device)
        rows = max(1, _MAX_PAIRS // width)
        for first in range(0, sel.numel(), rows):
            part = sel[first : first + rows]
            start = starts.index_select(0, part)
            owner = owners.index_select(0, part)
            d2 = None
            for axis in range(3):
                window = targets[axis].unfold(0, width, 1).index_select(0, start)
                diff = window - queries[axis].index_select(0, owner)[:, None]
                d2 = diff * diff if d2 is None else d2.addcmul_(diff, diff)
            d2.masked_fill_(step >= lengths.index_select(0, part)[:, None], torch.inf)  # other runs' points
            nearest = d2.amin(1).sqrt()  # sqrt is monotone: the root of the minimum is the minimum of the roots
            hits.append(part[nearest < radius])
    return torch.cat(hits) if hits else owners[:0]
