"""`s2hand detect`: run a 2D detector over a dataset split and write the detection file (detections.py format).

- synthetic: projects the ground truth (K, joints) and adds the documented noise of synthetic_detector.py. Per-joint
  visibility comes from the generator's records for data written by `s2hand data synth`, else from a depth test
  between the joints (real data).
- mediapipe: MediaPipe Hands on every image (optional extra), confidence = the hand's score.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from tqdm import tqdm

from s2hand.data.detections import Detections, save_detections
from s2hand.data.factory import open_source
from s2hand.data.images import image_size, read_image
from s2hand.data.source import FrameSource
from s2hand.data.synthetic_detector import NoiseModel, synthetic_detections, visibility_from_depth
from s2hand.errors import DataError

DETECTORS = ("synthetic", "mediapipe")


def guess_layout(root: str | os.PathLike) -> str:
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"dataset root {root} does not exist")
    if (root / "training_K.json").exists() or (root / "evaluation_K.json").exists():
        return "freihand"
    if (root / "train.txt").exists() and (root / "frames").is_dir():
        return "yt3d"
    if (root / "train.txt").exists() or (root / "evaluation.txt").exists():
        return "ho3d"
    if (root / "labels").is_dir() and (root / "images").is_dir():
        return "stb"
    raise DataError(f"{root}: cannot tell the dataset layout (no training_K.json, train.txt, frames/ or labels/); "
                    "pass --layout")


def detect(root: str | os.PathLike, out: str | os.PathLike, detector: str = "synthetic", *, layout: str | None = None,
           split: str = "train", seed: int = 0, progress: bool = True) -> Path:
    root = Path(root)
    source = open_source(layout or guess_layout(root), root, split, with_vertices=False)
    if detector == "synthetic":
        detections = _synthetic(source, seed, progress)
    elif detector == "mediapipe":
        detections = _mediapipe(source, progress)
    else:
        raise DataError(f"unknown detector {detector!r} (use one of {', '.join(DETECTORS)})")
    detections.split = split
    return save_detections(out, detections)


def _synthetic(source: FrameSource, seed: int, progress: bool) -> Detections:
    from s2hand.data.synth.generate import load_records, state_dir

    if (state_dir(source.root) / source.split).is_dir():  # our own synthetic data: exact visibility
        records = load_records(source.root, source.split)
        if len(records["keypoints"]) == len(source):
            size = _image_size(source, 0)
            keypoints, confidence = synthetic_detections(records["keypoints"], records["visible"], size, seed)
            return Detections(keypoints, confidence, list(source.keys), {**NoiseModel().describe(), "seed": seed})
    if "joints3d" not in source.has or "K" not in source.has:
        raise DataError(f"the synthetic detector projects the ground truth: {source.layout} split {source.split!r} "
                        "has no 3D joints and intrinsics")
    n = len(source)
    truth = np.zeros((n, 21, 2))
    depth = np.zeros((n, 21))
    sizes = np.zeros((n, 2))
    for i in tqdm(range(n), desc="project", unit="img", disable=not progress):
        ann = source.annotation(i)
        if ann.joints3d is None or ann.K is None:
            raise DataError(f"{source.image_path(i)} (sample {i}): no ground truth to project")
        p = ann.joints3d @ ann.K.T
        truth[i], depth[i] = p[:, :2] / p[:, 2:], ann.joints3d[:, 2]
        sizes[i] = _image_size(source, i)
    visible = visibility_from_depth(truth, depth, radius_px=6.0 * sizes.max(1, keepdims=True) / 224.0)
    keypoints, confidence = np.zeros((n, 21, 2), np.float32), np.zeros((n, 21), np.float32)
    for size in np.unique(sizes, axis=0):  # the noise model needs the image size; usually one for all
        rows = (sizes == size).all(1)
        keypoints[rows], confidence[rows] = synthetic_detections(truth[rows], visible[rows], tuple(size), seed)
    return Detections(keypoints, confidence, list(source.keys), {**NoiseModel().describe(), "seed": seed})


def _image_size(source: FrameSource, index: int) -> tuple[int, int]:
    return image_size(source.image_path(index), index)


def _mediapipe(source: FrameSource, progress: bool) -> Detections:
    from s2hand.data.mediapipe_detector import MediaPipeHands, pick_right_hand

    n = len(source)
    keypoints, confidence = np.zeros((n, 21, 2), np.float32), np.zeros((n, 21), np.float32)
    with MediaPipeHands() as hands:
        for i in tqdm(range(n), desc="mediapipe", unit="img", disable=not progress):
            hand = pick_right_hand(hands(read_image(source.image_path(i), i)))
            if hand is not None:
                keypoints[i], confidence[i] = hand.keypoints, hand.score
        described = hands.describe()
    return Detections(keypoints, confidence, list(source.keys), described)
