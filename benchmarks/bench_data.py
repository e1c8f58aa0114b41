"""Data pipeline throughput on this machine. Prints one JSON object:

- synthetic generation (FreiHAND layout, 224 px, JPEG q90, ground truth and detections included), images/s,
  in-process (torch single-threaded) and with one worker process per core; `steady` excludes the one-time set-up
  (hand model, background bank, worker start), measured as the rate between the first and the last chunk;
- loader (decode + crop/resize + rotation/scale/shift augmentation + colour jitter + collate), images/s through a
  DataLoader with 0, 1 and 2 workers, batch 32, after one warm-up batch.

    python benchmarks/bench_data.py [--images 512] [--layout freihand|ho3d] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from s2hand.config.spec import DataSpec
from s2hand.data import build_dataset
from s2hand.data.synth import SynthConfig, synthesize


def synth_rate(config: SynthConfig, root: Path, workers: int) -> dict:
    stamps: list[float] = []
    start = time.perf_counter()
    synthesize(config, root, progress=False, workers=workers, on_chunk=lambda *_: stamps.append(time.perf_counter()))
    total = time.perf_counter() - start
    images = config.train + config.evaluation + (config.sequences + config.eval_sequences) * config.frames
    steady = (len(stamps) - 1) * config.chunk / (stamps[-1] - stamps[0]) if len(stamps) > 2 else None
    return {"workers": workers, "images": images, "seconds": round(total, 2), "images_per_s": round(images / total, 1),
            "steady_images_per_s": round(steady, 1) if steady else None}


def loader_rate(root: Path, layout: str, workers: int, batches: int, batch_size: int = 32) -> dict:
    spec = DataSpec(layout=layout, root=root, num_workers=workers,
                    augment={"rotation": True, "scale_jitter": 0.1, "crop_jitter": 0.05, "color_jitter": 0.3})
    dataset = build_dataset(spec, "train")
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                         drop_last=True, persistent_workers=False)
    seen, start = 0, None
    while seen < batches * batch_size:
        for batch in loader:
            if start is None:  # the first batch pays for worker start-up
                start = time.perf_counter()
                continue
            seen += len(batch["image"])
            if seen >= batches * batch_size:
                break
    elapsed = time.perf_counter() - start
    return {"workers": workers, "images": seen, "images_per_s": round(seen / elapsed, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=512, help="images to synthesise (and to load)")
    parser.add_argument("--layout", choices=["freihand", "ho3d"], default="freihand")
    parser.add_argument("--out", type=Path, default=None, help="scratch directory (default: a temporary one)")
    parser.add_argument("--loader-batches", type=int, default=12)
    args = parser.parse_args()
    scratch = args.out or Path(tempfile.mkdtemp(prefix="bench-data-"))
    if args.layout == "freihand":
        config = SynthConfig("freihand", seed=0, train=args.images)
    else:
        config = SynthConfig("ho3d", seed=0, sequences=max(args.images // 64, 1), eval_sequences=0, frames=64)
    report = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "layout": args.layout,
              "image_size": config.image_size, "synthesis": [], "loader": []}
    for workers in (1, min(os.cpu_count() or 1, 2)):
        root = scratch / f"synth-w{workers}"
        shutil.rmtree(root, ignore_errors=True)
        report["synthesis"].append(synth_rate(config, root, workers))
    for workers in (0, 1, 2):
        report["loader"].append(loader_rate(scratch / "synth-w1", args.layout, workers, args.loader_batches))
    print(json.dumps(report, indent=1))
    if args.out is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
