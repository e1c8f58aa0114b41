"""MLflow runs for s2hand: set-up on the driver, a Trainer callback on rank 0, parent/child runs for sweeps.

    handle = prepare_tracking(spec, root)              # driver, once: server, database and experiment
    run_id = start_run(handle, spec, run_dir)          # driver: creates the run, or continues it on resume
    logger = MlflowLogger(handle, run_id)              # any process (Ray worker): only rank 0 logs
    Trainer(spec, run_dir, ..., callbacks=[logger]).fit()

Everything goes through ``MlflowClient`` with explicit run ids, never the fluent ``mlflow.start_run`` state, so
several runs in one process (sweep trials) cannot write into each other.
"""
from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Literal, Mapping
from urllib.parse import urlparse

import numpy as np
import yaml
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.validation import (
    MAX_METRICS_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)

from s2hand.config.spec import ExperimentSpec
from s2hand.errors import S2HandError
from s2hand.io.atomic import atomic_write
from s2hand.tracking.provenance import git_commit, provenance_tags, versions
from s2hand.tracking.server import START_TIMEOUT_S, ServerInfo, ensure_server, require_reachable

if TYPE_CHECKING:
    from s2hand.train.loop import Trainer

_log = logging.getLogger(__name__)

RUN_ID_FILE = "mlflow_run_id"  # in the run directory: a resumed run continues the same MLflow run
SPEC_ARTIFACT = "spec.yaml"
PARENT_RUN_TAG = "mlflow.parentRunId"  # what the MLflow UI nests child runs by
CheckpointMode = Literal["reference", "artifact", "none"]
ImageFn = Callable[["Trainer"], "np.ndarray | None"]
_TRUNCATED = "...[truncated; see spec.yaml]"


@dataclass(frozen=True)
class TrackingHandle:
    """Where runs go: a tracking URI and an experiment that already exists. Plain data, so it pickles to Ray."""

    uri: str
    experiment_id: str
    experiment_name: str
    server: ServerInfo | None = None  # the embedded server, when tracking.tracking_uri is null

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.uri)


# --------------------------------------------------------------------------------------------- set-up


def prepare_tracking(spec: ExperimentSpec, root: str | os.PathLike, *,
                     timeout: float = START_TIMEOUT_S) -> TrackingHandle | None:
    """Resolve the tracking server and create the experiment, once, on the driver; None if tracking is off.

    With ``tracking.tracking_uri`` null the embedded server under ``root`` is started or reused. Doing this before
    any worker starts matters: the database and experiment then exist, so workers never race to create them.
    Raises S2HandError naming the URI when the server cannot be reached (within seconds, not MLflow's minutes).
    """
    tracking = spec.tracking
    if not tracking.enabled:
        return None
    bound_http_retries()
    server = None
    if tracking.tracking_uri is None:
        server, _ = ensure_server(root, timeout=timeout)
        uri = server.uri
    else:
        uri = tracking.tracking_uri
        if urlparse(uri).scheme in ("http", "https"):
            require_reachable(uri)
    artifact_location = None
    if urlparse(uri).scheme not in ("http", "https", "databricks"):
        # A database URI given directly: MLflow would put artifacts in ./mlruns of whatever the cwd is.
        artifact_location = (Path(root).resolve() / "mlflow" / "artifacts" / tracking.experiment).as_uri()
    client = MlflowClient(tracking_uri=uri)
    try:
        experiment_id = _get_or_create_experiment(client, tracking.experiment, artifact_location, uri)
    except MlflowException as error:
        raise S2HandError(f"MLflow at {uri}: {error.message}") from None
    return TrackingHandle(uri, experiment_id, tracking.experiment, server)


