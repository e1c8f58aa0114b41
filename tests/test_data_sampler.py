"""Sequence batch sampler: m sequences × n frames at an interval, disjoint across ranks, deterministic per epoch."""
from __future__ import annotations

import numpy as np
import pytest

from s2hand.data import SequenceBatchSampler


def _data(lengths=(30, 25, 7, 40)):
    sequence = np.concatenate([np.full(n, s) for s, n in enumerate(lengths)])
    frame = np.concatenate([np.arange(n) for n in lengths])
    order = np.random.default_rng(0).permutation(len(sequence))  # datasets need not be sorted
    return sequence[order], frame[order]


def test_batches_are_windows_of_one_sequence_spaced_by_the_interval():
    sequence, frame = _data()
    sampler = SequenceBatchSampler(sequence, frame, frames=3, interval=3, sequences_per_batch=4, seed=1)
    batches = list(sampler)
    assert len(batches) == len(sampler) > 0
    for batch in batches:
        windows = np.asarray(batch).reshape(4, 3)
        for window in windows:
            assert len(set(sequence[window])) == 1
            assert list(np.diff(frame[window])) == [3, 3]


def test_epoch_covers_the_frames_about_once():
    sequence, frame = _data((36, 18))
    sampler = SequenceBatchSampler(sequence, frame, 3, 3, 1, shuffle=False, random_offset=False)
    used = np.concatenate(list(sampler))
    assert len(used) == len(set(used)) == 54, "tiled blocks of n·interval frames: every frame exactly once"
    sequence, frame = _data((30, 25, 6, 40))
    sampler = SequenceBatchSampler(sequence, frame, 3, 3, 2, seed=3)
    used = np.concatenate(list(sampler))
    assert len(used) == len(set(used)), "no frame twice in an epoch"
    assert len(used) > 0.7 * (30 + 25 + 40)
    assert not (sequence[used] == 2).any(), "a 6-frame sequence is too short for a 3-frame window at interval 3"


def test_ranks_are_disjoint_equal_and_cover_the_epoch():
    sequence, frame = _data()
    world = 3
    samplers = [SequenceBatchSampler(sequence, frame, 3, 2, 2, rank=r, world_size=world, seed=5) for r in range(world)]
    per_rank = [np.concatenate(list(s)) if len(s) else np.zeros(0, int) for s in samplers]
    assert len({len(s) for s in samplers}) == 1, "every rank steps the same number of times"
    union = np.concatenate(per_rank)
    assert len(union) == len(set(union)), "ranks see disjoint frames"
    single = SequenceBatchSampler(sequence, frame, 3, 2, 2, seed=5)
    windows = single.windows()
    dropped = len(windows) - len(union) // 3
    assert 0 <= dropped < 2 * world, "only the remainder that does not fill a batch on every rank is dropped"


def test_deterministic_per_seed_and_epoch():
    sequence, frame = _data()
    a = SequenceBatchSampler(sequence, frame, 3, 3, 3, seed=11)
    b = SequenceBatchSampler(sequence, frame, 3, 3, 3, seed=11)
    assert list(a) == list(b)
    first = list(a)
    a.set_epoch(1)
    assert list(a) != first
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(SequenceBatchSampler(sequence, frame, 3, 3, 3, seed=12)) != first


def test_paper_batch_shape_and_argument_checks():
    class Dataset:
        sequence_ids, frame_ids = _data((200, 200))

    sampler = SequenceBatchSampler.from_dataset(Dataset, frames=3, interval=3, batch_size=64)
    assert sampler.per_batch == 21 and all(len(b) == 63 for b in sampler)
    with pytest.raises(ValueError):
        SequenceBatchSampler(*_data(), rank=2, world_size=2)
