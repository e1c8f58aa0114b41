"""Ray Train end to end, with real processes on one local Ray cluster for the module (no dashboard).

Tiny sizes throughout (64 px images, 8 images per step, 2 steps per epoch, a one-stack 16-channel hourglass, a
40-image synthetic dataset), so a run's cost is almost all process start-up: Ray's actors and each worker's
imports, 20-40 s per worker group on this 2-core machine. To keep the module near 3 minutes the three runs overlap:
the uninterrupted 2-worker reference (a thread of this driver) and the killed-then-rerun CLI (subprocesses) start
in the background while the fault-tolerance run goes in the foreground. The cluster therefore has 5 logical CPUs
(2 + 2 + 1 workers) on 2 cores: Ray's CPUs are scheduling tokens, and the results are deterministic regardless.
The reference and the fault-tolerance run share the seed and spec apart from name, max_failures and keep_checkpoints.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from s2hand.config import load_spec
from s2hand.distributed.faults import FAULT_ENV, latest_registered
from s2hand.distributed.progress import ConsolePrinter
from s2hand.train.checkpoint import CHECKPOINT_NAME, load_checkpoint

pytestmark = pytest.mark.slow

SPEC = "s2hand/pretrain_3d"
TINY = [
    "data.image_size=64", "train.batch_size=8", "train.epochs=2", "train.max_steps_per_epoch=2",
    "train.eval_every=1", "data.num_workers=0", "model.hourglass.channels=16", "model.hourglass.depth=2",
    "model.hourglass.stacks=1", "tracking.log_every=1", "seed=3",
]
FAIL_FAST_S = 10.0
RUN_TIMEOUT_S = 420.0


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cluster():
    """One Ray session for the module; the CLI tests join it with --address instead of starting their own.
    As `s2hand train` does for the local clusters it starts, the preemption watcher (an actor per run) is off."""
    import ray

    from s2hand.distributed.ray_train import PREEMPTION_WATCHER_ENV

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(PREEMPTION_WATCHER_ENV, "0")
        # 5 CPUs: the three runs overlap (see the module docstring). Worker errors still reach the driver.
        ray.init(num_cpus=5, include_dashboard=False, log_to_driver=False)
        yield ray.get_runtime_context().gcs_address
        ray.shutdown()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Ray storage (root/ray) and the MLflow database (root/mlflow.db; created once by the first driver).

    A sqlite URI rather than the embedded server: the server's start-up costs half a minute on this machine, and
    its start/reuse is tested with the tracking module; the runs here go through the same MlflowClient calls."""
    return tmp_path_factory.mktemp("distributed")


@pytest.fixture(scope="module")
def data_root():
    """A 32 + 8 image synthetic FreiHAND-layout dataset (in the session's S2HAND_CACHE), given as data.root."""
    from s2hand.data.embedded import embedded_root

    return embedded_root("synthetic-freihand", train=32, evaluation=8, progress=False)


def _overrides(root: Path, data_root: Path, name: str, *extra: str) -> list[str]:
    return [*TINY, f"data.root={data_root}", f"distributed.storage_path={root / 'ray'}", f"name={name}",
            f"tracking.tracking_uri={_tracking_uri(root)}", *extra]


def _tracking_uri(root: Path) -> str:
    return f"sqlite:///{root / 'mlflow.db'}"


def _spec(root: Path, data_root: Path, name: str, *extra: str):
    return load_spec(SPEC, _overrides(root, data_root, name, *extra))


@dataclass
class DriverKill:
    run_dir: Path
    killed_after: int  # the epoch of the latest registered checkpoint when the driver died
    mlflow_run_id: str
    rerun: subprocess.CompletedProcess


@dataclass
class Background:
    reference: Future  # (TrainResult, events) of the uninterrupted run
    driver_kill: Future  # DriverKill


