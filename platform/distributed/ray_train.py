"""`s2hand train`: the training core under Ray Train's TorchTrainer.

Driver: validate everything that can fail cheaply (spec, hand model, dataset, tracking server) before any worker
starts; create the MLflow experiment and run up front; then TorchTrainer(...).fit(). Re-running the same command
(same spec name and storage path) resumes from the latest checkpoint and continues the same MLflow run.

Worker: build loaders for its rank, the Trainer (DDP-wrapped by Ray), resume from Ray's checkpoint if any, and
report each epoch's metrics (rank 0 attaches the checkpoint, and posts a progress event for the driver's console).
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from s2hand.config import loads_spec
from s2hand.config.spec import ExperimentSpec
from s2hand.distributed.faults import FAULT_ENV, KillAfterEpoch
from s2hand.distributed.progress import ProgressChannel, ProgressFn, post
from s2hand.errors import ConfigError, S2HandError
from s2hand.io.atomic import atomic_write
from s2hand.train.checkpoint import CHECKPOINT_NAME

if TYPE_CHECKING:
    from s2hand.tracking import TrackingHandle
    from s2hand.train.loop import Trainer

_log = logging.getLogger(__name__)
PREEMPTION_WATCHER_ENV = "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER"  # read by Ray Train's controller (Ray 2.60)

# Metrics every epoch's report carries; eval_* ones only on evaluation epochs (see Trainer.fit).
EPOCH_METRICS = frozenset({"epoch", "lr", "images_per_s", "step", "train_loss"})
EVAL_METRICS = frozenset({"eval_2d_error_px", "eval_mpjpe_cm", "eval_pa_mpjpe_cm", "eval_pa_mpvpe_cm"})


@dataclass(frozen=True)
class TrainResult:
    metrics: dict[str, float]
    checkpoint: Path | None
    run_dir: Path
    mlflow_run_id: str | None
    tracking_uri: str | None
    run_url: str | None = None  # the run's page in the MLflow UI


def run_dir_for(spec: ExperimentSpec) -> Path:
    """Ray Train's run folder (storage_path/name): its checkpoints, plus our mlflow_run_id and final/."""
    return Path(spec.distributed.storage_path).resolve() / spec.name


# --------------------------------------------------------------------------------------------- preflight


def preflight(spec: ExperimentSpec, synthetic: dict[str, int] | None = None) -> None:
    """Fail fast on the driver, before any worker starts: cheap checks first, the dataset index last."""
    from s2hand.data import build_dataset
    from s2hand.hand.model_files import load_model
    from s2hand.train.data_loading import train_batches

    _check_checkpoint_metric(spec)
    load_model(spec.hand.model)
    if spec.train.init_from is not None and not Path(spec.train.init_from).is_file():
        raise S2HandError(f"train.init_from: checkpoint not found: {spec.train.init_from}")
    if spec.tracking.enabled and spec.tracking.tracking_uri is not None:
        _check_tracking_uri(spec.tracking.tracking_uri)
    dataset = build_dataset(spec.data, spec.data.train_split, train=True, seed=spec.seed, synthetic=synthetic)
    if len(dataset) < spec.train.batch_size:
        raise S2HandError(f"the training split has {len(dataset)} samples, fewer than train.batch_size="
                          f"{spec.train.batch_size}")
    # What each worker will build: the batch must split over the workers, and (video) a sequence batch must fit.
    train_batches(spec, dataset, rank=0, world_size=spec.distributed.num_workers)


def _check_tracking_uri(uri: str) -> None:
    """An unreachable server fails in seconds here, rather than after the dataset is indexed."""
    from urllib.parse import urlparse

    if urlparse(uri).scheme in ("http", "https"):
        from s2hand.tracking.server import require_reachable

        require_reachable(uri)


