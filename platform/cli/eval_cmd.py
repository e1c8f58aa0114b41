"""`s2hand score ...` and `s2hand submit ...`: benchmark scores of a prediction file, and submission checks."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

SCORE_HELP = """Score predictions against the public evaluation ground truth, as the official eval.py does.

--pred is pred.json or a zip with pred.json at its root ([xyz_list, verts_list], metres); --gt is a folder with
evaluation_xyz.json and evaluation_verts.json. Both in the benchmark's own joint order and camera convention
(FreiHAND: FreiHAND order, OpenCV; HO-3D: HO-3D order, OpenGL). Writes every score and the PCK curves to --out."""

SUBMIT_HELP = """Write a CodaLab submission from a training checkpoint (--checkpoint C --data DIR --out pred.zip), or check an
existing one (--check pred.zip). Both validate: sample count, shapes, NaN/inf, units (metres) and the camera
convention (FreiHAND: OpenCV, hand at +z; HO-3D: OpenGL, hand at -z, joints AND vertices), naming the sample index."""


def register(subparsers: argparse._SubParsersAction) -> None:
    score = subparsers.add_parser(
        "score", help="benchmark scores of a prediction file", description=SCORE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    score.add_argument("--benchmark", required=True, choices=("freihand", "ho3d"))
    score.add_argument("--pred", required=True, type=Path, metavar="PRED", help="pred.zip or pred.json")
    score.add_argument("--gt", required=True, type=Path, metavar="DIR", help="folder with evaluation_{xyz,verts}.json")
    score.add_argument("--out", type=Path, metavar="JSON", help="write all scores and PCK curves here")
    score.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    score.set_defaults(func=_score)

    submit = subparsers.add_parser(
        "submit", help="write (from a checkpoint) or check a benchmark submission zip", description=SUBMIT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    action = submit.add_mutually_exclusive_group(required=True)
    action.add_argument("--check", type=Path, metavar="PRED", help="pred.zip or pred.json to check")
    action.add_argument("--checkpoint", type=Path, metavar="CKPT",
                        help="predict the benchmark's evaluation split with this training checkpoint and write --out")
    submit.add_argument("--data", type=Path, metavar="DIR", help="with --checkpoint: the dataset root (FreiHAND or "
                        "HO-3D layout, with evaluation/ and its index)")
    submit.add_argument("--out", type=Path, metavar="ZIP", help="with --checkpoint: the submission zip to write")
    submit.add_argument("--device", default="auto", help="with --checkpoint: auto, cpu or cuda")
    submit.add_argument("--benchmark", required=True, choices=("freihand", "ho3d-v2", "ho3d-v3"))
    submit.add_argument("--count", type=int, metavar="N", help="expected samples (default: the benchmark split's)")
    submit.set_defaults(func=_submit)


def _score(args: argparse.Namespace) -> int:
    import numpy as np

    from s2hand.errors import DataError
    from s2hand.evaluation.scoring import scalar_scores, score_freihand, score_ho3d
    from s2hand.evaluation.submission import GT_XYZ, atomic_write, read_ground_truth, read_submission

    pred_xyz, pred_verts = read_submission(args.pred)
    gt_xyz, gt_verts = read_ground_truth(args.gt)
    if len(pred_xyz) != len(gt_xyz):
        raise DataError(f"{args.pred} holds {len(pred_xyz)} samples but the ground truth in {args.gt} {len(gt_xyz)}")
    for name, array in (("joints", pred_xyz), ("vertices", pred_verts)):
        if not np.isfinite(array).all():
            index = int((~np.isfinite(array)).any(axis=(1, 2)).argmax())
            raise DataError(f"{args.pred}: sample {index}: {name} contain NaN or inf")
    pred_side, gt_side = np.sign(np.median(pred_xyz[..., 2])), np.sign(np.median(gt_xyz[..., 2]))
    if pred_side != gt_side:  # every score but the Procrustes ones would be meaningless
        raise DataError(
            f"{args.pred} puts hands at {'+' if pred_side > 0 else '-'}z but {args.gt / GT_XYZ} at "
            f"{'+' if gt_side > 0 else '-'}z: predictions and ground truth must share the camera convention"
        )
    scorer = score_freihand if args.benchmark == "freihand" else score_ho3d
    scores = scorer(pred_xyz, pred_verts, gt_xyz, gt_verts, device=args.device)
    if args.out:
        payload = json.dumps({"benchmark": args.benchmark, "samples": len(gt_xyz), **scores}, indent=1)
        atomic_write(args.out, lambda f: f.write(payload.encode()))
    table = scalar_scores(scores)
    width = max(map(len, table))
    print(f"{args.benchmark}: {len(gt_xyz)} samples (mean3d in cm, auc and F-scores in [0, 1])")
    for key, value in table.items():
        print(f"  {key:<{width}}  {value:.4f}")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def _submit(args: argparse.Namespace) -> int:
    from s2hand.evaluation.submission import read_submission, validate_submission

    if args.checkpoint is not None:
        return _submit_checkpoint(args)
    xyz, verts = read_submission(args.check)
    report = validate_submission(xyz, verts, args.benchmark, args.count, source=str(args.check))
    print(
        f"{args.check}: OK for {report.benchmark}: {report.count} samples, hand span "
        f"{report.span_m[0] * 100:.1f}-{report.span_m[1] * 100:.1f} cm, joint depth "
        f"{report.depth_m[0]:+.2f} to {report.depth_m[1]:+.2f} m"
    )
    return 0


def _submit_checkpoint(args: argparse.Namespace) -> int:
    from s2hand.errors import S2HandError
    from s2hand.inference import checkpoint_submission

    if args.data is None or args.out is None:
        raise S2HandError("--checkpoint needs --data DIR (the dataset root) and --out pred.zip")
    report = checkpoint_submission(args.checkpoint, args.benchmark, args.data, args.out, count=args.count,
                                   device=args.device)
    print(f"{args.out}: {report.count} samples for {report.benchmark}, validated (hand span "
          f"{report.span_m[0] * 100:.1f}-{report.span_m[1] * 100:.1f} cm); upload it to the benchmark's CodaLab page")
    return 0
