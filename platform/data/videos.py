"""`s2hand data import-videos`: a folder of unlabeled videos -> a YT 3D-style sequence dataset (yt3d.py layout).

Each video (a video file, or a folder of frame images in name order) is decoded twice: a first pass runs the
detector on every frame and keeps only keypoints, a second pass cuts the hand crops. A sequence is a run of
consecutive frames where one hand of the same side is detected with score >= min_score; a missing hand or a change
of side ends it, and runs shorter than min_frames are dropped (counted in the summary). Crop boxes (square, margin ×
the keypoints' extent) are smoothed along the run so the crops do not jitter; left hands are mirrored into right
hands. Detections are stored in crop pixels, confidence = the detector's hand score.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
from tqdm import tqdm

from s2hand.data import transforms
from s2hand.data.detections import Detections, save_detections
from s2hand.data.images import read_image, write_image
from s2hand.errors import DataError, S2HandError
from s2hand.io.atomic import atomic_write

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
VIDEO_HINT = "decoding video files needs PyAV (pip install av) or OpenCV (installed with s2hand[mediapipe])"

# detector: RGB frame -> list of hands (mediapipe_detector.HandDetection-like: keypoints, score, right), best first
Detector = Callable[[np.ndarray], list]


@dataclass
class ImportSummary:
    root: Path
    videos: int = 0
    frames_read: int = 0
    frames_kept: int = 0
    sequences: int = 0
    short_runs_dropped: int = 0
    skipped_videos: list[str] = field(default_factory=list)


def find_videos(directory: Path) -> list[Path]:
    """Video files and frame folders directly under ``directory``, sorted by name."""
    if not directory.is_dir():
        raise DataError(f"{directory} is not a directory of videos")
    found = []
    for path in sorted(directory.iterdir()):
        if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
            found.append(path)
        elif path.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
            found.append(path)
    return found


def iter_frames(video: Path, fps: float | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(index, RGB frame) in order; with ``fps``, frames are thinned to at most that rate (indices count the kept
    frames). Frame folders are taken at their native rate (fps ignored)."""
    if video.is_dir():
        files = sorted(p for p in video.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for i, path in enumerate(files):
            yield i, read_image(path, i)
        return
    try:
        import av
    except ImportError:
        av = None
    if av is not None:
        yield from _iter_pyav(av, video, fps)
        return
    try:
        import cv2
    except ImportError:
        raise S2HandError(f"{video}: {VIDEO_HINT}") from None
    yield from _iter_cv2(cv2, video, fps)


def _thin(times: Iterator[tuple[float, np.ndarray]], fps: float | None) -> Iterator[tuple[int, np.ndarray]]:
    kept, next_time = 0, 0.0
    for t, frame in times:
        if fps is None or t + 1e-6 >= next_time:
            yield kept, frame
            kept += 1
            next_time = (np.floor(t * fps + 1e-6) + 1) / fps if fps else 0.0


def _iter_pyav(av, video: Path, fps: float | None) -> Iterator[tuple[int, np.ndarray]]:
    try:
        container = av.open(str(video))
    except Exception as error:  # PyAV raises its own error types per failure
        raise DataError(f"cannot open video {video}: {error}") from error
    with container:
        stream = container.streams.video[0]

        def frames():
            for frame in container.decode(stream):
                t = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
                yield t, frame.to_ndarray(format="rgb24")

        yield from _thin(frames(), fps)


def _iter_cv2(cv2, video: Path, fps: float | None) -> Iterator[tuple[int, np.ndarray]]:
    capture = cv2.VideoCapture(str(video))
    if not capture.isOpened():
        raise DataError(f"cannot open video {video}")
    rate = capture.get(cv2.CAP_PROP_FPS) or 30.0

    def frames():
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                return
            yield index / rate, bgr[:, :, ::-1].copy()
            index += 1

    try:
        yield from _thin(frames(), fps)
    finally:
        capture.release()


def _runs(found: list, min_score: float) -> list[list[int]]:
    """Maximal runs of consecutive frame positions with a hand of one side."""
    runs, current, side = [], [], None
    for position, hand in enumerate(found):
        ok = hand is not None and hand.score >= min_score
        if ok and current and hand.right == side:
            current.append(position)
            continue
        if current:
            runs.append(current)
        current, side = ([position], hand.right) if ok else ([], None)
    if current:
        runs.append(current)
    return runs


def _smooth(values: np.ndarray, window: int) -> np.ndarray:
    if window <= 1 or len(values) < 2:
        return values
    pad = window // 2
    padded = np.pad(values, [(pad, pad)] + [(0, 0)] * (values.ndim - 1), mode="edge")
    kernel = np.ones(window) / window
    return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(values.shape[1])], 1)


