"""`s2hand train`: the training core under Ray Train's TorchTrainer.

Driver: validate everything that can fail cheaply (spec, hand model, dataset, tracking server) before any worker
starts; create the MLflow experiment and run up front; then TorchTrainer(...).fit(). Re-running the same command
(same spec name and storage path) resumes from the latest checkpoint and continues the same MLflow run.

Worker: build loaders for its rank, the Trainer (DDP-wrapped by Ray), resume from Ray's checkpoint if any, and
report each epoch's metrics (rank 0 attaches the checkpoint).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from s2hand.config import loads_spec
from s2hand.config.spec import ExperimentSpec
from s2hand.errors import S2HandError
from s2hand.train.checkpoint import CHECKPOINT_NAME


@dataclass(frozen=True)
class TrainResult:
    metrics: dict[str, float]
    checkpoint: Path | None
    run_dir: Path
    mlflow_run_id: str | None
    tracking_uri: str | None


def run_dir_for(spec: ExperimentSpec) -> Path:
    return Path(spec.distributed.storage_path) / spec.name


def preflight(spec: ExperimentSpec, synthetic: dict[str, int] | None = None) -> None:
    """Fail fast on the driver: a missing hand model, dataset or init checkpoint, before any worker starts."""
    from s2hand.data import build_dataset
    from s2hand.hand.model_files import load_model

    load_model(spec.hand.model)
    if spec.train.init_from is not None and not Path(spec.train.init_from).is_file():
        raise S2HandError(f"train.init_from: checkpoint not found: {spec.train.init_from}")
    dataset = build_dataset(spec.data, spec.data.train_split, train=True, seed=spec.seed, synthetic=synthetic)
    if len(dataset) < spec.train.batch_size:
        raise S2HandError(f"the training split has {len(dataset)} samples, fewer than train.batch_size="
                          f"{spec.train.batch_size}")


def train(spec: ExperimentSpec, *, synthetic: dict[str, int] | None = None, tracking_root: str | os.PathLike | None = None,
          address: str | None = None) -> TrainResult:
    """Run (or resume) a training run on Ray Train. Returns the final metrics and the checkpoint path."""
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from s2hand.tracking import prepare_tracking, start_run

    preflight(spec, synthetic)
    run_dir = run_dir_for(spec)
    run_dir.mkdir(parents=True, exist_ok=True)
    handle = prepare_tracking(spec, Path(tracking_root) if tracking_root else Path(spec.distributed.storage_path).parent)
    mlflow_run = start_run(handle, spec, run_dir) if handle is not None else None

    d = spec.distributed
    address = address or d.address or os.environ.get("RAY_ADDRESS")
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=True,
                 **({} if address else {"num_cpus": max(os.cpu_count() or 1, int(d.num_workers * d.cpus_per_worker))}))
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"spec_yaml": spec.to_yaml(), "synthetic": synthetic, "tracking": handle,
                           "mlflow_run_id": mlflow_run, "run_dir": str(run_dir)},
        scaling_config=ScalingConfig(
            num_workers=d.num_workers, use_gpu=d.use_gpu,
            resources_per_worker={"CPU": d.cpus_per_worker, **({"GPU": d.gpus_per_worker} if d.use_gpu else {})}),
        run_config=RunConfig(
            name=spec.name, storage_path=str(Path(d.storage_path).resolve()),
            checkpoint_config=CheckpointConfig(
                num_to_keep=d.keep_checkpoints, checkpoint_score_attribute=d.checkpoint_metric,
                checkpoint_score_order=d.checkpoint_mode),
            failure_config=FailureConfig(max_failures=d.max_failures)),
    )
    result = trainer.fit()
    checkpoint = None
    if result.checkpoint is not None:
        with result.checkpoint.as_directory() as directory:
            checkpoint = run_dir / "final" / CHECKPOINT_NAME
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(directory) / CHECKPOINT_NAME, checkpoint)
    return TrainResult(dict(result.metrics or {}), checkpoint, run_dir, mlflow_run, handle.uri if handle else None)


def _train_worker(config: dict[str, Any]) -> None:
    import ray.train
    import ray.train.torch

    from s2hand.train.data_loading import build_loaders
    from s2hand.train.loop import Trainer

    spec = loads_spec(config["spec_yaml"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    train_batches, eval_batches = build_loaders(spec, rank=rank, world_size=world, synthetic=config["synthetic"],
                                                with_eval=rank == 0)
    callbacks: list = [_RayReport(rank)]
    if rank == 0 and config["tracking"] is not None:
        from s2hand.tracking import MlflowLogger

        callbacks.insert(0, MlflowLogger(config["tracking"], config["mlflow_run_id"]))
    local_dir = Path(tempfile.mkdtemp(prefix=f"s2hand-rank{rank}-"))

    def wrap(model):
        if world == 1:
            return model
        return ray.train.torch.prepare_model(model, move_to_device=False,
                                             parallel_strategy_kwargs={"find_unused_parameters": True})

    trainer = Trainer(spec, local_dir, train_batches, eval_batches, device=device, callbacks=callbacks,
                      wrap_model=wrap, is_main=rank == 0)
    restored = ray.train.get_checkpoint()
    if restored is not None:
        with restored.as_directory() as directory:
            trainer.resume(Path(directory) / CHECKPOINT_NAME)
    trainer.fit()


class _RayReport:
    """Reports each epoch to Ray Train; rank 0 attaches its checkpoint (a barrier: every rank reports)."""

    def __init__(self, rank: int) -> None:
        self.rank = rank

    def on_step(self, trainer, terms, total) -> None:
        pass

    def on_epoch_end(self, trainer, metrics, checkpoint) -> None:
        import ray.train

        report = {k: float(v) for k, v in metrics.items()}
        report["step"] = float(trainer.state.step)
        if self.rank == 0 and checkpoint is not None:
            with tempfile.TemporaryDirectory() as directory:
                shutil.copyfile(checkpoint, Path(directory) / CHECKPOINT_NAME)
                ray.train.report(report, checkpoint=ray.train.Checkpoint.from_directory(directory),
                                 checkpoint_dir_name=f"epoch_{trainer.state.epoch:05d}")
        else:
            ray.train.report(report, checkpoint=None)
