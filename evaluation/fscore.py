"""F-score of meshes (Knapitsch et al.), as the official FreiHAND / HO-3D scorers compute it, batched and exact.

Official definition, per sample and threshold t: nearest-neighbour distances both ways; precision = fraction of
predicted points whose nearest ground-truth point is closer than t (strict <), recall = fraction of ground-truth
points whose nearest predicted point is closer than t; F = 2PR / (P + R), or 0 when P + R = 0. (The official code
names the two fractions the other way round; F is symmetric, so nothing changes.) Thresholds 5 mm and 15 mm.
The reference distance is scipy's KD-tree one: sqrt(((dx² + dy²) + dz²)) in float64, no fused multiply-add.

One distance matrix per sample answers everything: its row minima give precision, its column minima recall, and
each minimum is compared with every threshold. Two ways to build it:

- "dense" (the default on a GPU): float64 differences, summed exactly as the reference does, so every decision
  is the reference's by construction. Chunked over samples.
- "matmul" (the default on a CPU): float32 ‖a‖² + ‖b‖² − 2a·b as one batched matmul of 5-vectors per chunk of
  samples, then row / column minima. A float32 minimum decides a point at once unless it lies within a proven
  error band of t²; those few points (about one per sample) are decided again in float64 against every point of
  the other set, exactly as "dense" would. So the results are identical to "dense" and to the reference.

Error band of the float32 path (u = 2⁻²⁴). Points are centred per sample (float64) at the middle of the bounding
box of both sets, then rounded to float32: a', b', with α = ‖a'‖, β = ‖b'‖. For one matrix entry D against the
reference's squared distance d² (of the uncentred float64 points):
  - rounding the centred points: |‖a' − b'‖ − d| ≤ (u + 2⁻⁵³)(1 + 2u)(α + β), so |‖a' − b'‖² − d²| ≤ 2.01u(α + β)²;
  - the stored norms n = fl32(‖a'‖²) add ≤ 1.01u(α² + β²);
  - the 5-term float32 dot product, in any order, with or without FMA: ≤ γ₅ Σ|terms| ≤ 5.01u(α + β)².
  Together |D − d²| ≤ 8.1u(α + β)², and β ≤ α + d. Hence, with E = 16u(2α + t)² (twice the bound):
  - a miss is sure when min D ≥ t² + E: a target closer than t would have D < t² + 8.1u(2α + t)²;
  - a hit is sure when min D < t² − E: the computed nearest entry has D ≥ h(d) = d² − 8.1u(2α + d)², h grows for
    d ≥ 16.2uα, so d ≥ t would give D ≥ h(t) > t² − E. (The condition t ≥ 16.2uα holds: every D ≥ −32.5uα², so
    min D < t² − E forces α < 730 t.)
  Everything else (NaN included, and points beyond 10¹⁸ m, where float32 squares overflow) is decided in float64.
  The band is about ±1 µm around 5 mm for a hand centred in its box; the float64 terms (the reference's rounding,
  sqrt against square) are ~10⁻¹⁶ relative and sit inside the factor 2. The tests catch a band of 1u(2α + t)²
  but not 2u: on real data the float32 error stays well under the proven bound.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

F_THRESHOLDS_M = (0.005, 0.015)

_U32 = 2.0**-24  # unit roundoff of float32
_BAND = 16.0  # error band E = _BAND · u · (2α + t)²: twice the proven 8.1 (module docstring)
_FLOAT32_SAFE_M = 1e18  # beyond, float32 squares may overflow: such points are decided in float64

# Measured (benchmarks/bench_eval.py, 2-core CPU, 778 × 778 matrices): 2 samples per bmm (a 4.8 MB block, about
# what stays in cache between the matmul and the two minima) and 1 intra-op thread. Larger blocks leave the cache;
# a second thread helps only on an idle machine and is several times slower on a busy one (OpenMP barriers).
_CPU_SAMPLES_PER_CHUNK = 2
_CPU_THREADS = 1
_EXACT_CHUNK_BYTES = 1 << 24  # float64 temporaries of the exact search (one distance buffer + one difference)
_CUDA_CHUNK_BYTES = 1 << 28


def f_scores(
    pred: torch.Tensor,
    gt: torch.Tensor,
    thresholds: tuple[float, ...] = F_THRESHOLDS_M,
    method: str = "auto",
) -> torch.Tensor:
    """(N, n, 3) predicted and (N, m, 3) ground-truth points (metres) -> (N, T) float64 F-score per sample and
    threshold. ``method``: "matmul" (CPU default), "dense" (GPU default) or "auto"; identical results."""
    pred_hits, gt_hits = neighbour_hits(pred, gt, thresholds, method)
    precision = pred_hits.to(torch.float64).mean(1)
    recall = gt_hits.to(torch.float64).mean(1)
    total = precision + recall
    return torch.where(total > 0, 2 * precision * recall / torch.where(total > 0, total, 1.0), 0.0)


def neighbour_hits(
    query: torch.Tensor,
    target: torch.Tensor,
    thresholds: tuple[float, ...] = F_THRESHOLDS_M,
    method: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both directions of the nearest-neighbour test from one distance matrix per sample.

    (N, n, 3) query and (N, m, 3) target points -> ((N, n, T), (N, m, T)) bool: query point i has a target point
    of its sample closer than thresholds[k]; target point j has a query point of its sample closer than it.
    """
    if query.ndim != 3 or target.ndim != 3 or query.shape[-1] != 3 or target.shape[-1] != 3:
        raise ValueError(f"expected (N, n, 3) and (N, m, 3) points, got {tuple(query.shape)} and {tuple(target.shape)}")
    if query.shape[0] != target.shape[0] or query.shape[1] == 0 or target.shape[1] == 0:
        raise ValueError(f"expected the same N and non-empty point sets, got {tuple(query.shape)} and {tuple(target.shape)}")
    if method == "auto":
        method = "matmul" if query.device.type == "cpu" else "dense"
    if method == "grid":  # the former CPU search, replaced by "matmul" (same results, several times faster)
        method = "matmul"
    query, target = query.to(torch.float64), target.to(target.device, torch.float64)
    thresholds = tuple(float(t) for t in thresholds)
    if method == "dense":
        return _hits_dense(query, target, thresholds)
    if method == "matmul":
        return _hits_matmul(query, target, thresholds)
    raise ValueError(f"unknown method {method!r}: expected 'auto', 'matmul' or 'dense'")


