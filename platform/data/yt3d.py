"""YT 3D-style sequence data (in-the-wild videos, no intrinsics: orthographic camera, 2D detections only), the
layout `s2hand data import-videos` writes:

    ROOT/{split}.txt               lines "SEQ/ffffff", SEQ a run of consecutive frames of one video
    ROOT/frames/SEQ/ffffff.jpg     square hand crops (right hands; left hands were mirrored at import)
    ROOT/detections/{split}.json   detections in crop pixels
    ROOT/sequences.json            provenance: source video, fps, crop boxes in the video (not needed to load)
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from s2hand.data.source import FrameSource, frame_number, read_split_list, require_dir, sequence_ids


class Yt3dSource(FrameSource):
    def __init__(self, root: str | Path, split: str) -> None:
        root = Path(root)
        require_dir(root / "frames", "YT 3D")
        list_path = root / f"{split}.txt"
        entries = read_split_list(list_path)
        sequence, names = sequence_ids([s for s, _ in entries])
        super().__init__(
            layout="yt3d", root=root, split=split, keys=[f"frames/{s}/{f}.jpg" for s, f in entries],
            sequence=sequence, frame=np.array([frame_number(f, list_path, i) for i, (_, f) in enumerate(entries)],
                                              dtype=np.int64),
            sequence_names=names, orthographic=True,
        )