def bound_http_retries(max_retries: int = 3, timeout_s: int = 30) -> None:
    """Cap MLflow's HTTP retries in this process unless the user set them: its defaults (7 retries with backoff,
    120 s timeouts) suit rate-limited hosted servers, and would stall a training step for minutes here."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", str(max_retries))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(timeout_s))


def _get_or_create_experiment(client: MlflowClient, name: str, artifact_location: str | None, uri: str) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_location)
        except MlflowException as error:
            if error.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            experiment = client.get_experiment_by_name(name)  # another driver created it meanwhile
    if experiment.lifecycle_stage == "deleted":
        raise S2HandError(f"MLflow experiment {name!r} on {uri} is deleted: restore it (`mlflow experiments restore "
                          f"--experiment-id {experiment.experiment_id}`) or set another tracking.experiment")
    return experiment.experiment_id


# --------------------------------------------------------------------------------------------- runs


def start_run(handle: TrackingHandle, spec: ExperimentSpec, run_dir: str | os.PathLike | None = None, *,
              name: str | None = None, parent_run_id: str | None = None,
              tags: Mapping[str, str] | None = None) -> str:
    """Create the MLflow run of ``spec`` and return its id; if ``run_dir`` remembers a run, continue that one.

    A new run gets the spec as params (dotted keys) and as ``spec.yaml``, plus provenance tags. A continued run is
    set RUNNING again; params and tags it lacks are added, and values that changed since are kept beside the
    original ones (``resumed.*`` tags, ``spec.resumed-N.yaml``) since MLflow params cannot be overwritten.
    """
    client = handle.client()
    run_tags = {**provenance_tags(spec), **(tags or {})}
    if parent_run_id is not None:
        run_tags[PARENT_RUN_TAG] = parent_run_id
    run_id = _remembered_run(client, run_dir)
    if run_id is None:
        run_id = client.create_run(handle.experiment_id, run_name=name or spec.name,
                                   tags=_clip_tags(run_tags)).info.run_id
        log_params(client, run_id, spec_params(spec))
        client.log_text(run_id, spec.to_yaml(), SPEC_ARTIFACT)
        _remember(run_dir, run_id)
    else:
        _continue_run(client, run_id, spec, run_tags)
    return run_id


def start_parent_run(handle: TrackingHandle, name: str, *, run_dir: str | os.PathLike | None = None,
                     params: Mapping[str, Any] | None = None, tags: Mapping[str, str] | None = None,
                     spec_yaml: str | None = None) -> str:
    """The run a sweep's trials nest under (e.g. params = the search space, spec_yaml = the sweep file)."""
    client = handle.client()
    run_id = _remembered_run(client, run_dir)
    if run_id is not None:
        client.update_run(run_id, status="RUNNING")
        return run_id
    commit, _ = git_commit()
    base = {f"{key}_version": value for key, value in versions().items()} | {"git_commit": commit or "unknown"}
    run_id = client.create_run(handle.experiment_id, run_name=name,
                               tags=_clip_tags({**base, **(tags or {})})).info.run_id
    log_params(client, run_id, params or {})
    if spec_yaml is not None:
        client.log_text(run_id, spec_yaml, "sweep.yaml")
    _remember(run_dir, run_id)
    return run_id


def start_child_run(handle: TrackingHandle, parent_run_id: str, spec: ExperimentSpec,
                    run_dir: str | os.PathLike | None = None, *, name: str | None = None,
                    tags: Mapping[str, str] | None = None) -> str:
    """A trial's run under ``parent_run_id`` (tagged ``mlflow.parentRunId``); resumes like ``start_run``."""
    return start_run(handle, spec, run_dir, name=name, parent_run_id=parent_run_id, tags=tags)


def finish_run(tracking: TrackingHandle | str, run_id: str, status: str = "FINISHED") -> None:
    """Mark a run FINISHED, FAILED or KILLED."""
    MlflowClient(tracking_uri=_uri(tracking)).set_terminated(run_id, status=status)


def read_run_id(run_dir: str | os.PathLike) -> str | None:
    """The MLflow run id remembered in ``run_dir``, if any."""
    try:
        return (Path(run_dir) / RUN_ID_FILE).read_text().strip() or None
    except OSError:
        return None


def spec_params(spec: ExperimentSpec) -> dict[str, str]:
    """Dotted spec keys -> values written as in ``s2hand config show --flat``, clipped to MLflow's length limit."""
    params = {}
    for key, value in spec.flatten().items():
        text = yaml.safe_dump(value, default_flow_style=True, width=10**6).strip().removesuffix("...").strip()
        params[key] = _clip(text, MAX_PARAM_VAL_LENGTH)
    return params


def log_params(client: MlflowClient, run_id: str, params: Mapping[str, Any]) -> None:
    """Log params in batches of MLflow's per-request limit (100)."""
    items = [Param(key, _clip(str(value), MAX_PARAM_VAL_LENGTH)) for key, value in params.items()]
    for chunk in _chunks(items, MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, params=chunk)


