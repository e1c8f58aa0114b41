"""MLflow tracking against a REAL embedded `mlflow server` (no mocks): one server for the module, always stopped.

The server starts once (its first start migrates a fresh sqlite database: 10-30 s on a busy 2-core machine); every
other test reuses it. The module fixture seeds a stale state file first, so the start also proves it is replaced.
"""
from __future__ import annotations

import http.server
import multiprocessing
import os
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from mlflow import MlflowClient

from s2hand.config import ExperimentSpec, loads_spec
from s2hand.errors import S2HandError
from s2hand.tracking.mlflow_logger import (
    RUN_ID_FILE,
    MlflowLogger,
    TrackingHandle,
    finish_run,
    log_params,
    prepare_tracking,
    read_run_id,
    sample_overlay,
    start_child_run,
    start_parent_run,
    start_run,
)
from s2hand.tracking.server import ServerInfo, ensure_server, find_server, is_healthy, server_dir, stop_server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("tracking-root")


@pytest.fixture(scope="module")
def server(root):
    """(info, started, stale): the embedded server of ``root``, started over a stale record; always stopped."""
    stale = ServerInfo(pid=_dead_pid(), port=_free_port(), host="127.0.0.1", backend_store_uri="sqlite:///x.db",
                       artifacts="x", log="x", started_at=0.0)
    server_dir(root).mkdir(parents=True)
    (server_dir(root) / "server.json").write_text(
        '{"pid": %d, "port": %d, "host": "127.0.0.1", "backend_store_uri": "sqlite:///x.db", "artifacts": "x", '
        '"log": "x", "started_at": 0.0}' % (stale.pid, stale.port))
    try:
        info, started = ensure_server(root)
        yield info, started, stale
    finally:
        stopped = stop_server(root)
    assert stopped is not None and not is_healthy(stopped.uri, timeout=1.0)
    assert find_server(root) is None and not (server_dir(root) / "server.json").exists()
    with pytest.raises(ProcessLookupError):
        os.kill(stopped.pid, 0)


@pytest.fixture(scope="module")
def spec() -> ExperimentSpec:
    return ExperimentSpec().with_overrides({"train.epochs": 2, "tracking.log_every": 2,
                                            "tracking.log_images_every": 4})


@pytest.fixture(scope="module")
def handle(server, spec, root) -> TrackingHandle:
    return prepare_tracking(spec, root)


def _trainer(spec: ExperimentSpec, is_main: bool = True) -> SimpleNamespace:
    return SimpleNamespace(spec=spec, state=SimpleNamespace(step=0, epoch=0, skipped_steps=0), is_main=is_main)


# --------------------------------------------------------------------------------------------- the server


def test_server_started_in_root_replacing_a_stale_record(server, root):
    info, started, stale = server
    assert started and (info.pid, info.port) != (stale.pid, stale.port)
    assert is_healthy(info.uri)
    assert info.backend_store_uri == f"sqlite:///{server_dir(root) / 'mlflow.db'}"
    assert (server_dir(root) / "mlflow.db").is_file() and (server_dir(root) / "artifacts").is_dir()


def test_server_reused(server, root):
    info, _, _ = server
    again, started = ensure_server(root)
    assert not started and (again.pid, again.port) == (info.pid, info.port)
    assert find_server(root) == info


def test_unreachable_uri_fails_fast_naming_it(tmp_path):
    uri = f"http://127.0.0.1:{_free_port()}"
    spec = ExperimentSpec().with_overrides({"tracking.tracking_uri": uri})
    began = time.monotonic()
    with pytest.raises(S2HandError, match=re.escape(uri) + ".*unreachable"):
        prepare_tracking(spec, tmp_path)
    assert time.monotonic() - began < 5


def test_a_server_that_is_not_mlflow_is_refused(tmp_path):
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        with pytest.raises(S2HandError, match=re.escape(uri) + ".*404"):
            prepare_tracking(ExperimentSpec().with_overrides({"tracking.tracking_uri": uri}), tmp_path)
    finally:
        httpd.shutdown()


def test_tracking_disabled_gives_no_handle(tmp_path):
    assert prepare_tracking(ExperimentSpec().with_overrides({"tracking.enabled": False}), tmp_path) is None
    assert not (tmp_path / "mlflow").exists()


def test_experiment_created_up_front_with_served_artifacts(handle, server, spec, root):
    assert handle.uri == server[0].uri and handle.server == server[0]
    experiment = MlflowClient(handle.uri).get_experiment_by_name(spec.tracking.experiment)
    assert experiment.experiment_id == handle.experiment_id
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # uploaded through the server
    assert prepare_tracking(spec, root).experiment_id == handle.experiment_id


# --------------------------------------------------------------------------------------------- logging


