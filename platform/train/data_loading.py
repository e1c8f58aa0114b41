"""Per-epoch batch iterables for the Trainer: image batches or m × n sequence batches, sharded by rank.

Everything random is a function of (seed, epoch, index) — the sampler's order and the dataset's augmentation —
so a run resumed at an epoch boundary sees exactly the batches an uninterrupted run would.
"""
from __future__ import annotations

from typing import Callable, Iterable, Mapping

import torch
from torch.utils.data import DataLoader, DistributedSampler

from s2hand.config.spec import ExperimentSpec
from s2hand.data import HandDataset, SequenceBatchSampler, build_dataset

Batch = dict[str, torch.Tensor]


def per_worker_batch(spec: ExperimentSpec, world_size: int) -> int:
    """train.batch_size is global (paper: 64); each of the world_size workers takes its share."""
    if spec.train.batch_size % world_size:
        from s2hand.errors import ConfigError

        raise ConfigError(f"train.batch_size={spec.train.batch_size} is not divisible by "
                          f"distributed.num_workers={world_size}")
    return spec.train.batch_size // world_size


def train_batches(spec: ExperimentSpec, dataset: HandDataset, *, rank: int = 0,
                  world_size: int = 1) -> Callable[[int], Iterable[Batch]]:
    batch = per_worker_batch(spec, world_size)
    workers = spec.data.num_workers
    if spec.stage == "video_finetune":
        sampler = SequenceBatchSampler.from_dataset(dataset, spec.data.sequence.frames, spec.data.sequence.interval,
                                                    batch, rank=rank, world_size=world_size, seed=spec.seed)
        if len(sampler) == 0:
            from s2hand.errors import DataError

            raise DataError(f"no sequence batch fits: {len(dataset)} frames, n={spec.data.sequence.frames}, "
                            f"interval={spec.data.sequence.interval}, batch {batch} per worker")

        def epoch_batches(epoch: int) -> Iterable[Batch]:
            sampler.set_epoch(epoch)
            dataset.set_epoch(epoch)
            return DataLoader(dataset, batch_sampler=sampler, num_workers=workers)
    else:
        sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True, seed=spec.seed,
                                     drop_last=True)

        def epoch_batches(epoch: int) -> Iterable[Batch]:
            sampler.set_epoch(epoch)
            dataset.set_epoch(epoch)
            return DataLoader(dataset, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=True)

    return epoch_batches


def eval_batches(spec: ExperimentSpec, dataset: HandDataset, *, batch_size: int = 32) -> Callable[[], Iterable[Batch]]:
    def batches() -> Iterable[Batch]:
        return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=spec.data.num_workers)

    return batches


def build_loaders(spec: ExperimentSpec, *, rank: int = 0, world_size: int = 1,
                  synthetic: Mapping[str, int] | None = None, with_eval: bool = True):
    """(train_batches, eval_batches or None) for a spec; the evaluation split is used when it has ground truth."""
    train = build_dataset(spec.data, spec.data.train_split, train=True, seed=spec.seed, synthetic=synthetic)
    evaluate = None
    if with_eval:
        eval_set = build_dataset(spec.data, spec.data.eval_split, train=False, seed=spec.seed, synthetic=synthetic)
        evaluate = eval_batches(spec, eval_set)
    return train_batches(spec, train, rank=rank, world_size=world_size), evaluate
