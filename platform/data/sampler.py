"""Batches of m sequences × n frames for the video losses (paper §3.3: n = 3, interval = 3, m = batch // n).

An epoch tiles every sequence into blocks of n·interval consecutive frames (from a random offset per epoch, so
block borders move); block b holds `interval` interleaved windows {b + j, b + j + interval, …} of n frames, so
each frame of a tiled block lies in exactly one window: an epoch visits the frames about once, like an image
epoch. Windows are shuffled (seed, epoch), grouped m to a batch, and batches are dealt round-robin to the ranks —
disjoint, and the same count on every rank (the remainder is dropped, as DistributedSampler(drop_last=True) does).
Each batch lists, per window, its n dataset indices in frame order: reshape to (m, n).
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
import torch


class SequenceBatchSampler(torch.utils.data.Sampler[list[int]]):
    def __init__(self, sequence_ids: np.ndarray, frame_ids: np.ndarray, frames: int = 3, interval: int = 3,
                 sequences_per_batch: int = 21, *, rank: int = 0, world_size: int = 1, seed: int = 0,
                 shuffle: bool = True, random_offset: bool = True) -> None:
        if frames < 1 or interval < 1 or sequences_per_batch < 1:
            raise ValueError("frames, interval and sequences_per_batch must be >= 1")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world of size {world_size}")
        self.frames, self.interval, self.per_batch = frames, interval, sequences_per_batch
        self.rank, self.world_size, self.seed = rank, world_size, seed
        self.shuffle, self.random_offset = shuffle, random_offset
        self.epoch = 0
        sequence_ids, frame_ids = np.asarray(sequence_ids), np.asarray(frame_ids)
        order = np.lexsort((frame_ids, sequence_ids))  # dataset indices sorted by (sequence, frame)
        starts = np.flatnonzero(np.r_[True, sequence_ids[order][1:] != sequence_ids[order][:-1]])
        self._runs = [order[a:b] for a, b in zip(starts, np.r_[starts[1:], len(order)])]

    @classmethod
    def from_dataset(cls, dataset, frames: int, interval: int, batch_size: int, **kwargs) -> SequenceBatchSampler:
        """m = batch_size // frames sequences per batch (the paper's m = 64 // n)."""
        return cls(dataset.sequence_ids, dataset.frame_ids, frames, interval, max(batch_size // frames, 1), **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def windows(self) -> np.ndarray:
        """(W, n) dataset indices of this epoch's windows, before shuffling and sharding."""
        rng = np.random.default_rng([self.seed, self.epoch, 0])
        n, k = self.frames, self.interval
        block, span = n * k, (n - 1) * k + 1
        out = []
        for run in self._runs:
            if len(run) < span:
                continue  # too short for one window
            offset = int(rng.integers(0, block)) % max(len(run) - span + 1, 1) if self.random_offset else 0
            starts = np.arange(offset, len(run) - span + 1)
            # keep the starts whose window stays inside one block: j = (start - offset) mod block < interval
            starts = starts[(starts - offset) % block < k]
            out.append(run[starts[:, None] + np.arange(n) * k])
        return np.concatenate(out) if out else np.zeros((0, n), dtype=np.int64)

    def _batches(self) -> np.ndarray:
        windows = self.windows()
        if self.shuffle:
            windows = windows[np.random.default_rng([self.seed, self.epoch, 1]).permutation(len(windows))]
        per_rank = len(windows) // (self.per_batch * self.world_size)
        used = per_rank * self.per_batch * self.world_size
        batches = windows[:used].reshape(per_rank * self.world_size, self.per_batch * self.frames)
        return batches[self.rank::self.world_size]

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._batches():
            yield batch.tolist()

    def __len__(self) -> int:
        return len(self._batches())