def _remembered_run(client: MlflowClient, run_dir: str | os.PathLike | None) -> str | None:
    run_id = read_run_id(run_dir) if run_dir is not None else None
    if run_id is None:
        return None
    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        if error.error_code != "RESOURCE_DOES_NOT_EXIST":  # e.g. the server is down: do not fork a new run
            raise
        run = None
    if run is None or run.info.lifecycle_stage != "active":
        _log.warning("%s names MLflow run %s, which this server does not have (or it is deleted): starting a new "
                     "run", Path(run_dir) / RUN_ID_FILE, run_id)
        return None
    return run_id


def _remember(run_dir: str | os.PathLike | None, run_id: str) -> None:
    if run_dir is not None:
        with atomic_write(Path(run_dir) / RUN_ID_FILE) as handle:
            handle.write(run_id + "\n")


def _continue_run(client: MlflowClient, run_id: str, spec: ExperimentSpec, tags: Mapping[str, str]) -> None:
    data = client.get_run(run_id).data
    resumes = int(data.tags.get("resumes", "0")) + 1
    params = spec_params(spec)
    changed = sorted(key for key, value in params.items() if key in data.params and data.params[key] != value)
    new_tags = {"resumes": str(resumes)}
    for key, value in tags.items():
        if key not in data.tags:
            new_tags[key] = value
        elif data.tags[key] != value and not key.startswith("mlflow."):  # e.g. a new git commit since
            new_tags[f"resumed.{key}"] = value
    if changed:
        new_tags["resumed.params_changed"] = ",".join(changed)
        client.log_text(run_id, spec.to_yaml(), f"spec.resumed-{resumes}.yaml")
    log_params(client, run_id, {key: value for key, value in params.items() if key not in data.params})
    for chunk in _chunks(list(_clip_tags(new_tags).items()), MAX_PARAMS_TAGS_PER_BATCH):
        client.log_batch(run_id, tags=[RunTag(key, value) for key, value in chunk])
    client.update_run(run_id, status="RUNNING")


# --------------------------------------------------------------------------------------------- the callback


