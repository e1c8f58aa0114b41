"""FreiHAND (FACTS §6): training/rgb/%08d.jpg in four background versions (version v of sample i is image
i + v·N, N = len(training_K.json), with sample i's annotation), training_{K,mano,xyz,verts,scale}.json,
evaluation/rgb/%08d.jpg with evaluation_{K,scale}.json and, when present, the public evaluation_{xyz,verts,mano}.json.

Splits: "train" (every version on disk), "train-gs", "train-hom", "train-sample", "train-auto" (one version, or
several joined by '+', e.g. "train-gs+hom"), "evaluation". Vertices (1 GB of JSON for the full training set) are
read only when asked for.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from s2hand.data.jsonio import read_array_json
from s2hand.data.source import Annotation, FrameSource, require_dir
from s2hand.errors import DataError

VERSIONS = ("gs", "hom", "sample", "auto")
SPLIT_DIRS = {"train": "training", "training": "training", "evaluation": "evaluation", "eval": "evaluation"}


def _parse_split(split: str) -> tuple[str, tuple[int, ...] | None]:
    base, _, versions = split.partition("-")
    if base not in SPLIT_DIRS:
        raise DataError(f"FreiHAND has no split {split!r}: use train, train-{'|'.join(VERSIONS)} or evaluation")
    if not versions:
        return SPLIT_DIRS[base], None
    chosen = []
    for name in versions.split("+"):
        if name not in VERSIONS:
            raise DataError(f"FreiHAND split {split!r}: unknown version {name!r} (versions: {', '.join(VERSIONS)})")
        chosen.append(VERSIONS.index(name))
    return SPLIT_DIRS[base], tuple(chosen)


class FreiHandSource(FrameSource):
    def __init__(self, root: str | Path, split: str, with_vertices: bool | None = None) -> None:
        root = Path(root)
        directory, versions = _parse_split(split)
        require_dir(root / directory / "rgb", f"FreiHAND {split}")
        self._K = read_array_json(root / f"{directory}_K.json", (3, 3), dtype=np.float64)
        n = len(self._K)
        self._scale = _optional(root / f"{directory}_scale.json", (), n, required=True)
        self._xyz = _optional(root / f"{directory}_xyz.json", (21, 3), n, required=directory == "training")
        self._mano = _optional_mano(root / f"{directory}_mano.json", n)
        with_vertices = directory == "evaluation" if with_vertices is None else with_vertices
        self._verts = _optional(root / f"{directory}_verts.json", (778, 3), n) if with_vertices else None
        if versions is None:
            versions = tuple(v for v in range(len(VERSIONS) if directory == "training" else 1)
                             if (root / directory / "rgb" / f"{v * n:08d}.jpg").exists()) or (0,)
        elif directory == "evaluation":
            raise DataError("FreiHAND's evaluation split has a single version")
        self._n = n
        index = np.concatenate([np.arange(n) + v * n for v in versions]) if n else np.zeros(0, np.int64)
        has = {"K", "scale"} | {k for k, v in (("joints3d", self._xyz), ("mano", self._mano), ("vertices", self._verts))
                                if v is not None}
        super().__init__(
            layout="freihand", root=root, split=split, keys=[f"{directory}/rgb/{i:08d}.jpg" for i in index],
            sequence=index.astype(np.int64), frame=np.zeros(len(index), np.int64), has=frozenset(has),
        )
        self.versions = tuple(VERSIONS[v] for v in versions)

    def annotation(self, index: int) -> Annotation:
        i = int(self.sequence[index]) % self._n  # the annotation of every version is that of sample i
        return Annotation(
            K=self._K[i],
            joints3d=None if self._xyz is None else self._xyz[i],
            vertices=None if self._verts is None else self._verts[i],
            mano=None if self._mano is None else self._mano[i],
            scale=float(self._scale[i]),
        )


def _optional(path: Path, shape: tuple[int, ...], count: int, required: bool = False) -> np.ndarray | None:
    if not path.exists():
        if required:
            raise DataError(f"missing annotation file {path}")
        return None
    return read_array_json(path, shape, count)


def _optional_mano(path: Path, count: int) -> np.ndarray | None:
    """FreiHAND stores [[61 numbers]] per sample; [61] is accepted too."""
    if not path.exists():
        return None
    with path.open() as handle:
        nested = "".join(handle.read(64).split()).startswith("[[[")
    return read_array_json(path, (1, 61), count)[:, 0] if nested else read_array_json(path, (61,), count)
