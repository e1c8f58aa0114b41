"""Inputs to the scorers: float64 tensors on the scoring device (a GPU when present).

float64 because the official scorers run in numpy float64 and their PCK and F-score counts flip on ties at the
thresholds; a GPU because the F-score's nearest-neighbour search is the one heavy part.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Union

import numpy as np
import torch

ArrayLike = Union[np.ndarray, torch.Tensor, list]


def scoring_device(device: str | torch.device | None = None) -> torch.device:
    """The device to score on: the one asked for, else CUDA when available, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_float64(x: ArrayLike, device: str | torch.device | None = None) -> torch.Tensor:
    """Any array-like -> float64 tensor on ``scoring_device(device)`` (no copy when already there)."""
    if isinstance(x, torch.Tensor):
        return x.to(device=scoring_device(device), dtype=torch.float64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64), device=scoring_device(device))


def check_points(name: str, x: torch.Tensor, dim: int = 3, points: int | None = None) -> None:
    """Raise ValueError unless x is (N, P, dim), with P == points when given."""
    if x.ndim != 3 or x.shape[-1] != dim or (points is not None and x.shape[1] != points):
        want = f"(N, {points if points is not None else 'P'}, {dim})"
        raise ValueError(f"{name}: expected shape {want}, got {tuple(x.shape)}")


@contextmanager
def single_thread(device: torch.device) -> Iterator[None]:
    """Run CPU work with one intra-op thread, then restore the setting (process-wide, as torch's setting is).

    Scoring is thousands of mid-sized eager ops: extra threads gain little on them, and on a busy machine, where
    OpenMP threads wait for a free core at every op, they made the scorer 10-30× slower in measurements here.
    """
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