class MlflowLogger:
    """Trainer callback: rank 0 logs loss terms, epoch and evaluation metrics, images, checkpoints and system
    metrics to one run. Other ranks do nothing. Logging errors are warned about, not raised (``strict=False``):
    a tracking hiccup must not kill a training run.

    ``image_fn(trainer)`` returns an overlay (H×W×3; see ``sample_overlay``) every ``log_images_every`` steps.
    ``checkpoints``: "reference" tags the checkpoint's path, "artifact" uploads it, "none" skips it.
    ``log_every`` / ``log_images_every`` default to the spec's ``tracking`` section.
    """

    def __init__(self, tracking: TrackingHandle | str, run_id: str, *, log_every: int | None = None,
                 log_images_every: int | None = None, image_fn: ImageFn | None = None,
                 checkpoints: CheckpointMode = "reference", system_metrics: bool = True,
                 system_metrics_interval: float = 10.0, strict: bool = False) -> None:
        if checkpoints not in ("reference", "artifact", "none"):
            raise S2HandError(f"checkpoints={checkpoints!r}: use 'reference', 'artifact' or 'none'")
        bound_http_retries()
        self.uri = _uri(tracking)
        self.run_id = run_id
        self.client = MlflowClient(tracking_uri=self.uri)
        self.log_every = log_every
        self.log_images_every = log_images_every
        self.image_fn = image_fn
        self.checkpoints = checkpoints
        self.system_metrics = system_metrics
        self.system_metrics_interval = system_metrics_interval
        self.strict = strict
        self.failures = 0
        self._epoch_sums: dict[str, float] = {}
        self._epoch_steps = 0
        self._monitor: Any = None
        self._closed = False

    # -------------------------------------------------------------------- Callback protocol
    def on_step(self, trainer: Trainer, terms: dict[str, float], total: float) -> None:
        if not trainer.is_main or self._closed:
            return
        self._start_system_metrics()
        values = {**terms, "total": total}
        for key, value in values.items():
            self._epoch_sums[key] = self._epoch_sums.get(key, 0.0) + value
        self._epoch_steps += 1
        step, tracking = trainer.state.step, trainer.spec.tracking
        if step % (self.log_every or tracking.log_every) == 0:
            self.log_metrics({f"train/{key}": value for key, value in values.items()}, step)
        images_every = tracking.log_images_every if self.log_images_every is None else self.log_images_every
        if self.image_fn is not None and images_every and step % images_every == 0:
            image = self._safely(self.image_fn, trainer)
            if image is not None:
                self.log_image(image, "overlay", step)

    def on_epoch_end(self, trainer: Trainer, metrics: dict[str, float], checkpoint: Path | None) -> None:
        if not trainer.is_main or self._closed:
            return
        self._start_system_metrics()
        logged = dict(metrics)  # epoch, lr, images_per_s, eval_*: the names Ray Tune sees too
        if self._epoch_steps:
            logged.update({f"epoch/{key}": total / self._epoch_steps for key, total in self._epoch_sums.items()})
        logged["train/skipped_steps"] = float(getattr(trainer.state, "skipped_steps", 0))
        self.log_metrics(logged, trainer.state.step)
        self._epoch_sums, self._epoch_steps = {}, 0
        if checkpoint is not None:
            self.log_checkpoint(checkpoint, trainer.state.epoch)
        if trainer.state.epoch >= trainer.spec.train.epochs:
            self.close()

    # -------------------------------------------------------------------- direct logging
    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        """One ``log_batch`` request per 1,000 metrics."""
        now = int(time.time() * 1000)
        entries = [Metric(key, float(value), now, step) for key, value in metrics.items()]
        for chunk in _chunks(entries, MAX_METRICS_PER_BATCH):
            self._safely(self.client.log_batch, self.run_id, metrics=chunk)

    def log_image(self, image: Any, name: str, step: int) -> None:
        """A step-indexed image (the UI's image grid): H×W, H×W×C or C×H×W; uint8, or float in [0, 1]."""
        self._safely(self.client.log_image, self.run_id, _as_hwc(image), key=name, step=step)

    def log_checkpoint(self, path: str | os.PathLike, epoch: int) -> None:
        path = Path(path).resolve()
        tags = {"checkpoint_epoch": str(epoch)}
        if self.checkpoints == "reference":
            tags["checkpoint"] = str(path)
        elif self.checkpoints == "artifact":
            self._safely(self.client.log_artifact, self.run_id, str(path), "checkpoints")
            tags["checkpoint"] = f"artifact:checkpoints/{path.name}"
        else:
            return
        self._safely(self.client.log_batch, self.run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def close(self, status: str = "FINISHED") -> None:
        """Stop system metrics and mark the run; called by itself after the last epoch. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._monitor is not None:
            self._safely(self._monitor.finish)
            self._monitor = None
        self._safely(self.client.set_terminated, self.run_id, status)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_monitor": None}  # a sampler thread does not travel (e.g. to a Ray worker)

    def __enter__(self) -> MlflowLogger:
        return self

    def __exit__(self, kind: type | None, *_: object) -> None:
        self.close("FINISHED" if kind is None else ("KILLED" if issubclass(kind, KeyboardInterrupt) else "FAILED"))

    # -------------------------------------------------------------------- internals
    def _start_system_metrics(self) -> None:
        if self.system_metrics and self._monitor is None:
            self._monitor = self._safely(_system_monitor, self.uri, self.run_id, self.system_metrics_interval)
            if self._monitor is None:
                self.system_metrics = False  # could not start: do not try at every step
            else:
                self._monitor.start()

    def _safely(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as error:  # MlflowException, requests' OSErrors, a failing image hook...
            if self.strict:
                raise
            self.failures += 1
            if self.failures == 1 or self.failures % 100 == 0:
                _log.warning("MLflow logging to %s (run %s) failed (%d so far): %s", self.uri, self.run_id,
                             self.failures, error)
            return None


def sample_overlay(image: Any, rendered: Any = None, keypoints: Any = None,
                   radius: int = 2) -> np.ndarray:
    """Side by side: input | render | input with 2D keypoints (21×2 pixels, FreiHAND order) and bones; uint8."""
    from PIL import Image, ImageDraw

    base = _to_uint8(_as_hwc(image))
    panels = [base]
    if rendered is not None:
        panels.append(_to_uint8(_as_hwc(rendered)))
    if keypoints is not None:
        from s2hand.hand.joints import FREIHAND_PARENTS

        canvas = Image.fromarray(base)
        draw = ImageDraw.Draw(canvas)
        points = [tuple(map(float, p[:2])) for p in np.asarray(keypoints)]
        colours = [(255, 255, 255)] + [c for c in ((255, 64, 64), (255, 200, 0), (64, 220, 64), (0, 180, 255),
                                                   (200, 80, 255)) for _ in range(4)]
        for joint, parent in enumerate(FREIHAND_PARENTS[: len(points)]):
            if parent >= 0:
                draw.line([points[parent], points[joint]], fill=colours[joint], width=1)
        for (x, y), colour in zip(points, colours):
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
        panels.append(np.asarray(canvas))
    height = max(panel.shape[0] for panel in panels)
    panels = [np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0))) for p in panels]
    return np.concatenate(panels, axis=1)


# --------------------------------------------------------------------------------------------- helpers


def _system_monitor(uri: str, run_id: str, interval: float) -> Any:
    """MLflow's system metrics monitor (needs psutil), else a small sampler of load, memory and GPU memory."""
    try:
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor
    except ImportError:
        return _FallbackSystemMetrics(uri, run_id, interval)
    return SystemMetricsMonitor(run_id, sampling_interval=interval, resume_logging=True, tracking_uri=uri)


class _FallbackSystemMetrics:
    """Without psutil: 1-min load, memory in use (Linux /proc) and CUDA memory if torch already uses it."""

    def __init__(self, uri: str, run_id: str, interval: float) -> None:
        self.client, self.run_id, self.interval = MlflowClient(tracking_uri=uri), run_id, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="s2hand-system-metrics", daemon=True)
        self._step = 0

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def sample(self) -> dict[str, float]:
        values = {"system/load_1m": os.getloadavg()[0]}
        try:
            info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
            total, available = (float(info[k].split()[0]) for k in ("MemTotal", "MemAvailable"))
            values["system/system_memory_usage_percentage"] = 100 * (1 - available / total)
        except (OSError, KeyError, ValueError):
            pass
        cuda = getattr(sys.modules.get("torch"), "cuda", None)  # never import torch just for this
        try:
            if cuda is not None and cuda.is_initialized():
                for index in range(cuda.device_count()):
                    values[f"system/gpu_{index}_memory_usage_megabytes"] = cuda.memory_allocated(index) / 1e6
        except Exception:  # torch half-imported by another thread, or a CUDA error: skip the GPU this time
            pass
        return values

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            now = int(time.time() * 1000)
            try:
                self.client.log_batch(self.run_id, metrics=[Metric(k, v, now, self._step)
                                                            for k, v in self.sample().items()])
            except Exception as error:  # the run ended or the server went away: stop quietly
                _log.debug("system metrics stopped: %s", error)
                return
            self._step += 1