def _check_checkpoint_metric(spec: ExperimentSpec) -> None:
    """Ray ranks checkpoints by this metric: it must be one every checkpointed epoch reports, else Ray logs an error
    per checkpoint and ranks it as the worst (so it may delete the checkpoint it should keep)."""
    metric, t = spec.distributed.checkpoint_metric, spec.train
    if metric is None or metric in EPOCH_METRICS:
        return
    if metric not in EVAL_METRICS:
        raise ConfigError(f"distributed.checkpoint_metric={metric!r}: not a reported metric (one of "
                          f"{sorted(EPOCH_METRICS | EVAL_METRICS)})")
    if t.eval_every == 0 or t.checkpoint_every % t.eval_every:
        raise ConfigError(f"distributed.checkpoint_metric={metric!r} needs an evaluation at every checkpoint: "
                          f"train.checkpoint_every={t.checkpoint_every} must be a multiple of "
                          f"train.eval_every={t.eval_every}")


# --------------------------------------------------------------------------------------------- the driver


def train(spec: ExperimentSpec, *, synthetic: dict[str, int] | None = None,
          tracking_root: str | os.PathLike | None = None, address: str | None = None,
          progress: ProgressFn | None = None, ray_logs: bool = False) -> TrainResult:
    """Run (or resume) a training run on Ray Train. Returns the final metrics and the checkpoint path.

    ``progress`` receives the events of ``s2hand.distributed.progress`` (the CLI prints them). ``ray_logs`` shows
    Ray's worker and controller logs on this console (only when this call starts or joins the cluster).
    """
    fault = os.environ.get(FAULT_ENV)
    KillAfterEpoch.parse(fault)  # a malformed value fails here, not in every worker
    preflight(spec, synthetic)
    run_dir = run_dir_for(spec)
    run_dir.mkdir(parents=True, exist_ok=True)
    handle, run_id = _start_tracking(spec, tracking_root, run_dir)
    _connect(spec, address, ray_logs)
    if progress is not None:
        progress({"event": "run", "name": spec.name, "run_dir": str(run_dir), "workers": spec.distributed.num_workers,
                  "tracking_uri": handle.uri if handle else None, "mlflow_run_id": run_id,
                  "run_url": _run_url(handle, run_id)})
    channel = ProgressChannel(progress) if progress is not None else None
    # The tracking URI, not the handle: unpickling a TrackingHandle imports MLflow (seconds) in every worker, and
    # only rank 0 logs.
    config = {"spec_yaml": spec.to_yaml(), "synthetic": synthetic, "tracking": handle.uri if handle else None,
              "mlflow_run_id": run_id, "run_dir": str(run_dir), "progress": channel.queue if channel else None,
              "fault": fault}
    try:
        result = _fit(spec, config, handle, run_id)
    finally:
        if channel is not None:
            channel.close()
    checkpoint = _keep_final_checkpoint(result.checkpoint, run_dir)
    return TrainResult(dict(result.metrics or {}), checkpoint, run_dir, run_id, handle.uri if handle else None,
                       _run_url(handle, run_id))


def _start_tracking(spec: ExperimentSpec, tracking_root: str | os.PathLike | None,
                    run_dir: Path) -> tuple[TrackingHandle | None, str | None]:
    """The MLflow experiment and run, created here on the driver before any worker starts (workers never race to
    create them); a run folder that remembers a run continues it."""
    from s2hand.tracking import prepare_tracking, start_run

    root = Path(tracking_root) if tracking_root else Path(spec.distributed.storage_path).parent
    handle = prepare_tracking(spec, root)
    return handle, (start_run(handle, spec, run_dir) if handle is not None else None)


def _fit(spec: ExperimentSpec, config: dict[str, Any], handle: TrackingHandle | None, run_id: str | None):
    """TorchTrainer.fit(), with the MLflow run marked by how it ended."""
    try:
        result = _torch_trainer(spec, config).fit()
    except (KeyboardInterrupt, SystemExit) as error:
        # Ray's own SIGINT handler aborts the run and then calls sys.exit(0): a Ctrl-C must not look like success.
        _finish_mlflow_run(handle, run_id, "KILLED")
        raise KeyboardInterrupt from error
    except BaseException as error:
        _finish_mlflow_run(handle, run_id, "FAILED")
        _raise_readable(error)
        raise
    # Rank 0 closes the run after its last epoch, but a run resumed when already complete trains no epoch.
    _finish_mlflow_run(handle, run_id, "FINISHED")
    return result


