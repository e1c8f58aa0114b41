"""`s2hand train SPEC [overrides]`: distributed training on Ray Train, tracked in MLflow."""
from __future__ import annotations

import argparse
from pathlib import Path

DESCRIPTION = """\
Train one stage of S2HAND / S2HAND(V) from a spec (a jobs/ name or a YAML path) with dotted overrides, on
Ray Train (distributed.num_workers data-parallel workers), tracked in MLflow. Everything that can fail cheaply
(spec keys, hand model, dataset root, tracking server) is checked before any worker starts.

Resume: the run lives in DISTRIBUTED.STORAGE_PATH/NAME (NAME = the spec's `name`). Re-running the same command
(same name and storage path) resumes from the latest checkpoint there, with the epoch counter, optimiser, schedule
and random state exactly where they were, and continues the same MLflow run (its id is kept in
<run folder>/mlflow_run_id). With distributed.max_failures=N a failed worker group is restarted from the latest
checkpoint up to N times within one command. Use another `name=` to start afresh.

Addresses: with no --address, distributed.address or $RAY_ADDRESS, a local Ray cluster is started for this
command and stopped with it. --address auto joins a cluster started with `ray start --head` on this machine;
--address HOST:6379 joins a remote one, whose nodes must see the same storage path.
Tracking: tracking.tracking_uri=http://HOST:PORT uses that MLflow server; null starts (or reuses) the embedded
one under --tracking-root (stop it with `s2hand mlflow stop --root DIR`).
"""

EXAMPLES = """\
examples:
  s2hand train s2hand/pretrain_2d distributed.num_workers=2
  s2hand train s2hand/finetune train.init_from=runs/ray/s2hand-pretrain_3d/final/checkpoint.pt
  s2hand train s2hand/finetune --address auto tracking.tracking_uri=http://127.0.0.1:5000
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train", help="train a spec on Ray Train (local cluster by default), tracked in MLflow; re-run to resume",
        description=DESCRIPTION, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spec", help="spec name in jobs/ (e.g. s2hand/finetune) or a YAML file")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. train.lr=1e-4 distributed.num_workers=2")
    parser.add_argument("--address", help="Ray cluster to join: auto or HOST:PORT "
                        "(default: distributed.address, else $RAY_ADDRESS, else a local cluster for this command)")
    parser.add_argument("--tracking-root", type=Path,
                        help="folder of the embedded MLflow server (default: the parent of distributed.storage_path)")
    parser.add_argument("--ray-logs", action="store_true",
                        help="show Ray's own worker and controller logs on the console (hidden by default)")
    parser.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    from s2hand.config import load_spec

    spec = load_spec(args.spec, args.overrides)  # before importing torch and Ray: a bad key fails in a second

    from s2hand.distributed.progress import ConsolePrinter
    from s2hand.distributed.ray_train import train

    result = train(spec, tracking_root=args.tracking_root, address=args.address, progress=ConsolePrinter(),
                   ray_logs=args.ray_logs)
    final = "  ".join(f"{key} {value:.4g}" for key, value in sorted(result.metrics.items())
                      if key.startswith("eval_") or key in ("epoch", "train_loss"))
    print(f"done: {final}" if final else "done")
    print(f"run folder: {result.run_dir}")
    print(f"checkpoint: {result.checkpoint}")
    if result.mlflow_run_id:
        print(f"mlflow run: {result.run_url or result.mlflow_run_id + ' on ' + str(result.tracking_uri)}")
    return 0