def test_callback_logs_spec_metrics_images_checkpoints_and_tags(handle, spec, tmp_path):
    run_dir = tmp_path / "run"
    run_id = start_run(handle, spec, run_dir)
    assert read_run_id(run_dir) == run_id
    checkpoint = run_dir / "checkpoint.pt"
    checkpoint.write_bytes(b"weights")
    overlay = lambda trainer: sample_overlay(np.random.rand(3, 24, 24), np.random.rand(24, 24, 3),  # noqa: E731
                                             np.random.rand(21, 2) * 24)
    logger = MlflowLogger(handle, run_id, image_fn=overlay, system_metrics_interval=0.2, strict=True)
    trainer = _trainer(spec)
    for epoch in range(spec.train.epochs):
        for _ in range(4):
            trainer.state.step += 1
            logger.on_step(trainer, {"loc": 1.0 / trainer.state.step, "ori": 0.5}, 2.0)
        trainer.state.epoch += 1
        time.sleep(0.3)  # let the system metrics sampler take a sample
        logger.on_epoch_end(trainer, {"epoch": float(trainer.state.epoch), "lr": 1e-3, "eval_pa_mpjpe_cm": 1.5},
                            checkpoint)
    assert logger.failures == 0

    client = MlflowClient(handle.uri)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"  # closed by itself after the last epoch
    assert run.data.params["train.lr"] == "0.001" and run.data.params["stage"] == "pretrain_3d"
    assert run.data.params["train.betas"] == "[0.9, 0.999]"
    assert [m.step for m in client.get_metric_history(run_id, "train/loc")] == [2, 4, 6, 8]
    assert {"train/total", "epoch/loc", "epoch/total", "lr", "eval_pa_mpjpe_cm"} <= set(run.data.metrics)
    assert run.data.metrics["epoch/loc"] == pytest.approx(np.mean([1 / 5, 1 / 6, 1 / 7, 1 / 8]))
    assert any(key.startswith("system/") for key in run.data.metrics)
    tags = run.data.tags
    assert tags["stage"] == "pretrain_3d" and tags["variant"] == "s2hand" and tags["hand_model"] == "open-v1"
    assert tags["dataset_fingerprint"].startswith("embedded:") and tags["s2hand_version"]
    assert "git_commit" in tags and tags["checkpoint"] == str(checkpoint.resolve()) and tags["checkpoint_epoch"] == "2"
    spec_file = client.download_artifacts(run_id, "spec.yaml", str(tmp_path))
    assert loads_spec(Path(spec_file).read_text()) == spec
    images = [a.path for a in client.list_artifacts(run_id, "images")]
    assert any("overlay+step+4+" in path for path in images) and any("overlay+step+8+" in path for path in images)


def test_only_rank_zero_logs(handle, spec):
    run_id = start_run(handle, spec)
    logger = MlflowLogger(handle, run_id, system_metrics=False, strict=True)
    worker = _trainer(spec, is_main=False)
    worker.state.step = 2
    logger.on_step(worker, {"loc": 1.0}, 1.0)
    logger.log_image(np.zeros((3, 8, 8), np.float32), "direct", step=1)  # direct calls log from any rank
    run = MlflowClient(handle.uri).get_run(run_id)
    assert not run.data.metrics and run.info.status == "RUNNING"
    assert MlflowClient(handle.uri).list_artifacts(run_id, "images")


def test_checkpoint_as_artifact(handle, spec, tmp_path):
    run_id = start_run(handle, spec)
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(b"weights")
    MlflowLogger(handle, run_id, checkpoints="artifact", system_metrics=False, strict=True).log_checkpoint(checkpoint, 3)
    client = MlflowClient(handle.uri)
    assert [a.path for a in client.list_artifacts(run_id, "checkpoints")] == ["checkpoints/checkpoint.pt"]
    assert client.get_run(run_id).data.tags["checkpoint"] == "artifact:checkpoints/checkpoint.pt"


def test_resume_continues_the_same_run(handle, spec, tmp_path):
    run_dir = tmp_path / "run"
    run_id = start_run(handle, spec, run_dir)
    finish_run(handle, run_id, "FAILED")
    longer = spec.with_overrides({"train.epochs": 5})
    assert start_run(handle, longer, run_dir) == run_id
    client = MlflowClient(handle.uri)
    run = client.get_run(run_id)
    assert run.info.status == "RUNNING" and run.data.tags["resumes"] == "1"
    assert run.data.params["train.epochs"] == "2"  # params are immutable: the change is recorded beside them
    assert run.data.tags["resumed.params_changed"] == "train.epochs"
    assert "spec.resumed-1.yaml" in [a.path for a in client.list_artifacts(run_id)]

    (run_dir / RUN_ID_FILE).write_text("0123456789abcdef0123456789abcdef\n")  # a run this server never had
    assert start_run(handle, spec, run_dir) not in (run_id, "0123456789abcdef0123456789abcdef")