def _connect(spec: ExperimentSpec, address: str | None, ray_logs: bool) -> None:
    """Join the cluster at ``address`` (or distributed.address, $RAY_ADDRESS), else start a local one; a caller
    that has already called ray.init (tests, notebooks, Tune trials) keeps its own session."""
    import ray

    if ray.is_initialized():
        return
    d = spec.distributed
    address = address or d.address or os.environ.get("RAY_ADDRESS")
    quiet = {"log_to_driver": ray_logs, "logging_level": logging.INFO if ray_logs else logging.WARNING}
    if address:
        ray.init(address=address, **quiet)
    else:
        # Ray Train's preemption watcher (one more actor process per run) waits for node drains, which a one-node
        # cluster living as long as this command never has.
        os.environ.setdefault(PREEMPTION_WATCHER_ENV, "0")
        # At least what the run asks for, so that e.g. 2 workers can be tried on a 1-core machine.
        cpus = max(os.cpu_count() or 1, math.ceil(d.num_workers * d.cpus_per_worker))
        ray.init(num_cpus=cpus, include_dashboard=False, **quiet)


def _torch_trainer(spec: ExperimentSpec, config: dict[str, Any]):
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    d = spec.distributed
    resources = {"CPU": d.cpus_per_worker, **({"GPU": d.gpus_per_worker} if d.use_gpu else {})}
    return TorchTrainer(
        _train_worker,
        train_loop_config=config,
        # distributed.backend "auto" leaves Ray's choice (nccl with GPUs, gloo on CPU).
        torch_config=TorchConfig(backend=None if d.backend == "auto" else d.backend),
        scaling_config=ScalingConfig(num_workers=d.num_workers, use_gpu=d.use_gpu, resources_per_worker=resources),
        run_config=RunConfig(
            name=spec.name, storage_path=str(Path(d.storage_path).resolve()),
            checkpoint_config=CheckpointConfig(
                num_to_keep=d.keep_checkpoints, checkpoint_score_attribute=d.checkpoint_metric,
                checkpoint_score_order=d.checkpoint_mode),
            failure_config=FailureConfig(max_failures=d.max_failures)),
    )


def _finish_mlflow_run(handle: TrackingHandle | None, run_id: str | None, status: str) -> None:
    if handle is None or run_id is None:
        return
    from s2hand.tracking import finish_run

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # MLflow prints "View run" links; the CLI prints its own
            finish_run(handle, run_id, status)
    except Exception as error:  # the server went away: the training result matters more than the run's status
        _log.warning("could not mark MLflow run %s %s: %s", run_id, status, error)


def _run_url(handle: TrackingHandle | None, run_id: str | None) -> str | None:
    if handle is None or run_id is None or not handle.uri.startswith(("http://", "https://")):
        return None
    return f"{handle.uri.rstrip('/')}/#/experiments/{handle.experiment_id}/runs/{run_id}"


def _raise_readable(error: BaseException) -> None:
    """A worker that failed on bad input (an S2HandError, e.g. a corrupt sample or a diverged loss) is raised again
    as that error, so the CLI prints one readable line instead of Ray's multi-worker traceback."""
    from ray.train import WorkerGroupError

    if not isinstance(error, WorkerGroupError):
        return
    for rank, failure in sorted(error.worker_failures.items()):
        cause = getattr(failure, "_base_exc", failure)  # Ray wraps it in UserExceptionWithTraceback
        if isinstance(cause, S2HandError):
            raise type(cause)(f"worker rank {rank}: {cause}") from error


