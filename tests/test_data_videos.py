"""import-videos (frame folders and a real encoded video, with a stand-in detector) and the MediaPipe guard."""
from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from s2hand.config.spec import DataSpec
from s2hand.data import build_dataset
from s2hand.data.detections import load_detections
from s2hand.data.synth import load_records
from s2hand.data.transforms import apply_to_points, crop_to
from s2hand.data.videos import import_videos, iter_frames
from s2hand.errors import DataError, S2HandError
from test_data_fixtures import scratch, synthetic_ho3d


@dataclass
class Hand:
    keypoints: np.ndarray
    score: float
    right: bool


class ReplayDetector:
    """Stands in for MediaPipe: returns the generator's true keypoints of each frame in decoding order."""

    def __init__(self, keypoints, hidden=(), right=True):
        self.keypoints, self.hidden, self.right, self.calls = keypoints, set(hidden), right, 0

    def __call__(self, image):
        k = self.calls
        self.calls += 1
        if k % len(self.keypoints) in self.hidden:
            return []
        return [Hand(self.keypoints[k % len(self.keypoints)], 0.9, self.right)]


def _frame_folder(target, sequence):
    target.mkdir(parents=True)
    for f in range(10):
        shutil.copy(synthetic_ho3d() / f"train/S{sequence:04d}/rgb/{f:04d}.jpg", target / f"img_{f:03d}.jpg")


def test_frame_folders_become_yt3d_sequences():
    records = load_records(synthetic_ho3d(), "train")
    videos = scratch("videos")
    _frame_folder(videos / "clip A", 0)
    _frame_folder(videos / "clipB", 1)
    out = scratch("yt") / "data"
    detectors = iter([ReplayDetector(records["keypoints"][:10], right=False),
                      ReplayDetector(records["keypoints"][10:], hidden={3, 4, 5})])
    current = {"d": next(detectors)}

    def detector(image):  # one stand-in per video, in the order the videos are read
        if current["d"].calls == 10:
            current["d"] = next(detectors)
        return current["d"](image)

    summary = import_videos(videos, out, detector=detector, detector_info={"name": "replay"}, size=64,
                            progress=False)
    assert (summary.videos, summary.frames_read, summary.sequences, summary.frames_kept) == (2, 20, 3, 17)
    lines = (out / "train.txt").read_text().split()
    assert lines[0] == "clip_A_000/000000" and lines[10] == "clipB_000/000000" and lines[13] == "clipB_001/000006"
    provenance = json.loads((out / "sequences.json").read_text())["sequences"]
    assert provenance["clip_A_000"]["mirrored"] and not provenance["clipB_001"]["mirrored"]
    det = load_detections(out / "detections/train.json")
    assert det.images[13] == "frames/clipB_001/000006.jpg" and det.detector == {"name": "replay"}
    cx, cy, side = provenance["clipB_001"]["boxes"][0]
    np.testing.assert_allclose(det.keypoints[13], apply_to_points(crop_to((cx, cy), side, 64), records["keypoints"][16]),
                               atol=0.01)
    cx, cy, side = provenance["clip_A_000"]["boxes"][2]
    expected = apply_to_points(crop_to((cx, cy), side, 64), records["keypoints"][2])
    expected[:, 0] = 64 - expected[:, 0]  # a left hand is stored mirrored
    np.testing.assert_allclose(det.keypoints[2], expected, atol=0.01)
    dataset = build_dataset(DataSpec(layout="yt3d", root=out, augment={"rotation": False}), "train")
    assert len(dataset) == 17 and bool(dataset[0]["orthographic"]) and list(np.unique(dataset.sequence_ids)) == [0, 1, 2]
    with pytest.raises(DataError, match="not empty"):
        import_videos(videos, out, detector=detector, progress=False)


def test_encoded_video_file_is_decoded_and_thinned():
    av = pytest.importorskip("av")
    records = load_records(synthetic_ho3d(), "train")
    videos = scratch("mp4")
    frames = [np.asarray(image) for _, image in iter_frames(_folder(videos / "src"))]
    with av.open(str(videos / "clip.mp4"), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 96, "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    shutil.rmtree(videos / "src")
    decoded = list(iter_frames(videos / "clip.mp4"))
    assert len(decoded) == 10 and decoded[0][1].shape == (96, 96, 3)
    assert len(list(iter_frames(videos / "clip.mp4", fps=5))) == 5
    out = scratch("mp4-out") / "data"
    summary = import_videos(videos, out, detector=ReplayDetector(records["keypoints"][:10]), size=64, progress=False)
    assert summary.sequences == 1 and summary.frames_kept == 10


def _folder(path):
    _frame_folder(path, 0)
    return path


def test_mediapipe_missing_gives_the_install_hint(monkeypatch):
    from s2hand.data.mediapipe_detector import INSTALL_HINT, MediaPipeHands, require_mediapipe

    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import fails as if not installed
    with pytest.raises(S2HandError, match=r'pip install "s2hand\[mediapipe\]"'):
        require_mediapipe()
    with pytest.raises(S2HandError, match="mediapipe"):
        MediaPipeHands()
    assert "0.10.14" in INSTALL_HINT


def test_no_videos_is_an_error():
    with pytest.raises(DataError, match="no videos"):
        import_videos(scratch("empty"), scratch("empty-out") / "x", detector=lambda image: [], progress=False)
