"""Frames grouped into sequences by a per-frame sequence id (frames of a sequence contiguous, in time order)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Sequences:
    """``ids``: the distinct sequence ids in order of appearance; ``index``: (F,) sequence number of each frame."""

    ids: list
    index: torch.Tensor

    @property
    def count(self) -> int:
        return len(self.ids)


def group_frames(sequence_ids: Sequence | np.ndarray, device: torch.device | str = "cpu") -> Sequences:
    """Per-frame ids (any labels) -> Sequences; ValueError if a sequence's frames are not contiguous.

    Contiguity is required because every temporal metric takes frame order as time order.
    """
    labels = np.asarray(sequence_ids)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"sequence ids: expected a non-empty 1-D list, got shape {labels.shape}")
    change = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate([[0], change])
    run_ids = labels[starts]
    seen: set = set()
    for label in run_ids.tolist():  # one entry per run of equal ids, i.e. per sequence when all is well
        if label in seen:
            raise ValueError(f"sequence {label!r}: its frames are not contiguous (group frames by sequence)")
        seen.add(label)
    index = np.repeat(np.arange(len(starts)), np.diff(np.concatenate([starts, [labels.size]])))
    return Sequences(ids=run_ids.tolist(), index=torch.as_tensor(index, device=device))


def per_sequence_mean(values: torch.Tensor, index: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(K,) values with (K,) sequence numbers -> (count,) means and (count,) sample counts (mean NaN if none)."""
    total = values.new_zeros(count).index_add_(0, index, values)
    n = values.new_zeros(count).index_add_(0, index, torch.ones_like(values))
    return total / n, n
