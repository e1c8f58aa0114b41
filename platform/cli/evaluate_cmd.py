"""`s2hand evaluate --checkpoint C --data SPEC`: predictions on an eval split and every metric its ground truth
allows, written as JSON (and logged to MLflow when tracking is configured)."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="evaluate a checkpoint on an eval split (all metrics its ground truth allows)",
        description="Predict with a training checkpoint on the evaluation split of a data spec and compute the "
        "paper's metrics: FreiHAND scores (MPJPE, AUC_J, MPVPE, AUC_V, F_5, F_15, raw and aligned), 2D error, and "
        "for videos ACC / ACC-ERR, quaternion smoothness, texture and shape S.D.")
    parser.add_argument("--checkpoint", required=True, type=Path, help="checkpoint.pt written by s2hand train")
    parser.add_argument("--data", help="spec (name or YAML) whose data section to evaluate on (default: the "
                        "checkpoint's own spec)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides of the data spec, e.g. data.root=/data/FreiHAND")
    parser.add_argument("--split", help="split name (default: data.eval_split)")
    parser.add_argument("--fps", type=float, help="frame rate for accelerations per s² (videos)")
    parser.add_argument("--out", type=Path, default=Path("scores.json"), help="output JSON (default scores.json)")
    parser.add_argument("--mlflow-run", help="log the metrics to this MLflow run id (tracking.tracking_uri needed)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    import json

    from s2hand.config import load_spec
    from s2hand.data import build_dataset
    from s2hand.inference import evaluate_predictions, ground_truth, load_trained_model, predict
    from s2hand.io.atomic import atomic_write

    model, trained_spec = load_trained_model(args.checkpoint, args.device)
    spec = load_spec(args.data, args.overrides) if args.data else trained_spec.with_overrides(args.overrides)
    split = args.split or spec.data.eval_split
    dataset = build_dataset(spec.data.model_copy(update={"image_size": trained_spec.data.image_size}), split,
                            train=False)
    predictions = predict(model, dataset)
    results = evaluate_predictions(predictions, ground_truth(dataset), args.fps, spec.data.sequence.frames,
                                   spec.data.sequence.interval)
    results["samples"] = len(dataset)
    with atomic_write(args.out) as handle:
        json.dump(results, handle, indent=1)
    scalars = {k: v for k, v in results.items() if isinstance(v, (int, float))}
    for key in sorted(scalars):
        print(f"{key:24} {scalars[key]:.5g}")
    print(f"scores written to {args.out}")
    if args.mlflow_run:
        from mlflow import MlflowClient

        client = MlflowClient(spec.tracking.tracking_uri) if spec.tracking.tracking_uri else MlflowClient()
        # one namespace per split, so evaluating a second split never overwrites the first
        for key, value in scalars.items():
            client.log_metric(args.mlflow_run, f"eval/{split}/{key}", float(value))
        import shutil
        import tempfile

        with tempfile.TemporaryDirectory() as folder:
            named = Path(folder) / f"scores.{split}.json"
            shutil.copyfile(args.out, named)
            client.log_artifact(args.mlflow_run, str(named))
    return 0