def test_parent_and_child_runs(handle, spec, tmp_path):
    parent = start_parent_run(handle, "sweep", params={"space.train.lr": "loguniform(1e-4, 1e-2)"},
                              spec_yaml="base: s2hand/finetune\n", run_dir=tmp_path / "sweep")
    children = {start_child_run(handle, parent, spec, name=f"trial-{i}") for i in range(2)}
    client = MlflowClient(handle.uri)
    found = client.search_runs([handle.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert {run.info.run_id for run in found} == children
    assert client.get_run(parent).data.params["space.train.lr"] == "loguniform(1e-4, 1e-2)"
    assert start_parent_run(handle, "sweep", run_dir=tmp_path / "sweep") == parent


def test_params_respect_mlflow_batch_and_length_limits(handle, spec):
    run_id = start_run(handle, spec)
    client = MlflowClient(handle.uri)
    log_params(client, run_id, {f"extra.{i}": i for i in range(150)} | {"extra.long": "x" * 10_000})
    params = client.get_run(run_id).data.params
    assert params["extra.149"] == "149" and len(params["extra.long"]) <= 6000
    assert params["extra.long"].endswith("see spec.yaml]")


def test_sample_overlay_is_input_render_keypoints():
    image = sample_overlay(np.zeros((3, 16, 20), np.float32), np.ones((16, 20, 3)), np.full((21, 2), 8.0))
    assert image.shape == (16, 60, 3) and image.dtype == np.uint8
    assert image[:, 20:40].min() == 255 and image[:, 40:].max() > 0  # the render panel; keypoints drawn


def _log_from_process(uri: str, experiment_id: str, index: int, barrier, results) -> None:
    spec = ExperimentSpec().with_overrides({"name": f"worker-{index}", "train.epochs": 1})
    handle = TrackingHandle(uri, experiment_id, spec.tracking.experiment)
    barrier.wait(timeout=60)  # all three log at the same time
    run_id = start_run(handle, spec)
    logger = MlflowLogger(handle, run_id, log_every=1, system_metrics=False, strict=True)
    trainer = _trainer(spec)
    for _ in range(25):
        trainer.state.step += 1
        logger.on_step(trainer, {"loc": float(index), "ori": 0.1}, 1.0)
    trainer.state.epoch = 1
    logger.on_epoch_end(trainer, {"epoch": 1.0}, None)
    results.put((index, run_id))


def test_three_processes_log_concurrently(handle):
    # fork: the children start with MLflow already imported (seconds each otherwise); MLflow keys its HTTP
    # sessions by pid, so every process still opens its own connections.
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(3), context.Queue()
    processes = [context.Process(target=_log_from_process, args=(handle.uri, handle.experiment_id, i, barrier,
                                                                 results)) for i in range(3)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0, 0]
    run_ids = dict(results.get(timeout=5) for _ in processes)
    client = MlflowClient(handle.uri)
    for index, run_id in run_ids.items():
        history = client.get_metric_history(run_id, "train/loc")
        assert [m.step for m in history] == list(range(1, 26)) and {m.value for m in history} == {index}
        assert client.get_run(run_id).info.status == "FINISHED"


# --------------------------------------------------------------------------------------------- CLI


def test_cli(server, root, tmp_path, capsys):
    from s2hand.cli import main

    for command in (["mlflow"], ["mlflow", "ui"], ["mlflow", "stop"], ["mlflow", "status"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--help"])
        assert exit_info.value.code == 0
    capsys.readouterr()
    info = server[0]
    assert main(["mlflow", "status", "--root", str(root)]) == 0
    assert info.uri in capsys.readouterr().out
    assert main(["mlflow", "ui", "--root", str(root), "--detach"]) == 0  # reuses the running server
    out = capsys.readouterr().out
    assert info.uri in out and "already running" in out and "s2hand mlflow stop" in out
    assert main(["mlflow", "status", "--root", str(tmp_path)]) == 1
    assert main(["mlflow", "stop", "--root", str(tmp_path)]) == 0
    assert "no MLflow server" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------- provenance


def test_dataset_fingerprint_follows_names_sizes_and_annotations(tmp_path):
    from s2hand.config import DataSpec
    from s2hand.tracking.provenance import dataset_fingerprint

    (tmp_path / "rgb").mkdir()
    (tmp_path / "rgb" / "0.jpg").write_bytes(b"abc")
    (tmp_path / "training_xyz.json").write_text("[1]")
    data = DataSpec(layout="freihand", root=tmp_path)
    first = dataset_fingerprint(data)
    assert first == dataset_fingerprint(data) and first.endswith("(2 files)")
    (tmp_path / "training_xyz.json").write_text("[2]")  # same size, new content
    second = dataset_fingerprint(data)
    (tmp_path / "rgb" / "1.jpg").write_bytes(b"d")
    assert len({first, second, dataset_fingerprint(data)}) == 3


def test_hand_model_name_of_a_converted_model(tmp_path):
    from s2hand.config import HandSpec
    from s2hand.tracking.provenance import hand_model_name

    (tmp_path / "MANO_RIGHT.npz").write_bytes(b"named by its content hash, not loaded")
    assert re.fullmatch(r"MANO_RIGHT\.npz@sha256:[0-9a-f]{12}", hand_model_name(HandSpec(model=tmp_path)))
    assert hand_model_name(HandSpec(model=tmp_path / "missing")).endswith("(not found)")
