"""Appearance consistency over sequences (paper Table 9): texture S.D. and shape S.D.

Definition: per sequence, the standard deviation over its frames of each dimension (of the lighted per-face colours
of Eq. 22, or of β), averaged over dimensions; then averaged over sequences (each sequence counts once). The
standard deviation is the population one (ddof = 0, numpy's default): a sequence's frames are all its frames, not
a sample of them, and a one-frame sequence then has S.D. 0 rather than undefined.
"""
from __future__ import annotations

import torch

from s2hand.evaluation.sequences import group_frames
from s2hand.evaluation.tensors import ArrayLike, as_float64


def consistency_sd(values: ArrayLike, sequence_ids: ArrayLike, device=None) -> dict:
    """(F, ...) per-frame values (flattened per frame) -> ``sd`` (mean over sequences) and ``per_sequence``."""
    x = as_float64(values, device)
    x = x.reshape(x.shape[0], -1)
    seq = group_frames(sequence_ids, x.device)
    if x.shape[0] != seq.index.numel():
        raise ValueError(f"values: {x.shape[0]} frames but {seq.index.numel()} sequence ids")
    counts = x.new_zeros(seq.count).index_add_(0, seq.index, torch.ones_like(x[:, 0]))[:, None]
    mean = x.new_zeros(seq.count, x.shape[1]).index_add_(0, seq.index, x) / counts
    # two passes (mean, then squared deviations): no cancellation as with E[x²] − E[x]²
    var = x.new_zeros(seq.count, x.shape[1]).index_add_(0, seq.index, (x - mean[seq.index]) ** 2) / counts
    per_sequence = var.sqrt().mean(1)
    return {"sd": float(per_sequence.mean()), "per_sequence": {"ids": seq.ids, "sd": per_sequence.tolist()}}


def texture_sd(lighted_textures: ArrayLike, sequence_ids: ArrayLike, device=None) -> float:
    """Texture S.D.: ``consistency_sd`` of (F, 1538, 3) lighted face colours (Eq. 22, colour units)."""
    return consistency_sd(lighted_textures, sequence_ids, device)["sd"]


def shape_sd(betas: ArrayLike, sequence_ids: ArrayLike, device=None) -> float:
    """Shape S.D.: ``consistency_sd`` of (F, 10) MANO shape coefficients β."""
    return consistency_sd(betas, sequence_ids, device)["sd"]