def _uri(tracking: TrackingHandle | str) -> str:
    return tracking.uri if isinstance(tracking, TrackingHandle) else tracking


def _as_hwc(image: Any) -> np.ndarray:
    if hasattr(image, "detach"):  # a torch tensor
        image = image.detach().float().cpu().numpy()
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = array.transpose(1, 2, 0)
    if array.dtype.kind == "f":
        array = np.clip(array, 0.0, 1.0)
    return array


def _to_uint8(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind == "f":
        array = (array * 255).round()
    array = array.astype(np.uint8)
    if array.ndim == 2:
        array = array[..., None]
    return np.repeat(array, 3, axis=2) if array.shape[2] == 1 else array[..., :3]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - len(_TRUNCATED)] + _TRUNCATED


def _clip_tags(tags: Mapping[str, str]) -> dict[str, str]:
    return {key: _clip(str(value), MAX_TAG_VAL_LENGTH) for key, value in tags.items()}


def _chunks(items: list, size: int) -> Iterable[list]:
    return (items[i : i + size] for i in range(0, len(items), size))


__all__ = [
    "TrackingHandle", "prepare_tracking", "bound_http_retries", "start_run", "start_parent_run",
    "start_child_run", "finish_run", "read_run_id", "spec_params", "log_params", "MlflowLogger",
    "sample_overlay", "RUN_ID_FILE", "SPEC_ARTIFACT", "PARENT_RUN_TAG",
]