def exact_sq_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(c, n, 3), (c, m, 3) float64 -> (c, n, m) squared distances, rounded as the reference rounds them.

    ((dx·dx + dy·dy) + dz·dz), every product and sum rounded on its own (separate ops: no fused multiply-add).
    """
    d2 = a[:, :, None, 0] - b[:, None, :, 0]
    d2.mul_(d2)
    for k in (1, 2):
        d = a[:, :, None, k] - b[:, None, :, k]
        d2.add_(d.mul_(d))
    return d2


def _below(distances: torch.Tensor, thresholds: tuple[float, ...]) -> torch.Tensor:
    return torch.stack([distances < t for t in thresholds], dim=-1)


def _hits_dense(query: torch.Tensor, target: torch.Tensor, thresholds: tuple[float, ...]):
    """Exact float64 search, chunked over samples so a chunk's temporaries stay under the byte budget."""
    n, m = query.shape[1], target.shape[1]
    budget = _CUDA_CHUNK_BYTES if query.device.type == "cuda" else _EXACT_CHUNK_BYTES
    per = max(1, budget // (2 * 8 * n * m))
    q_min = query.new_empty(query.shape[:2])
    t_min = target.new_empty(target.shape[:2])
    for s in range(0, query.shape[0], per):
        d2 = exact_sq_distances(query[s : s + per], target[s : s + per])
        torch.amin(d2, 2, out=q_min[s : s + per])
        torch.amin(d2, 1, out=t_min[s : s + per])
    # sqrt is monotone, so the root of the minimum is the reference's minimum of the roots
    return _below(q_min.sqrt(), thresholds), _below(t_min.sqrt(), thresholds)


def _hits_matmul(query: torch.Tensor, target: torch.Tensor, thresholds: tuple[float, ...]):
    """float32 expansion for every entry, float64 re-decision inside the error band (module docstring)."""
    lo = torch.minimum(query.amin(1), target.amin(1))
    hi = torch.maximum(query.amax(1), target.amax(1))
    centre = ((lo + hi) / 2)[:, None]
    a, q_norm = _augmented(query, centre, query=True)  # (N, n, 5): [a', ‖a'‖², 1]
    b, t_norm = _augmented(target, centre, query=False)  # (N, m, 5): [−2b', 1, ‖b'‖²]
    b = b.transpose(1, 2).contiguous()
    n, m = query.shape[1], target.shape[1]
    q_min = a.new_empty(query.shape[:2])
    t_min = a.new_empty(target.shape[:2])
    per = _CPU_SAMPLES_PER_CHUNK if query.device.type == "cpu" else max(1, _CUDA_CHUNK_BYTES // (4 * n * m))
    with _ieee_float32_matmul(), _intra_op_threads(query.device, _CPU_THREADS):
        block = a.new_empty((min(per, query.shape[0]), n, m))
        for s in range(0, query.shape[0], per):
            d = block[: min(per, query.shape[0] - s)]
            torch.bmm(a[s : s + per], b[s : s + per], out=d)
            torch.amin(d, 2, out=q_min[s : s + per])
            torch.amin(d, 1, out=t_min[s : s + per])
    q_hits = _decide(q_min, q_norm, query, target, thresholds)
    t_hits = _decide(t_min, t_norm, target, query, thresholds)
    return q_hits, t_hits


def _augmented(points: torch.Tensor, centre: torch.Tensor, query: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, k, 3) float64 -> (N, k, 5) float32 rows of the expansion, and the float64 norms ‖p'‖ of the rounded p'."""
    out = points.new_empty(points.shape[:2] + (5,), dtype=torch.float32)
    xyz = out[..., :3]
    torch.sub(points, centre, out=xyz)  # rounded once, to float32
    norm = torch.linalg.vector_norm(xyz, dim=-1, dtype=torch.float64)  # exact squares, float64 sum
    sq = norm.square()
    if query:
        out[..., 3] = sq
        out[..., 4] = 1.0
    else:
        xyz.mul_(-2.0)  # exact
        out[..., 3] = 1.0
        out[..., 4] = sq
    return out, norm


def _decide(
    min_sq: torch.Tensor,
    norm: torch.Tensor,
    points: torch.Tensor,
    others: torch.Tensor,
    thresholds: tuple[float, ...],
) -> torch.Tensor:
    """(N, n) float32 minima of D, (N, n) float64 α -> (N, n, T) hits; the unsure ones redone in float64.

    One band per point, E = 16u(2α + max t)², covers every threshold; outside it, min D < t² decides.
    """
    m = min_sq.double()
    band = (2.0 * norm).add_(max(thresholds)).square_().mul_(_BAND * _U32)
    hits = torch.stack([m < t * t for t in thresholds], dim=-1)
    unsure = m.isnan() | (norm >= _FLOAT32_SAFE_M)  # NaN / float32 overflow: no bound holds
    for t in thresholds:
        unsure |= (m - t * t).abs_() <= band
    redo = unsure.nonzero()
    if redo.numel():
        sample, index = redo[:, 0], redo[:, 1]
        hits[sample, index] = _below(exact_nearest(points[sample, index], others, sample), thresholds)
    return hits


def exact_nearest(points: torch.Tensor, others: torch.Tensor, sample: torch.Tensor) -> torch.Tensor:
    """(K, 3) points, (N, m, 3) point sets, (K,) sample of each point -> (K,) exact float64 distance to the nearest
    point of its sample's set, rounded as the reference rounds it."""
    m = others.shape[1]
    per = max(1, _EXACT_CHUNK_BYTES // (2 * 8 * m))
    out = points.new_empty(points.shape[0])
    for k in range(0, points.shape[0], per):
        d2 = exact_sq_distances(points[k : k + per, None], others.index_select(0, sample[k : k + per]))
        torch.amin(d2[:, 0], 1, out=out[k : k + per])
    return out.sqrt_()


@contextmanager
def _ieee_float32_matmul() -> Iterator[None]:
    """Full float32 products in matmuls (no TF32 / bf16, which the error band does not cover); restored after."""
    backends = (torch.backends.mkldnn.matmul, torch.backends.cuda.matmul)
    saved = [backend.fp32_precision for backend in backends]
    try:
        for backend in backends:
            backend.fp32_precision = "ieee"
        yield
    finally:
        for backend, value in zip(backends, saved):
            backend.fp32_precision = value


@contextmanager
def _intra_op_threads(device: torch.device, threads: int) -> Iterator[None]:
    """CPU work with ``threads`` intra-op threads, then the caller's setting back (it is process-wide)."""
    if device.type != "cpu":
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)
