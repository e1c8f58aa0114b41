"""Read an experiment's runs from MLflow (read only) and result files into plain records and pandas frames.

    with open_store(tracking_uri=None, root="runs") as uri:     # the embedded server of a run root, or any URI
        experiment = load_experiment(uri, "s2hand")

A ``Run`` is one MLflow run (or one set of result files given on the command line): tags, params, latest metrics,
its ``scores*.json`` / ``predictions.npz`` / ``reconstructions.npz`` artifacts, and for a sweep's parent run its
``sweep.yaml``. ``Experiment.history`` holds the metric histories the training figures plot.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence
from urllib.parse import unquote, urlparse

import pandas as pd
import yaml

from s2hand.dashboards.metrics import Metric, lookup
from s2hand.dashboards.results import (
    PREDICTIONS_FILE,
    RECONSTRUCTIONS_FILE,
    Reconstructions,
    SequencePredictions,
    read_predictions,
    read_reconstructions,
    read_scores,
    scores_split,
)
from s2hand.errors import S2HandError

PARENT_TAG = "mlflow.parentRunId"  # = s2hand.tracking.mlflow_logger.PARENT_RUN_TAG (not imported: it pulls in specs)
SWEEP_FILE = "sweep.yaml"
SPEC_FILE = "spec.yaml"
HISTORY_PREFIXES = ("train/", "epoch/", "eval_")  # plus "lr"; system/ metrics are for the MLflow UI
HISTORY_EXCLUDE = frozenset({"train/skipped_steps"})
HISTORY_COLUMNS = ["run_id", "key", "step", "value"]


@dataclass
class Run:
    """One run, from MLflow or from result files (``source`` is then the file's path)."""

    id: str
    name: str
    label: str = ""  # unique among the loaded runs; what legends and tables show
    source: str = "mlflow"
    status: str = ""
    start_time: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    scores: dict[str | None, dict] = field(default_factory=dict)  # split (None: the evaluation split) -> scores
    predictions: SequencePredictions | None = None
    reconstructions: Reconstructions | None = None
    sweep: dict | None = None  # a sweep parent's sweep.yaml
    spec_yaml: str | None = None  # the run's spec.yaml, when loaded with specs=True

    @property
    def parent_id(self) -> str | None:
        return self.tags.get(PARENT_TAG)

    @property
    def dataset(self) -> str:
        return self.tags.get("dataset", "")

    def value(self, metric: Metric, split: str | None = None) -> float | None:
        return lookup(metric, self.scores.get(split), self.metrics, split)


@dataclass
class Experiment:
    name: str
    uri: str
    runs: list[Run]
    history: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HISTORY_COLUMNS))
    source: str = ""  # where the runs came from, for people (an embedded server's URI does not outlive it)

    @property
    def origin(self) -> str:
        return self.source or self.uri

    def run(self, run_id: str) -> Run | None:
        return next((r for r in self.runs if r.id == run_id), None)

    def sweeps(self) -> list[tuple[Run, list[Run]]]:
        """(parent, children) for every loaded run that other loaded runs nest under."""
        found = []
        for parent in self.runs:
            children = [r for r in self.runs if r.parent_id == parent.id]
            if children:
                found.append((parent, children))
        return found

    def leaf_runs(self) -> list[Run]:
        """Runs that are no sweep parent: the ones that trained and were evaluated."""
        parents = {r.parent_id for r in self.runs}
        return [r for r in self.runs if r.id not in parents]


# --------------------------------------------------------------------------------------------- the store


@contextlib.contextmanager
def open_store(tracking_uri: str | None = None, root: str | os.PathLike | None = None, *,
               on_start: Callable[[str], None] | None = None) -> Iterator[str]:
    """The tracking URI to read from, checked: a given URI (an HTTP server must answer, a database file must
    exist), else the embedded server of ``root`` (default: $S2HAND_RUNS_DIR or ./runs), started for the duration
    if it is not running (``on_start`` hears about it: that takes a while) and stopped again afterwards."""
    from s2hand.tracking.server import default_root, ensure_server, find_server, server_dir, stop_server

    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")  # a dashboard should fail in seconds
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if tracking_uri:
        _check_uri(tracking_uri)
        yield tracking_uri
        return
    root = Path(root).expanduser().resolve() if root else default_root()
    running = find_server(root)
    if running is not None:
        yield running.uri
        return
    if not (server_dir(root) / "mlflow.db").is_file():
        raise S2HandError(f"no MLflow store under {root} (no {server_dir(root) / 'mlflow.db'}): check the run "
                          "root (--root, $S2HAND_RUNS_DIR) or give --tracking-uri")
    if on_start is not None:
        on_start(f"starting the MLflow server of {root} ...")
    info, started = ensure_server(root)
    try:
        yield info.uri
    finally:
        if started:
            stop_server(root)


def _check_uri(uri: str) -> None:
    """Fail in seconds with one line: MLflow's own client would retry an unreachable server for minutes."""
    from s2hand.tracking.server import require_reachable

    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        try:
            require_reachable(uri, timeout=5.0)  # 401/403 count as an answer: a server behind authentication
        except S2HandError:
            raise S2HandError(f"no MLflow tracking server answers at {uri} (GET /health); start it or fix "
                              "--tracking-uri") from None
    elif parsed.scheme == "sqlite":
        # sqlite:////abs/path or sqlite:///rel/path; MLflow would silently create an empty database
        path = Path(unquote(uri.split("sqlite:///", 1)[-1]))
        if not path.is_file():
            raise S2HandError(f"MLflow database {path} (from {uri}) does not exist")
    elif parsed.scheme in ("", "file"):
        path = Path(unquote(parsed.path if parsed.scheme else uri))
        if not path.is_dir():
            raise S2HandError(f"MLflow store {path} (from {uri}) does not exist")