def _keep_final_checkpoint(checkpoint: Any, run_dir: Path) -> Path | None:
    """Copy the run's latest checkpoint to run_dir/final/, atomically (Ray may delete its own copy later)."""
    if checkpoint is None:
        return None
    target = run_dir / "final" / CHECKPOINT_NAME
    with checkpoint.as_directory() as directory:
        with open(Path(directory) / CHECKPOINT_NAME, "rb") as source, atomic_write(target, "wb") as handle:
            shutil.copyfileobj(source, handle)
    return target


# --------------------------------------------------------------------------------------------- the workers


def _train_worker(config: dict[str, Any]) -> None:
    """The function every Ray Train worker runs (also used by s2hand.sweeps for multi-worker trials). ``config``:

    spec_yaml      the spec, as YAML
    synthetic      sizes of the embedded synthetic data, or None
    tracking       MLflow tracking URI (or TrackingHandle), or None for no tracking; rank 0 logs
    mlflow_run_id  the run rank 0 logs to (created by the driver)
    run_dir        the Ray run folder (the fault injection reads Ray's snapshot there)
    progress       a ray.util.queue.Queue for progress events; optional
    fault          S2HAND_FAULT_INJECT's value (test-only); optional
    """
    import ray.train

    spec = loads_spec(config["spec_yaml"])
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    local_dir = _fresh_dir(scratch_dir(Path(config["run_dir"]), rank))
    try:
        progress = config.get("progress")
        fault = KillAfterEpoch.parse(config.get("fault"))
        report = _RayReport(rank, progress, fault, Path(config["run_dir"]))
        seeds = _EpochSeed(spec.seed, rank)
        trainer = _build_trainer(spec, config, rank, world, local_dir, [report, seeds])
        restored = _restore(trainer)
        if rank == 0:
            post(progress, {"event": "start", "epoch": trainer.state.epoch, "epochs": spec.train.epochs,
                            "world_size": world, "restored": restored, "time": time.time()})
        seeds.begin(trainer.state.epoch)
        report.begin()
        trainer.fit()
    finally:
        shutil.rmtree(local_dir, ignore_errors=True)


def scratch_dir(run_dir: Path, rank: int) -> Path:
    """The worker's scratch folder: the Trainer writes its checkpoint here, and Ray copies it into the run folder
    when rank 0 reports it. Named after the run and rank rather than random, so a worker restarted after a SIGKILL
    (whose `finally` never ran) clears what the killed one left instead of leaking a checkpoint per failure."""
    digest = hashlib.sha1(str(run_dir).encode()).hexdigest()[:10]
    return Path(tempfile.gettempdir()) / f"s2hand-{digest}-rank{rank}"


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _build_trainer(spec: ExperimentSpec, config: dict[str, Any], rank: int, world: int, local_dir: Path,
                   callbacks: list) -> Trainer:
    import ray.train.torch

    from s2hand.train.data_loading import build_loaders
    from s2hand.train.loop import Trainer

    train_batches, eval_batches = build_loaders(spec, rank=rank, world_size=world, synthetic=config["synthetic"],
                                                with_eval=rank == 0)  # only rank 0 evaluates and logs
    if rank == 0 and config["tracking"] is not None:
        from s2hand.tracking import MlflowLogger

        callbacks = [MlflowLogger(config["tracking"], config["mlflow_run_id"]), *callbacks]

    def wrap(model):
        if world == 1:
            return model
        # Stages freeze or skip branches (e.g. pretrain_3d never runs the 2D branch): DDP must tolerate that.
        return ray.train.torch.prepare_model(model, move_to_device=False,
                                             parallel_strategy_kwargs={"find_unused_parameters": True})

    return Trainer(spec, local_dir, train_batches, eval_batches, device=ray.train.torch.get_device(),
                   callbacks=callbacks, wrap_model=wrap, is_main=rank == 0)


def _restore(trainer: Trainer) -> bool:
    """Resume exactly from Ray's latest registered checkpoint (after a failure, or a re-run of the command)."""
    import ray.train

    restored = ray.train.get_checkpoint()
    if restored is None:
        return False
    with restored.as_directory() as directory:
        trainer.resume(Path(directory) / CHECKPOINT_NAME)
    return True


