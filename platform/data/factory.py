"""`build_dataset(spec.data, split)`: the dataset of a spec's data section, keyed by its layout."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from s2hand.config.spec import DataSpec
from s2hand.data.dataset import HandDataset
from s2hand.data.source import FrameSource
from s2hand.errors import DataError

LAYOUTS = ("freihand", "ho3d", "stb", "yt3d", "synthetic-freihand", "synthetic-ho3d")


def open_source(layout: str, root: str | os.PathLike, split: str, with_vertices: bool | None = None) -> FrameSource:
    """The frame index of one split of a dataset on disk."""
    root = Path(root)
    if not root.exists():
        raise DataError(f"dataset root {root} does not exist")
    if layout in ("freihand", "synthetic-freihand"):
        from s2hand.data.freihand import FreiHandSource

        return FreiHandSource(root, split, with_vertices)
    if layout in ("ho3d", "synthetic-ho3d"):
        from s2hand.data.ho3d import Ho3dSource

        return Ho3dSource(root, split, with_vertices)
    if layout == "stb":
        from s2hand.data.stb import StbSource

        return StbSource(root, split)
    if layout == "yt3d":
        from s2hand.data.yt3d import Yt3dSource

        return Yt3dSource(root, split)
    raise DataError(f"unknown data layout {layout!r} (known: {', '.join(LAYOUTS)})")


def dataset_root(data: DataSpec, cache_dir: str | os.PathLike | None = None,
                 synthetic: Mapping[str, int] | None = None) -> Path:
    """data.root, or for a synthetic-* layout with root null the embedded dataset (generated once, cached);
    ``synthetic`` overrides its SynthConfig fields (train, evaluation, sequences, eval_sequences, frames, ...)."""
    if data.root is not None:
        return Path(data.root)
    if not data.layout.startswith("synthetic-"):
        raise DataError(f"data.root: layout {data.layout!r} needs a dataset root")
    from s2hand.data.embedded import embedded_root

    return embedded_root(data.layout, cache_dir, **dict(synthetic or {}))


def build_dataset(data: DataSpec, split: str | None = None, *, train: bool | None = None, seed: int = 0,
                  cache_dir: str | os.PathLike | None = None, with_vertices: bool | None = None,
                  synthetic: Mapping[str, int] | None = None) -> HandDataset:
    """The dataset of ``split`` (default: data.train_split). Training splits are augmented per data.augment and
    must have detections; other splits are not augmented and use detections only if present. ``synthetic``
    sizes the embedded data of synthetic-* layouts with root null (see embedded.py)."""
    split = split or data.train_split
    train = (split == data.train_split) if train is None else train
    root = dataset_root(data, cache_dir, synthetic)
    source = open_source(data.layout, root, split, with_vertices)
    detections = data.detections
    if detections is not None and not train and not Path(detections).is_dir():
        detections = None  # a single file holds the training split's detections; a directory holds <split>.json
    return HandDataset(source, data.image_size, detections=detections, require_detections=train,
                       augment=data.augment if train else None, seed=seed, skip_bad=data.skip_bad)
