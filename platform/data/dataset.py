"""HandDataset: any FrameSource + its detections -> Samples (sample.py); `build_dataset` picks the loader.

Per sample: decode the image file, build one affine map (mirror for left-hand datasets, crop around the hand,
augmentation) and resample once; move K, keypoints and 3D ground truth with it (transforms.py, augment.py).

Bad input: a missing image file, a detection file that does not cover the images, or (at load time) a corrupt
image or meta file raises DataError naming the file and the sample index. With ``skip_bad`` such frames are
skipped instead — missing files and detections up front (they never enter the index), unreadable ones when met
(the next good frame stands in) — each counted in ``skipped`` and logged; ``report()`` summarises them.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from s2hand.config.spec import AugmentSpec
from s2hand.data import transforms
from s2hand.data.augment import IDENTITY, Augmentation, color_jitter, sample_augmentation
from s2hand.data.detections import align, load_detections, missing_message
from s2hand.data.images import read_image
from s2hand.data.sample import Sample
from s2hand.data.source import FrameSource
from s2hand.errors import DataError

log = logging.getLogger("s2hand.data")

MIRROR_3D = np.diag([-1.0, 1.0, 1.0])
MIN_CROP_CONFIDENCE = 0.2


@dataclass(frozen=True)
class BadSample:
    index: int  # position in the source (all frames of the split)
    file: str
    reason: str


class HandDataset(torch.utils.data.Dataset):
    def __init__(
        self,
        source: FrameSource,
        image_size: int = 224,
        *,
        detections: str | os.PathLike | None = None,
        require_detections: bool = True,
        augment: AugmentSpec | None = None,
        seed: int = 0,
        skip_bad: bool = False,
    ) -> None:
        self.source = source
        self.image_size = image_size
        self.augment = augment
        self.seed = seed
        self.epoch = 0
        self.skip_bad = skip_bad
        self.skipped: list[BadSample] = []
        keep = np.ones(len(source), dtype=bool)

        missing = source.missing_files()
        if len(missing):
            first = int(missing[0])
            if not skip_bad:
                raise DataError(f"missing image {source.image_path(first)} (sample {first}); {len(missing)} of "
                                f"{len(source)} images of {source.layout} {source.split} are missing")
            self._skip(missing, "missing image file")
            keep[missing] = False

        self.keypoints = np.zeros((len(source), 21, 2), np.float32)
        self.confidence = np.zeros((len(source), 21), np.float32)
        self.detections_path: Path | None = None
        path = Path(detections) if detections is not None else source.default_detections()
        if path.is_dir():
            path = path / f"{source.split}.json"
        if path.exists():
            aligned = align(load_detections(path), source.keys, path)
            self.keypoints, self.confidence = aligned.keypoints, aligned.confidence
            self.detections_path = path
            absent = aligned.missing[keep[aligned.missing]]
            if len(absent):
                first = int(absent[0])
                if not skip_bad:
                    raise DataError(missing_message(path, len(absent), len(source), first, source.keys[first]))
                self._skip(absent, f"no detection in {path.name}")
                keep[absent] = False
        elif require_detections:
            raise DataError(f"no detections for {source.layout} split {source.split!r}: expected {path} "
                            f"(make them with `s2hand detect --data {source.root} --out {path}`, or set data.detections)")
        self.rows = np.nonzero(keep)[0]

    # ------------------------------------------------------------------ index

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def sequence_ids(self) -> np.ndarray:
        return self.source.sequence[self.rows]

    @property
    def frame_ids(self) -> np.ndarray:
        return self.source.frame[self.rows]

    def set_epoch(self, epoch: int) -> None:
        """Augmentation is drawn from (seed, epoch, index): call before each epoch's DataLoader iterator."""
        self.epoch = epoch

    def _skip(self, indices: np.ndarray, reason: str) -> None:
        for i in indices:
            self.skipped.append(BadSample(int(i), self.source.keys[int(i)], reason))
        log.warning("skipping %d frame(s) of %s %s: %s (first: sample %d, %s)", len(indices), self.source.layout,
                    self.source.split, reason, int(indices[0]), self.source.keys[int(indices[0])])

    def report(self) -> str:
        if not self.skipped:
            return f"{self.source.layout} {self.source.split}: {len(self)} samples, none skipped"
        reasons: dict[str, int] = {}
        for bad in self.skipped:
            reasons[bad.reason] = reasons.get(bad.reason, 0) + 1
        detail = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        return f"{self.source.layout} {self.source.split}: {len(self)} samples, {len(self.skipped)} skipped ({detail})"

    # ------------------------------------------------------------------ samples

    def __getitem__(self, index: int) -> Sample:
        if not self.skip_bad:
            return self._load(index)
        for offset in range(len(self)):
            position = (index + offset) % len(self)
            try:
                return self._load(position)
            except DataError as error:
                row = int(self.rows[position])
                if not any(b.index == row for b in self.skipped):
                    self.skipped.append(BadSample(row, self.source.keys[row], str(error)))
                log.warning("skipping bad sample: %s", error)
        raise DataError(f"{self.source.layout} {self.source.split}: every sample is unreadable")

    def check(self, index: int) -> bool:
        """Load sample ``index`` as training would; False (recorded in ``skipped``) if it is bad and skip_bad is
        set, else its DataError propagates."""
        try:
            self._load(index)
            return True
        except DataError as error:
            if not self.skip_bad:
                raise
            row = int(self.rows[index])
            self.skipped.append(BadSample(row, self.source.keys[row], str(error)))
            return False

    def augmentation(self, index: int) -> Augmentation:
        if self.augment is None:
            return IDENTITY
        rng = np.random.default_rng([self.seed, self.epoch, int(self.rows[index])])
        return sample_augmentation(self.augment, self.image_size, rng)

    def _load(self, index: int) -> Sample:
        row = int(self.rows[index])
        ann = self.source.annotation(row)
        image = read_image(self.source.image_path(row), row)
        height, width = image.shape[:2]
        keypoints, confidence = self.keypoints[row], self.confidence[row]
        detected = confidence > 0

        base = np.eye(3)
        if ann.mirror:
            base = np.array([[-1.0, 0.0, width], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
        crop = ann.crop
        if crop is None and self.source.crop_margin and (confidence > MIN_CROP_CONFIDENCE).sum() >= 4:
            crop = transforms.square_box(keypoints[confidence > MIN_CROP_CONFIDENCE], self.source.crop_margin)
        if crop is None:  # the whole image, centred in a square
            crop = ((width / 2.0, height / 2.0), float(max(width, height)))
        (cx, cy), side = crop
        cx, cy = transforms.apply_to_points(base, np.array([[cx, cy]]))[0]
        base = transforms.crop_to((cx, cy), side, self.image_size) @ base

        aug = self.augmentation(index)
        A = aug.affine(self.image_size) @ base
        rotation3d = aug.rotation3d() @ (MIRROR_3D if ann.mirror else np.eye(3))
        pixels = transforms.warp_image(image, A, self.image_size).astype(np.float32) * np.float32(1 / 255)
        pixels = color_jitter(pixels, aug)

        moved = np.where(detected[:, None], transforms.apply_to_points(A, keypoints), 0.0)
        sample: Sample = {
            "image": torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))),
            "orthographic": torch.tensor(self.source.orthographic),
            "keypoints2d": torch.as_tensor(moved, dtype=torch.float32),
            "confidence": torch.as_tensor(confidence, dtype=torch.float32),
            "sequence": torch.tensor(int(self.source.sequence[row])),
            "frame": torch.tensor(int(self.source.frame[row])),
            "index": torch.tensor(index),
        }
        if ann.K is not None:
            sample["K"] = torch.as_tensor(A @ ann.K @ rotation3d.T, dtype=torch.float32)
        if ann.joints3d is not None:
            sample["joints3d"] = torch.as_tensor(ann.joints3d @ rotation3d.T, dtype=torch.float32)
        if ann.vertices is not None:
            sample["vertices"] = torch.as_tensor(ann.vertices @ rotation3d.T, dtype=torch.float32)
        if ann.mano is not None:
            sample["mano"] = torch.as_tensor(ann.mano, dtype=torch.float32)
        if ann.scale is not None:
            sample["scale"] = torch.tensor(float(ann.scale), dtype=torch.float32)
        missing = (self.source.has - {"mano"}) - set(sample)  # a frame lacking what its dataset promises
        if missing:
            raise DataError(f"{self.source.image_path(row)} (sample {row}): no {', '.join(sorted(missing))}")
        return sample
