"""`s2hand data synth`, `s2hand data import-videos`, `s2hand data import-openpose` and `s2hand detect`."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser("data", help="datasets: synthetic generation, video import, detection import",
                                 description="Dataset tools: synthetic hands in the official layouts, in-the-wild "
                                 "videos as a YT 3D-style dataset, S2HAND OpenPose detection import.")
    data.set_defaults(group_parser=data)
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    synth = sub.add_parser(
        "synth", help="render synthetic hands in FreiHAND or HO-3D layout (deterministic, resumable)",
        description="Render the hand model with random shape, pose within the joint limits, skin texture, lighting, "
        "intrinsics, procedural backgrounds and occluding objects, and write the official FreiHAND (still images) or "
        "HO-3D (videos with smooth motion) layout plus synthetic detections under OUT/detections/. Re-running the "
        "same command resumes an interrupted run.")
    synth.add_argument("--layout", required=True, choices=["freihand", "ho3d"])
    synth.add_argument("--out", required=True, type=Path, help="output directory (new, or an interrupted run's)")
    synth.add_argument("--train", type=int, default=0, help="freihand: training images")
    synth.add_argument("--eval", type=int, default=0, help="freihand: evaluation images")
    synth.add_argument("--sequences", type=int, default=0, help="ho3d: training sequences")
    synth.add_argument("--eval-sequences", type=int, default=None,
                       help="ho3d: evaluation sequences (default: a quarter of --sequences, at least 1)")
    synth.add_argument("--frames", type=int, default=0, help="ho3d: frames per sequence")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--image-size", type=int, default=224)
    synth.add_argument("--ho3d-version", type=int, choices=[2, 3], default=3, help="ho3d file naming: 2 = .png, 3 = .jpg")
    synth.add_argument("--model", default="open", help="hand model: 'open' or a directory with MANO_RIGHT.npz")
    synth.add_argument("--workers", type=int, default=0,
                       help="rendering processes (default 0 = auto: in-process for small jobs, else one per core)")
    synth.add_argument("--quiet", action="store_true", help="no progress bar")
    synth.set_defaults(func=_synth)

    videos = sub.add_parser(
        "import-videos", help="turn a folder of unlabeled videos into a YT 3D-style sequence dataset",
        description="Decode every video (or frame folder) in DIR, detect the hand with MediaPipe (optional extra), "
        "cut square hand crops along runs of frames with a detected hand, and write frames/, train.txt, "
        "detections/train.json and sequences.json (layout 'yt3d').")
    videos.add_argument("dir", type=Path, help="folder of videos (.mp4, .mov, ...) or frame folders")
    videos.add_argument("--out", required=True, type=Path, help="new dataset directory")
    videos.add_argument("--fps", type=float, default=None, help="thin videos to at most this frame rate")
    videos.add_argument("--size", type=int, default=224, help="crop size in pixels (default 224)")
    videos.add_argument("--margin", type=float, default=1.6, help="crop side / keypoint extent (default 1.6)")
    videos.add_argument("--min-score", type=float, default=0.5, help="least hand score to keep a frame")
    videos.add_argument("--min-frames", type=int, default=3, help="shortest run of frames kept as a sequence")
    videos.add_argument("--quiet", action="store_true")
    videos.set_defaults(func=_import_videos)

    openpose = sub.add_parser(
        "import-openpose", help="convert S2HAND's OpenPose detections ([peaks, values, names]) to s2hand's format",
        description="Read S2HAND's OpenPose JSON and write it in s2hand's detection format, matched to the images "
        "of a dataset split (by file name, else by order).")
    openpose.add_argument("file", type=Path, help="OpenPose detection JSON")
    openpose.add_argument("--data", required=True, type=Path, help="dataset root the detections belong to")
    openpose.add_argument("--layout", default=None, help="freihand, ho3d, stb, yt3d (default: guessed)")
    openpose.add_argument("--split", default="train")
    openpose.add_argument("--out", required=True, type=Path, help="output detection file (.json)")
    openpose.set_defaults(func=_import_openpose)

    check = sub.add_parser(
        "check", help="read every sample of a dataset split and report unreadable or inconsistent ones",
        description="Open a dataset split as training would (files, annotations, detections) and decode every "
        "sample. Without --skip-bad the first problem stops it with an error naming the file and sample index; "
        "with --skip-bad every bad sample is skipped, counted and listed.")
    check.add_argument("--data", required=True, type=Path, help="dataset root")
    check.add_argument("--layout", default=None, choices=["freihand", "ho3d", "stb", "yt3d"],
                       help="dataset layout (default: guessed from the files)")
    check.add_argument("--split", default="train")
    check.add_argument("--detections", type=Path, default=None, help="detection file (default: the layout's own)")
    check.add_argument("--skip-bad", action="store_true", help="skip, count and list bad samples instead of stopping")
    check.add_argument("--quiet", action="store_true")
    check.set_defaults(func=_check)

    detect = subparsers.add_parser(
        "detect", help="2D keypoint detections for a dataset (mediapipe or synthetic)",
        description="Run a 2D hand keypoint detector over a dataset split and write s2hand's detection file. "
        "'synthetic' projects the ground truth and adds realistic detector noise (seeded, documented in "
        "s2hand.data.synthetic_detector); 'mediapipe' runs MediaPipe Hands (pip install \"s2hand[mediapipe]\").")
    detect.add_argument("--data", required=True, type=Path, help="dataset root")
    detect.add_argument("--detector", required=True, choices=["mediapipe", "synthetic"])
    detect.add_argument("--out", required=True, type=Path, help="output detection file (.json)")
    detect.add_argument("--layout", default=None, choices=["freihand", "ho3d", "stb", "yt3d"],
                        help="dataset layout (default: guessed from the files)")
    detect.add_argument("--split", default="train", help="split to detect (default: train)")
    detect.add_argument("--seed", type=int, default=0, help="noise seed of the synthetic detector")
    detect.add_argument("--quiet", action="store_true")
    detect.set_defaults(func=_detect)


def _synth(args: argparse.Namespace) -> int:
    from s2hand.data.synth import SynthConfig, synthesize
    from s2hand.errors import S2HandError

    if args.layout == "freihand":
        if args.sequences or args.frames or args.eval_sequences:
            raise S2HandError("--sequences/--eval-sequences/--frames are for --layout ho3d; freihand takes --train/--eval")
        if args.train + args.eval <= 0:
            raise S2HandError("nothing to render: give --train N and/or --eval M")
        config = SynthConfig("freihand", seed=args.seed, train=args.train, evaluation=args.eval,
                             image_size=args.image_size, model=args.model)
    else:
        if args.train or args.eval:
            raise S2HandError("--train/--eval are for --layout freihand; ho3d takes --sequences and --frames")
        eval_sequences = max(1, args.sequences // 4) if args.eval_sequences is None else args.eval_sequences
        if args.sequences + eval_sequences <= 0 or args.frames <= 0:
            raise S2HandError("nothing to render: give --sequences S and --frames F")
        config = SynthConfig("ho3d", seed=args.seed, sequences=args.sequences, eval_sequences=eval_sequences,
                             frames=args.frames, image_size=args.image_size, ho3d_version=args.ho3d_version,
                             model=args.model)
    try:
        result = synthesize(config, args.out, progress=not args.quiet, workers=args.workers)
    except ValueError as error:
        raise S2HandError(str(error)) from error
    print(f"{args.layout} synthetic data in {result.root}: {result.rendered} images rendered, "
          f"{result.skipped} already there; detections in {result.root / 'detections'}")
    return 0


def _import_videos(args: argparse.Namespace) -> int:
    from s2hand.data.videos import import_videos

    summary = import_videos(args.dir, args.out, fps=args.fps, size=args.size, margin=args.margin,
                            min_score=args.min_score, min_frames=args.min_frames, progress=not args.quiet)
    print(f"{summary.videos} videos, {summary.frames_read} frames read -> {summary.sequences} sequences, "
          f"{summary.frames_kept} frames in {summary.root} ({summary.short_runs_dropped} runs shorter than "
          f"{args.min_frames} frames dropped; videos without a hand: {', '.join(summary.skipped_videos) or 'none'})")
    return 0


def _import_openpose(args: argparse.Namespace) -> int:
    from s2hand.data.detect import guess_layout
    from s2hand.data.detections import Detections, align, import_openpose, missing_message, save_detections
    from s2hand.data.factory import open_source
    from s2hand.errors import DataError

    source = open_source(args.layout or guess_layout(args.data), args.data, args.split, with_vertices=False)
    raw = import_openpose(args.file)
    aligned = align(raw, source.keys, args.file)
    if len(aligned.missing):
        first = int(aligned.missing[0])
        raise DataError(missing_message(args.file, len(aligned.missing), len(source), first, source.keys[first]))
    path = save_detections(args.out, Detections(aligned.keypoints, aligned.confidence, list(source.keys),
                                                raw.detector, args.split))
    print(f"{len(source)} OpenPose detections -> {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from s2hand.data.dataset import HandDataset
    from s2hand.data.detect import guess_layout
    from s2hand.data.factory import open_source

    source = open_source(args.layout or guess_layout(args.data), args.data, args.split)
    dataset = HandDataset(source, 64, detections=args.detections, require_detections=False, skip_bad=args.skip_bad)
    for index in tqdm(range(len(dataset)), desc="check", unit="img", disable=args.quiet):
        dataset.check(index)
    print(dataset.report())
    for bad in dataset.skipped:
        print(f"  sample {bad.index}: {bad.file}: {bad.reason}")
    return 1 if dataset.skipped else 0


def _detect(args: argparse.Namespace) -> int:
    from s2hand.data.detect import detect

    path = detect(args.data, args.out, args.detector, layout=args.layout, split=args.split, seed=args.seed,
                  progress=not args.quiet)
    print(f"{args.detector} detections for {args.data} ({args.split}) -> {path}")
    return 0
