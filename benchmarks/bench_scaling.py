"""Scaling of `s2hand train` on Ray Train (CPU workers, gloo): throughput with 1 and 2 workers, and what Ray adds
to the start of a run.

    .venv/bin/python benchmarks/bench_scaling.py [--steps 6] [--image-size 64] [--batch 8] [--cpus 2]

Prints one JSON object:
  images_per_s            {"in_process": .., "ray_1_worker": .., "ray_2_workers": ..}: global training images/s
                          of the second (warm) epoch, as rank 0 measures it (data loading included, evaluation not)
  start_to_first_step_s   {"in_process": .., "ray_1_worker": .., "ray_2_workers": ..}: from the call (train(),
                          or building loaders + Trainer in this process) to the end of the first optimiser step
  ray_start_overhead_s    ray_1_worker - in_process start times: worker processes, imports, process group, Ray's
                          controller and checkpoint set-up (the cluster already running)
  ray_init_s              starting the local cluster itself (paid once per `s2hand train` without --address)

Tiny spec (pretrain_3d, one-stack 16-channel hourglass, synthetic data), MLflow off, so only Ray's share is
measured. In-process training is pinned to one torch thread, like a Ray worker holding one CPU.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

SPEC = "s2hand/pretrain_3d"


def tiny_overrides(args: argparse.Namespace, storage: Path, data_root: Path) -> list[str]:
    return [
        f"data.image_size={args.image_size}", f"train.batch_size={args.batch}", "train.epochs=2",
        f"train.max_steps_per_epoch={args.steps}", "train.eval_every=0", "data.num_workers=0",
        "model.hourglass.channels=16", "model.hourglass.depth=2", "model.hourglass.stacks=1",
        "tracking.enabled=false", f"data.root={data_root}", f"distributed.storage_path={storage}",
    ]


def run_on_ray(overrides: list[str], workers: int, name: str) -> dict[str, float]:
    from s2hand.config import load_spec
    from s2hand.distributed.ray_train import train

    events: list[dict] = []
    spec = load_spec(SPEC, [*overrides, f"distributed.num_workers={workers}", f"name={name}"])
    started = time.time()
    train(spec, progress=events.append)
    first_step = next(e["time"] for e in events if e["event"] == "first_step")
    last_epoch = [e for e in events if e["event"] == "epoch"][-1]
    return {"start_to_first_step_s": first_step - started, "images_per_s": last_epoch["metrics"]["images_per_s"]}


def run_in_process(overrides: list[str], run_dir: Path) -> dict[str, float]:
    import torch

    from s2hand.config import load_spec
    from s2hand.train.data_loading import build_loaders
    from s2hand.train.loop import Trainer

    class FirstStep:
        at: float | None = None

        def on_step(self, trainer, terms, total) -> None:
            self.at = self.at or time.time()

        def on_epoch_end(self, trainer, metrics, checkpoint) -> None:
            pass

    torch.set_num_threads(1)
    spec = load_spec(SPEC, [*overrides, "name=in-process"])
    first = FirstStep()
    started = time.time()
    train_batches, eval_batches = build_loaders(spec)
    trainer = Trainer(spec, run_dir, train_batches, eval_batches, callbacks=[first])
    trainer.fit()
    return {"start_to_first_step_s": first.at - started, "images_per_s": trainer.state.history[-1]["images_per_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6, help="optimiser steps per epoch")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8, help="global batch (divisible by 2)")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster")
    args = parser.parse_args()

    import ray

    from s2hand.data.embedded import embedded_root

    data_root = embedded_root("synthetic-freihand", train=args.steps * args.batch, evaluation=8, progress=False)
    work = Path(tempfile.mkdtemp(prefix="s2hand-bench-scaling-"))
    overrides = tiny_overrides(args, work / "ray", data_root)
    results = {"in_process": run_in_process(overrides, work / "in-process")}

    started = time.time()
    ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    ray_init_s = time.time() - started
    try:
        results["ray_1_worker"] = run_on_ray(overrides, 1, "one")
        results["ray_2_workers"] = run_on_ray(overrides, 2, "two")
    finally:
        ray.shutdown()

    report = {
        "spec": SPEC, "image_size": args.image_size, "global_batch": args.batch, "steps_per_epoch": args.steps,
        "cpu_count": os.cpu_count(), "load_average_1m": round(os.getloadavg()[0], 2),
        "images_per_s": {key: round(value["images_per_s"], 2) for key, value in results.items()},
        "start_to_first_step_s": {key: round(value["start_to_first_step_s"], 2) for key, value in results.items()},
        "ray_start_overhead_s": round(results["ray_1_worker"]["start_to_first_step_s"]
                                      - results["in_process"]["start_to_first_step_s"], 2),
        "ray_init_s": round(ray_init_s, 2),
    }
    json.dump(report, sys.stdout)
    print()


if __name__ == "__main__":
    main()
