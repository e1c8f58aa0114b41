"""Mesh edge adjacency, for telling outline edges from internal ones on screen.

An edge shared by two faces can only lie on the outline of their screen projection where the surface folds over,
i.e. both faces lie on the same side of the edge on screen. The rasteriser uses this to keep the soft band of its
coverage at the outline and off internal edges (which otherwise show up as seams inside the silhouette).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class EdgeAdjacency:
    """Per face edge k (corner k -> corner k+1), both (F, 3).

    neighbor: the other face sharing the edge, −1 on a boundary or a non-manifold edge (> 2 faces).
    opposite: True where the neighbour runs along the edge the other way (consistently oriented mesh).
    """

    neighbor: torch.Tensor
    opposite: torch.Tensor


def edge_adjacency(faces: torch.Tensor) -> EdgeAdjacency:
    """Adjacency of faces (F, 3) through their edges; vectorised (one sort), no host sync."""
    if faces.dim() != 2 or faces.shape[-1] != 3:
        raise ValueError(f"faces must be (F, 3), got {tuple(faces.shape)}")
    faces = faces.long()
    if faces.shape[0] == 0:
        return EdgeAdjacency(neighbor=faces.clone(), opposite=torch.zeros_like(faces, dtype=torch.bool))
    start, end = faces, faces.roll(-1, dims=1)
    lo, hi = torch.minimum(start, end).reshape(-1), torch.maximum(start, end).reshape(-1)
    key = (lo << 32) | hi  # vertex ids < 2³¹
    key, order = torch.sort(key, stable=True)
    same = key[1:] == key[:-1]  # sorted neighbours i, i+1 share an edge
    false = same.new_zeros(1)
    same_next, same_prev = torch.cat([same, false]), torch.cat([false, same])
    # Exactly two faces on the edge: a pair (i, i+1) with no third copy on either side.
    pair_first = same_next & ~same_prev & ~torch.cat([same[1:], false, false])
    pair_second = torch.cat([false, pair_first[:-1]])
    sorted_partner = torch.full_like(order, -1)
    positions = torch.arange(order.numel(), device=faces.device)
    sorted_partner = torch.where(pair_first, positions + 1, sorted_partner)
    sorted_partner = torch.where(pair_second, positions - 1, sorted_partner)
    partner_slot = torch.full_like(order, -1)
    partner_slot[order] = torch.where(sorted_partner >= 0, order[sorted_partner.clamp_min(0)], -1)
    neighbor = torch.where(partner_slot >= 0, partner_slot // 3, -1).view(-1, 3)
    forward = (start < end).reshape(-1)
    opposite = forward != forward[partner_slot.clamp_min(0)]
    return EdgeAdjacency(neighbor=neighbor, opposite=(opposite & (partner_slot >= 0)).view(-1, 3))