@pytest.fixture(scope="module")
def background(cluster, root, data_root):
    """Start the reference run and the driver-kill scenario; tests take their results from the futures."""
    env = {key: value for key, value in os.environ.items() if key != FAULT_ENV}  # fixed before any test sets it
    read_env = threading.Event()
    with ThreadPoolExecutor(2) as pool:
        reference = pool.submit(_reference_run, root, data_root, read_env)
        # the reference's train() reads the fault variable first thing: let it do so before any test sets it
        read_env.wait(timeout=RUN_TIMEOUT_S)
        driver_kill = pool.submit(_kill_driver_then_rerun, cluster, root, data_root, env)
        yield Background(reference, driver_kill)


def _reference_run(root: Path, data_root: Path, read_env: threading.Event):
    """An uninterrupted 2-worker run, keeping 1 checkpoint."""
    from s2hand.distributed.ray_train import train

    events: list[dict] = []

    def record(event: dict) -> None:
        events.append(event)
        read_env.set()  # the first event comes after the environment was read

    spec = _spec(root, data_root, "reference", "distributed.num_workers=2", "distributed.keep_checkpoints=1")
    try:
        return train(spec, tracking_root=root, progress=record), events
    finally:
        read_env.set()


def _kill_driver_then_rerun(address: str, root: Path, data_root: Path, env: dict[str, str]) -> DriverKill:
    """`s2hand train` (1 worker, 3 epochs) SIGKILLed as a process group once epoch 1's checkpoint is registered,
    then the same command again."""
    name = "driver-killed"
    command = [sys.executable, "-m", "s2hand.cli", "train", SPEC,
               *_overrides(root, data_root, name, "train.epochs=3", "distributed.num_workers=1"),
               "--address", address, "--tracking-root", str(root)]
    run_dir = root / "ray" / name
    snapshot = run_dir / "checkpoint_manager_snapshot.json"
    log = root / f"{name}-first.log"
    with open(log, "w") as out:
        first = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        try:
            _wait_for(lambda: latest_registered(snapshot) is not None or first.poll() is not None, RUN_TIMEOUT_S)
            assert first.poll() is None, f"the first run ended before it could be killed:\n{log.read_text()}"
        finally:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    killed_after = int(latest_registered(snapshot).split("_")[1])
    run_id = (run_dir / "mlflow_run_id").read_text().strip()
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, env=env)
    return DriverKill(run_dir, killed_after, run_id, rerun)


def _client(result):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=result.tracking_uri)


