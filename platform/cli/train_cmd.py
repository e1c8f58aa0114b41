"""`s2hand train SPEC [overrides]`: distributed training on Ray Train, tracked in MLflow."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a spec on Ray Train (local cluster by default), tracked in MLflow",
        description="Train one stage of S2HAND / S2HAND(V) from a spec (a jobs/ name or a YAML path) with dotted "
        "overrides. Re-running the same command resumes from the latest checkpoint and continues the same MLflow "
        "run. Connects to a running Ray cluster with --address or RAY_ADDRESS, otherwise starts a local one.")
    parser.add_argument("spec", help="spec name in jobs/ (e.g. s2hand/finetune) or a YAML file")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=1e-4 distributed.num_workers=2")
    parser.add_argument("--address", help="Ray cluster address (default: $RAY_ADDRESS, else a local cluster)")
    parser.add_argument("--tracking-root", type=Path,
                        help="folder of the embedded MLflow server (default: beside distributed.storage_path)")
    parser.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from s2hand.config import load_spec
    from s2hand.distributed.ray_train import train

    spec = load_spec(args.spec, args.overrides)
    result = train(spec, tracking_root=args.tracking_root, address=args.address)
    print(f"run directory : {result.run_dir}")
    print(f"checkpoint    : {result.checkpoint}")
    if result.mlflow_run_id:
        print(f"mlflow        : {result.tracking_uri} (run {result.mlflow_run_id})")
    for key in sorted(k for k in result.metrics if k.startswith("eval_") or k in ("epoch", "step")):
        print(f"{key:14}: {result.metrics[key]:.4f}")
    return 0