class _EpochSeed:
    """Reseeds torch, numpy and random from (seed, epoch, rank) before every epoch.

    Why: a checkpoint carries rank 0's RNG state only (rank 0 writes it), so after a restart every rank would go on
    from rank 0's stream rather than its own, and EfficientNet's stochastic depth draws from it: a resumed run would
    drift from an uninterrupted one. Seeding each epoch from (seed, epoch, rank) makes an epoch's random stream
    independent of history (exact resume at epoch boundaries on every rank), and gives ranks different masks.
    """

    def __init__(self, seed: int, rank: int) -> None:
        self.seed = seed
        self.rank = rank

    def begin(self, epoch: int) -> None:
        import random

        import numpy as np
        import torch

        value = int(np.random.SeedSequence([self.seed, epoch, self.rank]).generate_state(1)[0])
        torch.manual_seed(value)
        np.random.seed(value)
        random.seed(value)

    def on_step(self, trainer: Trainer, terms: dict[str, float], total: float) -> None:
        pass

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float], checkpoint: Path | None) -> None:
        self.begin(trainer.state.epoch)  # the epoch about to start (the checkpoint was saved before this)


class _RayReport:
    """Reports each epoch to Ray Train; rank 0 attaches its checkpoint (a barrier: every rank reports) and posts
    the epoch's progress event. Also the place the test-only fault injection fires."""

    def __init__(self, rank: int, progress: Any, fault: KillAfterEpoch | None, run_dir: Path) -> None:
        self.rank = rank
        self.progress = progress
        self.fault = fault
        self.run_dir = run_dir
        self._loss_sum = 0.0
        self._steps = 0
        self._first_step_posted = False
        self._epoch_started = time.perf_counter()

    def begin(self) -> None:
        """The first epoch's clock starts when training does, not when the model was built."""
        self._epoch_started = time.perf_counter()

    def on_step(self, trainer: Trainer, terms: dict[str, float], total: float) -> None:
        self._loss_sum += total
        self._steps += 1
        if self.rank == 0 and not self._first_step_posted:
            self._first_step_posted = True
            post(self.progress, {"event": "first_step", "time": time.time()})

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float], checkpoint: Path | None) -> None:
        import ray.train

        report = {key: float(value) for key, value in metrics.items()}
        report["step"] = float(trainer.state.step)
        if self._steps:  # this rank's mean loss over the epoch (rank 0's is the one Ray keeps)
            report["train_loss"] = self._loss_sum / self._steps
        if self.rank == 0 and checkpoint is not None:
            # The Trainer's folder holds only checkpoint.pt (written atomically), so Ray can copy it as it is.
            ray.train.report(report, checkpoint=ray.train.Checkpoint.from_directory(checkpoint.parent),
                             checkpoint_dir_name=f"epoch_{trainer.state.epoch:05d}")
        else:
            ray.train.report(report, checkpoint=None)
        if self.rank == 0:
            self._post_epoch(trainer, report)
        self._loss_sum, self._steps, self._epoch_started = 0.0, 0, time.perf_counter()
        if self.fault is not None:
            self.fault.after_report(self.rank, trainer.state.epoch, self.run_dir)

    def _post_epoch(self, trainer: Trainer, report: dict[str, float]) -> None:
        metrics = {key: value for key, value in report.items() if key not in ("epoch", "step", "train_loss")}
        post(self.progress, {"event": "epoch", "epoch": trainer.state.epoch, "epochs": trainer.spec.train.epochs,
                             "step": trainer.state.step, "train_loss": report.get("train_loss"),
                             "seconds": time.perf_counter() - self._epoch_started, "metrics": metrics,
                             "time": time.time()})


__all__ = ["TrainResult", "train", "preflight", "run_dir_for", "scratch_dir", "EPOCH_METRICS", "EVAL_METRICS"]