def load_experiment(uri: str, name: str, run_ids: Sequence[str] | None = None, *, artifacts: bool = True,
                    history: bool = True, specs: bool = False) -> Experiment:
    """The active runs of experiment ``name`` (only ``run_ids`` and their sweep children, if given), with their
    result artifacts, metric histories and (``specs``) spec.yaml. MLflow errors become one readable S2HandError."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(tracking_uri=uri)
    try:
        experiment = client.get_experiment_by_name(name)
        if experiment is None or experiment.lifecycle_stage != "active":
            known = sorted(e.name for e in client.search_experiments())
            raise S2HandError(f"no experiment {name!r} on {uri}; it has: {', '.join(known) or 'none'}")
        runs = [_record(r) for r in _search_runs(client, experiment.experiment_id)]
        runs = _select(runs, run_ids, name) if run_ids else runs
        label_runs(runs)
        if artifacts:
            with tempfile.TemporaryDirectory(prefix="s2hand-dashboard-") as scratch:
                for run in runs:
                    _attach_artifacts(client, run, Path(scratch) / run.id, specs)
        frame = _histories(client, runs) if history else pd.DataFrame(columns=HISTORY_COLUMNS)
    except MlflowException as error:
        raise S2HandError(f"MLflow at {uri}: {error.message.splitlines()[0]}") from None
    return Experiment(name, uri, runs, frame)


def _search_runs(client: Any, experiment_id: str) -> list:
    from mlflow.entities import ViewType

    found, token = [], None
    while True:
        page = client.search_runs([experiment_id], run_view_type=ViewType.ACTIVE_ONLY, max_results=1000,
                                  order_by=["attributes.start_time ASC"], page_token=token)
        found += list(page)
        token = page.token
        if not token:
            return found


def _record(run: Any) -> Run:
    info, data = run.info, run.data
    return Run(id=info.run_id, name=info.run_name or info.run_id[:8], status=info.status,
               start_time=info.start_time or 0, tags=dict(data.tags), params=dict(data.params),
               metrics=dict(data.metrics))


def _select(runs: list[Run], wanted: Sequence[str], experiment: str) -> list[Run]:
    """Runs named by id or unique id prefix, plus the children of those that are sweep parents."""
    chosen: set[str] = set()
    for key in wanted:
        matches = [r.id for r in runs if r.id.startswith(key)]
        if len(matches) != 1:
            problem = "matches no run" if not matches else f"is ambiguous ({len(matches)} runs)"
            raise S2HandError(f"run id {key!r} {problem} in experiment {experiment!r}")
        chosen.add(matches[0])
    chosen |= {r.id for r in runs if r.parent_id in chosen}
    return [r for r in runs if r.id in chosen]


def label_runs(runs: list[Run]) -> None:
    """Give every run a unique label: its name, with a short id where names repeat."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
    for run in runs:
        run.label = run.name if counts[run.name] == 1 or run.source != "mlflow" else f"{run.name} ({run.id[:6]})"


def _attach_artifacts(client: Any, run: Run, scratch: Path, specs: bool) -> None:
    wanted = {PREDICTIONS_FILE, RECONSTRUCTIONS_FILE, SWEEP_FILE} | ({SPEC_FILE} if specs else set())
    names = {Path(a.path).name for a in client.list_artifacts(run.id) if not a.is_dir}
    for name in sorted(names):
        is_scores, split = scores_split(name)
        if not (is_scores or name in wanted):
            continue
        local = Path(client.download_artifacts(run.id, name, str(_mkdir(scratch))))
        if is_scores:
            run.scores[split] = read_scores(local)
        elif name == PREDICTIONS_FILE:
            run.predictions = read_predictions(local)
        elif name == RECONSTRUCTIONS_FILE:
            run.reconstructions = read_reconstructions(local)
        elif name == SPEC_FILE:
            run.spec_yaml = local.read_text()
        else:
            sweep = yaml.safe_load(local.read_text())
            run.sweep = sweep if isinstance(sweep, dict) else None


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _histories(client: Any, runs: list[Run]) -> pd.DataFrame:
    rows = []
    for run in runs:
        for key in sorted(run.metrics):
            if key in HISTORY_EXCLUDE or not (key == "lr" or key.startswith(HISTORY_PREFIXES)):
                continue
            rows += [(run.id, key, m.step, m.value) for m in client.get_metric_history(run.id, key)]
    frame = pd.DataFrame(rows, columns=HISTORY_COLUMNS)
    return frame.sort_values(["run_id", "key", "step"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------- result files


def attach_files(experiment: Experiment, label: str, *, scores: str | os.PathLike | None = None,
                 predictions: str | os.PathLike | None = None,
                 reconstructions: str | os.PathLike | None = None) -> Run:
    """Attach result files to the loaded run whose label, name or id (prefix) is ``label``, or add a run for them.
    A scores file's split comes from its name (``scores.train.json`` -> train)."""
    run = next((r for r in experiment.runs if label in (r.label, r.name) or (len(label) >= 6 and
                                                                             r.id.startswith(label))), None)
    if run is None:
        source = str(scores or predictions or reconstructions)
        run = Run(id=f"file:{label}", name=label, label=label, source=source, status="FILE")
        experiment.runs.append(run)
    if scores is not None:
        is_scores, split = scores_split(str(scores))
        run.scores[split if is_scores else None] = read_scores(scores)
    if predictions is not None:
        run.predictions = read_predictions(predictions)
    if reconstructions is not None:
        run.reconstructions = read_reconstructions(reconstructions)
    return run


__all__ = ["Run", "Experiment", "open_store", "load_experiment", "attach_files", "label_runs", "PARENT_TAG"]