def _sequence_name(video: Path, run: int) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", video.stem if video.is_file() else video.name).strip("_") or "video"
    return f"{stem}_{run:03d}"


def import_videos(source: str | os.PathLike, out: str | os.PathLike, *, detector: Detector | None = None,
                  detector_info: dict | None = None, fps: float | None = None, size: int = 224, margin: float = 1.6,
                  min_score: float = 0.5, min_frames: int = 3, smooth: int = 5, progress: bool = True) -> ImportSummary:
    """Convert every video under ``source``; ``detector`` defaults to MediaPipe Hands (optional extra)."""
    source, out = Path(source), Path(out)
    videos = find_videos(source)
    if not videos:
        raise DataError(f"{source}: no videos ({', '.join(VIDEO_SUFFIXES)}) or frame folders found")
    if out.exists() and any(out.iterdir()):
        raise DataError(f"{out} is not empty: choose a new --out directory")
    owned = None
    if detector is None:  # MediaPipe in tracking mode, restarted per video so no track crosses a cut
        from s2hand.data.mediapipe_detector import MediaPipeHands

        owned = MediaPipeHands(static_images=False)
        detector_info = owned.describe()
    summary = ImportSummary(out)
    lines: list[str] = []
    keys, all_keypoints, all_scores = [], [], []
    provenance = {}
    try:
        for video in tqdm(videos, desc="import-videos", unit="video", disable=not progress):
            if owned is not None:
                owned.close()
                owned = MediaPipeHands(static_images=False)
            detect = owned or detector
            found = [pick(detect(frame)) for _, frame in iter_frames(video, fps)]
            summary.videos += 1
            summary.frames_read += len(found)
            runs = _runs(found, min_score)
            summary.short_runs_dropped += sum(len(r) < min_frames for r in runs)
            runs = [r for r in runs if len(r) >= min_frames]
            if not runs:
                summary.skipped_videos.append(video.name)
                continue
            plans = {}
            for number, run in enumerate(runs):
                boxes = np.array([[*c, s] for c, s in (transforms.square_box(found[p].keypoints, margin) for p in run)])
                boxes = _smooth(boxes, smooth)
                name = _sequence_name(video, number)
                mirror = not found[run[0]].right
                for position, box in zip(run, boxes):
                    plans[position] = (name, box, mirror)
                provenance[name] = {"video": video.name, "first_frame": run[0], "last_frame": run[-1], "fps": fps,
                                    "mirrored": mirror, "boxes": np.round(boxes, 2).tolist()}
            for position, frame in iter_frames(video, fps):
                if position not in plans:
                    continue
                name, (cx, cy, side), mirror = plans[position]
                A = transforms.crop_to((cx, cy), side, size)
                if mirror:
                    A = np.array([[-1.0, 0.0, size], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ A
                key = f"frames/{name}/{position:06d}.jpg"
                (out / key).parent.mkdir(parents=True, exist_ok=True)
                write_image(out / key, transforms.warp_image(frame, A, size))
                keys.append(key)
                lines.append(f"{name}/{position:06d}")
                all_keypoints.append(transforms.apply_to_points(A, found[position].keypoints))
                all_scores.append(found[position].score)
                summary.frames_kept += 1
            summary.sequences += len(runs)
    finally:
        if owned is not None:
            owned.close()
    if not keys:
        raise DataError(f"{source}: no hand found in any video (min score {min_score}, min run {min_frames} frames)")
    confidence = np.repeat(np.asarray(all_scores, np.float32)[:, None], 21, 1)
    save_detections(out / "detections" / "train.json",
                    Detections(np.stack(all_keypoints), confidence, keys, detector_info or {"name": "custom"}, "train"))
    with atomic_write(out / "train.txt", "w") as handle:
        handle.write("".join(f"{line}\n" for line in lines))
    with atomic_write(out / "sequences.json", "w") as handle:
        json.dump({"source": str(source), "size": size, "margin": margin, "sequences": provenance}, handle, indent=1)
    return summary


def pick(hands: list):
    from s2hand.data.mediapipe_detector import pick_right_hand

    return pick_right_hand(hands)