def _model(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


# --------------------------------------------------------------------------------------------- runs


def test_killed_worker_recovers_from_latest_checkpoint_and_matches(background, root, data_root, monkeypatch):
    """Rank 1 SIGKILLs itself after epoch 1 (once); max_failures=1 restarts the group from epoch_00001.

    Tolerance: exact (torch.equal on every parameter and buffer, == on metrics). Resume happens at an epoch
    boundary and restores model, optimiser, schedule and counters; each epoch's random stream is seeded from
    (seed, epoch, rank); the data order is a function of (seed, epoch); workers run single-threaded CPU kernels
    and a 2-rank gloo all-reduce, which are deterministic. So nothing may differ at all.
    """
    from s2hand.distributed.ray_train import train

    marker = root / "faults" / "killed-once"
    monkeypatch.setenv(FAULT_ENV, f"1:1:{marker}")
    events: list[dict] = []
    spec = _spec(root, data_root, "faulty", "distributed.num_workers=2", "distributed.max_failures=1")
    result = train(spec, tracking_root=root, progress=events.append)

    assert marker.exists()  # the kill happened
    starts = [(e["epoch"], e["restored"]) for e in events if e["event"] == "start"]
    assert starts == [(0, False), (1, True)]  # restarted once, from the epoch-1 checkpoint, not from scratch
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    assert _client(result).get_run(result.mlflow_run_id).info.status == "FINISHED"

    ref, _ = background.reference.result(timeout=RUN_TIMEOUT_S)
    for key in ("epoch", "step", "train_loss", "eval_2d_error_px", "eval_mpjpe_cm", "eval_pa_mpjpe_cm"):
        assert result.metrics[key] == ref.metrics[key], key
    mine, theirs = _model(result.checkpoint), _model(ref.checkpoint)
    assert mine.keys() == theirs.keys()
    assert [k for k in mine if not torch.equal(mine[k], theirs[k])] == []


def test_two_worker_run_is_tracked_and_keeps_checkpoints(background):
    result, events = background.reference.result(timeout=RUN_TIMEOUT_S)
    assert result.metrics["epoch"] == 2 and result.metrics["step"] == 4  # 2 epochs x 2 global steps
    assert {"eval_pa_mpjpe_cm", "eval_2d_error_px", "train_loss"} <= set(result.metrics)
    assert [e["epoch"] for e in events if e["event"] == "epoch"] == [1, 2]
    assert [e["world_size"] for e in events if e["event"] == "start"] == [2]

    # CheckpointConfig(num_to_keep=1): only the latest epoch's checkpoint stays; it is complete and loads
    assert sorted(p.name for p in result.run_dir.glob("epoch_*")) == ["epoch_00002"]
    assert latest_registered(result.run_dir / "checkpoint_manager_snapshot.json") == "epoch_00002"
    assert load_checkpoint(result.run_dir / "epoch_00002" / CHECKPOINT_NAME)["state"]["epoch"] == 2
    assert load_checkpoint(result.checkpoint)["state"]["step"] == 4

    client = _client(result)
    run = client.get_run(result.mlflow_run_id)
    assert (result.run_dir / "mlflow_run_id").read_text().strip() == result.mlflow_run_id
    assert run.info.status == "FINISHED" and run.info.run_name == "reference"
    assert run.data.params["distributed.num_workers"] == "2" and run.data.params["train.batch_size"] == "8"
    epochs = client.get_metric_history(result.mlflow_run_id, "epoch")
    assert sorted((m.step, m.value) for m in epochs) == [(2, 1.0), (4, 2.0)]
    assert len(client.get_metric_history(result.mlflow_run_id, "eval_pa_mpjpe_cm")) == 2
    assert "spec.yaml" in {a.path for a in client.list_artifacts(result.mlflow_run_id)}


def test_killed_driver_rerun_resumes_same_mlflow_run(background, root):
    """The CLI's process group was SIGKILLed after epoch 1's checkpoint; the same command resumed and finished."""
    from mlflow import MlflowClient

    kill = background.driver_kill.result(timeout=RUN_TIMEOUT_S)
    assert 1 <= kill.killed_after < 3
    assert kill.rerun.returncode == 0, kill.rerun.stdout + kill.rerun.stderr
    out = kill.rerun.stdout
    assert f"resuming after epoch {kill.killed_after} of 3" in out and "starting at epoch 0" not in out
    assert "epoch 3/3" in out and "epoch 1/3" not in out  # the counter continued, not restarted
    assert f"mlflow run: {kill.mlflow_run_id}" in out  # the same MLflow run, continued
    assert (kill.run_dir / "mlflow_run_id").read_text().strip() == kill.mlflow_run_id
    assert load_checkpoint(kill.run_dir / "final" / CHECKPOINT_NAME)["state"]["epoch"] == 3

    client = MlflowClient(tracking_uri=_tracking_uri(root))
    run = client.get_run(kill.mlflow_run_id)
    assert run.info.status == "FINISHED" and run.data.tags["resumes"] == "1"
    assert {m.value for m in client.get_metric_history(kill.mlflow_run_id, "epoch")} == {1.0, 2.0, 3.0}


def test_no_temporary_files_left(background, root):
    """Checkpoints are written atomically (temp file + rename), workers' scratch folders are removed, and Ray
    registers a checkpoint only once its upload is complete: after the runs above nothing half-written remains."""
    from s2hand.distributed.ray_train import scratch_dir

    background.reference.result(timeout=RUN_TIMEOUT_S)
    background.driver_kill.result(timeout=RUN_TIMEOUT_S)
    runs = [p for p in (root / "ray").iterdir() if p.is_dir()]
    assert runs
    leftovers = [p for p in (root / "ray").rglob("*") if p.name.endswith(".tmp") or p.name.startswith(".checkpoint")]
    assert leftovers == []
    for path in (root / "ray").rglob(CHECKPOINT_NAME):
        load_checkpoint(path)  # every checkpoint on disk is complete
    assert [scratch_dir(run.resolve(), rank) for run in runs for rank in (0, 1)
            if scratch_dir(run.resolve(), rank).exists()] == []


# --------------------------------------------------------------------------------------------- fail fast


@pytest.mark.parametrize("overrides, message", [
    (["tracking.tracking_uri=http://127.0.0.1:9"], "unreachable"),
    (["data.layout=freihand", "data.root=/nonexistent"], "/nonexistent does not exist"),
    (["train.no_such_key=1"], "no_such_key"),
    (["hand.model=/nonexistent/mano"], "hand model not found"),
    (["distributed.num_workers=3"], "not divisible by distributed.num_workers=3"),
    (["distributed.checkpoint_metric=eval_pa_mpjpe_cm", "train.eval_every=0"], "needs an evaluation at every"),
], ids=["tracking-uri", "dataset-root", "spec-key", "hand-model", "batch-split", "checkpoint-metric"])
def test_fails_fast_with_one_line(overrides, message, root, data_root, capsys):
    """Each fails in the driver's preflight, before Ray is even initialised (the CLI's code path, in-process)."""
    import ray

    from s2hand.cli import main

    was_initialized = ray.is_initialized()
    started = time.perf_counter()
    code = main(["train", SPEC, *_overrides(root, data_root, "fail-fast"), *overrides])
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("s2hand train: error:") and message in err, err
    assert "\n" not in err and elapsed < FAIL_FAST_S
    assert ray.is_initialized() == was_initialized  # no cluster was started


def test_fail_fast_exit_code_from_a_real_process(root, data_root):
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "s2hand.cli", "train", SPEC,
                           *_overrides(root, data_root, "fail-fast"), "train.no_such_key=1"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no_such_key" in done.stderr, done.stderr
    assert time.perf_counter() - started < FAIL_FAST_S


def test_worker_input_errors_become_one_line():
    """A worker's S2HandError (bad data, diverged loss) surfaces as that error, naming the rank, not as a traceback."""
    from ray.train import WorkerGroupError
    from ray.train.v2._internal.exceptions import UserExceptionWithTraceback

    from s2hand.distributed.ray_train import _raise_readable
    from s2hand.errors import DataError

    failure = UserExceptionWithTraceback(DataError("sample 7: unreadable image"), traceback_str="Traceback ...")
    with pytest.raises(DataError, match=r"^worker rank 1: sample 7: unreadable image$"):
        _raise_readable(WorkerGroupError("rank 1 failed", {1: failure}))
    _raise_readable(WorkerGroupError("rank 0 failed", {0: RuntimeError("a bug")}))  # others: left to the caller


# --------------------------------------------------------------------------------------------- console


def test_console_lines():
    printer = ConsolePrinter()
    assert printer.format({"event": "start", "epoch": 0, "epochs": 3, "world_size": 2, "restored": False}) == \
        "worker group of 2 up: starting at epoch 0 of 3"
    again = printer.format({"event": "start", "epoch": 1, "epochs": 3, "world_size": 2, "restored": True})
    assert again == "worker group of 2 up: resuming after epoch 1 of 3 (restart 1 after a failure)"
    line = printer.format({"event": "epoch", "epoch": 2, "epochs": 3, "step": 4, "train_loss": 0.5, "seconds": 2.0,
                           "metrics": {"lr": 1e-3, "images_per_s": 9.04, "eval_pa_mpjpe_cm": 1.234}})
    assert line == "epoch 2/3  step 4  loss 0.5000  eval_pa_mpjpe_cm 1.234  9.0 img/s  2.0 s"
    assert printer.format({"event": "first_step", "time": 0.0}) is None
    run = {"event": "run", "name": "x", "workers": 2, "run_dir": "/r/x", "mlflow_run_id": "abc", "tracking_uri": "u"}
    assert printer.format(run) == "run x: 2 worker(s), /r/x; MLflow abc on u"
    assert printer.format({**run, "run_url": "http://h/#/experiments/1/runs/abc"}).endswith("MLflow http://h/#/experiments/1/runs/abc")


def _wait_for(condition, timeout: float, interval: float = 0.5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)
