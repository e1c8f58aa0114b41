"""Data pipeline throughput on this machine. Prints one JSON object:

- synthetic generation (FreiHAND layout, 224 px, JPEG q90, ground truth and detections included), images/s,
  in-process (torch single-threaded) and with one worker process per core; `steady` excludes the one-time set-up
  (hand model, background bank, worker start) and the split files, measured as the rate between the first and the
  last chunk; `finalize_s` is the time from the last chunk to the end (annotation files, detections);
- profile: one process, single-threaded, the synthesis of each chunk split into stages (scene sampling,
  background, hand model + shading, rasterisation, compositing, ground truth, image files, marker), CPU and wall
  ms per image, minimum over rounds; CPU time is what the process itself used, so it moves less than wall time
  when other work shares the machine (`load_average` says how busy it was);
- loader (decode + crop/resize + rotation/scale/shift augmentation + colour jitter + collate), images/s through a
  DataLoader with 0, 1 and 2 workers, batch 32, after one warm-up batch.

    python benchmarks/bench_data.py [--images 512] [--layout freihand|ho3d] [--out DIR] [--workers 1,2]
                                    [--profile-chunks 8] [--no-loader]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from s2hand.config.spec import DataSpec
from s2hand.data import build_dataset
from s2hand.data.synth import SynthConfig, synthesize


def synth_rate(config: SynthConfig, root: Path, workers: int) -> dict:
    stamps: list[float] = []
    start = time.perf_counter()
    synthesize(config, root, progress=False, workers=workers, on_chunk=lambda *_: stamps.append(time.perf_counter()))
    end = time.perf_counter()
    total = end - start
    images = config.train + config.evaluation + (config.sequences + config.eval_sequences) * config.frames
    steady = (len(stamps) - 1) * config.chunk / (stamps[-1] - stamps[0]) if len(stamps) > 2 else None
    return {"workers": workers, "images": images, "seconds": round(total, 2), "images_per_s": round(images / total, 1),
            "steady_images_per_s": round(steady, 1) if steady else None,
            "finalize_s": round(end - stamps[-1], 2) if stamps else None}


def synth_profile(config: SynthConfig, root: Path, chunks: int, rounds: int = 3) -> dict:
    """Stage times of run_chunk in this process, torch single-threaded: per stage the minimum over `rounds`
    rounds of `chunks` chunks (after one warm-up chunk), in ms per image."""
    from s2hand.data.synth.generate import Synthesizer
    from s2hand.data.synth.render import Timer

    shutil.rmtree(root, ignore_errors=True)
    config = replace(config, train=config.chunk * (1 + chunks * rounds), evaluation=0)
    synthesizer = Synthesizer(config, root)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        synthesizer._check_manifest()
        synthesizer.run_chunk("train", 0)
        cpu: dict[str, float] = {}
        wall: dict[str, float] = {}
        totals = []
        for r in range(rounds):
            synthesizer.timer = Timer()
            start = time.process_time()
            for c in range(chunks):
                synthesizer.run_chunk("train", 1 + r * chunks + c)
            totals.append((time.process_time() - start) / (chunks * config.chunk) * 1e3)
            for name in synthesizer.timer.cpu:
                per_image = 1e3 / (chunks * config.chunk)
                cpu[name] = min(cpu.get(name, math.inf), synthesizer.timer.cpu[name] * per_image)
                wall[name] = min(wall.get(name, math.inf), synthesizer.timer.wall[name] * per_image)
    finally:
        torch.set_num_threads(previous)
        shutil.rmtree(root, ignore_errors=True)
    return {
        "images_per_round": chunks * config.chunk,
        "rounds": rounds,
        "cpu_ms_per_image": {k: round(v, 3) for k, v in cpu.items()},
        "wall_ms_per_image": {k: round(v, 3) for k, v in wall.items()},
        "cpu_ms_per_image_total": round(min(totals), 2),
        "images_per_s_per_core_from_cpu": round(1e3 / min(totals), 1),
    }


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
    parser.add_argument("--no-loader", action="store_true", help="skip the loader measurement")
    parser.add_argument("--workers", default=f"1,{min(os.cpu_count() or 1, 2)}",
                        help="comma-separated worker counts to synthesise with (default 1 and min(cores, 2))")
    parser.add_argument("--profile-chunks", type=int, default=4, help="chunks per profile round (0: no profile)")
    args = parser.parse_args()
    scratch = args.out or Path(tempfile.mkdtemp(prefix="bench-data-"))
    if args.layout == "freihand":
        config = SynthConfig("freihand", seed=0, train=args.images)
    else:
        config = SynthConfig("ho3d", seed=0, sequences=max(args.images // 64, 1), eval_sequences=0, frames=64)
    report = {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "layout": args.layout,
              "image_size": config.image_size, "load_average": [round(x, 2) for x in os.getloadavg()],
              "synthesis": [], "loader": []}
    if args.profile_chunks > 0 and args.layout == "freihand":
        report["profile"] = synth_profile(config, scratch / "profile", args.profile_chunks)
    for workers in (int(w) for w in args.workers.split(",")):
        root = scratch / f"synth-w{workers}"
        shutil.rmtree(root, ignore_errors=True)
        report["synthesis"].append(synth_rate(config, root, workers))
    if not args.no_loader:
        first = scratch / f"synth-w{args.workers.split(',')[0]}"
        for workers in (0, 1, 2):
            report["loader"].append(loader_rate(first, args.layout, workers, args.loader_batches))
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(report, indent=1))
    if args.out is None:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
