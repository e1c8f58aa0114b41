"""The embedded MLflow tracking server: one real ``mlflow server`` per run root, started once and reused.

Why a server and not ``sqlite:///`` in every process: MLflow 3's sqlite store migrates a fresh database on first
use, and several processes (Ray workers, sweep trials) doing that at once race. One server process owns the
database; every client talks HTTP to it, and artifacts are proxied through it (``--serve-artifacts``) so any
process that can reach the port can upload them.

Layout under ``<root>/mlflow/``: ``mlflow.db`` (backend), ``artifacts/`` (artifact store), ``server.log``,
``server.json`` (pid, port, ... of the running server) and ``server.lock`` (serialises start-up).
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

from s2hand.errors import S2HandError
from s2hand.io.atomic import atomic_write

RUNS_DIR_ENV = "S2HAND_RUNS_DIR"
HOST = "127.0.0.1"
STATE_FILE = "server.json"
START_TIMEOUT_S = 120.0  # a fresh database migrates first: ~25 s on a busy 2-core machine


@dataclass(frozen=True)
class ServerInfo:
    """A running embedded server, as recorded in ``<root>/mlflow/server.json``."""

    pid: int
    port: int
    host: str
    backend_store_uri: str
    artifacts: str
    log: str
    started_at: float

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"


def default_root() -> Path:
    """The run root when none is given: $S2HAND_RUNS_DIR, else ./runs."""
    return Path(os.environ.get(RUNS_DIR_ENV, "runs")).expanduser().resolve()


def server_dir(root: str | os.PathLike) -> Path:
    return Path(root).expanduser().resolve() / "mlflow"


# --------------------------------------------------------------------------------------------- health


def is_healthy(uri: str, timeout: float = 2.0) -> bool:
    """True if ``<uri>/health`` answers 200."""
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout) as response:
            return response.status == 200
    except (OSError, ValueError):  # URLError, timeouts and refused connections are OSErrors
        return False


def require_reachable(uri: str, timeout: float = 3.0) -> None:
    """Raise a readable S2HandError unless an MLflow tracking server answers ``<uri>/health``.

    401/403 count as an answer (a server behind authentication). Done with urllib because MLflow's own client
    retries for minutes before giving up.
    """
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=timeout):
            return
    except urllib.error.HTTPError as error:
        if error.code in (401, 403):
            return
        raise S2HandError(f"{uri} answered HTTP {error.code} to GET /health: is it an MLflow tracking server? "
                          "(check tracking.tracking_uri)") from None
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise S2HandError(
            f"MLflow tracking server {uri} is unreachable ({reason}); start it, fix tracking.tracking_uri, "
            "or set tracking.tracking_uri=null to use the embedded local server"
        ) from None


# --------------------------------------------------------------------------------------------- lifecycle


def find_server(root: str | os.PathLike) -> ServerInfo | None:
    """The server recorded under ``root`` if its process is alive, is an mlflow server and answers /health."""
    info = _read_state(server_dir(root))
    if info is None or not _is_mlflow_server(info.pid, info.port):
        return None
    return info if is_healthy(info.uri) else None


def ensure_server(root: str | os.PathLike, *, port: int | None = None, workers: int = 1,
                  timeout: float = START_TIMEOUT_S) -> tuple[ServerInfo, bool]:
    """Reuse the healthy server recorded under ``root``, or start one. Returns (info, started_by_this_call).

    A stale record (dead process, or a live one that no longer answers) is replaced; a hung server of ours is
    stopped first so two servers never share the database. ``port`` applies only when a server is started.
    """
    directory = server_dir(root)
    directory.mkdir(parents=True, exist_ok=True)
    with _locked(directory / "server.lock"):  # concurrent drivers: one starts, the others wait and reuse
        info = _read_state(directory)
        if info is not None and _is_mlflow_server(info.pid, info.port):
            if _healthy_within(info.uri, 15.0):  # patient: a busy machine answers slowly, and killing is final
                return info, False
            _terminate(info.pid)  # ours, alive, but hung: replace it
        (directory / STATE_FILE).unlink(missing_ok=True)
        tries = 1 if port else 3
        while True:
            tries -= 1
            try:
                return _start(directory, port, workers, timeout), True
            except S2HandError as error:
                # A free port picked here can be taken by someone else before the server binds it (seconds later).
                if not tries or "address already in use" not in str(error).lower():
                    raise


def stop_server(root: str | os.PathLike, timeout: float = 15.0) -> ServerInfo | None:
    """Stop the server recorded under ``root`` (whole process group) and remove its record.

    Returns the stopped server, or None if none was running (a stale record is removed all the same).
    """
    directory = server_dir(root)
    if not directory.is_dir():
        return None
    with _locked(directory / "server.lock"):
        info = _read_state(directory)
        running = info is not None and _is_mlflow_server(info.pid, info.port)
        if running:
            _terminate(info.pid, timeout)
        (directory / STATE_FILE).unlink(missing_ok=True)
        return info if running else None


def _start(directory: Path, port: int | None, workers: int, timeout: float) -> ServerInfo:
    port = port or _free_port()
    if not _port_free(port):
        raise S2HandError(f"port {port} on {HOST} is already in use; choose another with --port")
    artifacts = directory / "artifacts"
    artifacts.mkdir(exist_ok=True)
    log_path = directory / "server.log"
    command = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", f"sqlite:///{directory / 'mlflow.db'}",
        "--serve-artifacts", "--artifacts-destination", str(artifacts),
        "--host", HOST, "--port", str(port), "--workers", str(workers),
    ]
    # The job runner (huey) serves GenAI evaluation jobs only: two extra processes this platform never uses.
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log_path, "ab") as log:
        log.write(f"\n==== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(command)}\n".encode())
        log.flush()
        # Own session = own process group: it outlives this process (detached) and stops as a whole.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True, cwd=directory)
    info = ServerInfo(pid=process.pid, port=port, host=HOST, backend_store_uri=command[5],
                      artifacts=str(artifacts), log=str(log_path), started_at=time.time())
    # Recorded before it is healthy, so a driver killed during start-up leaves a record the next one cleans up.
    _write_state(directory, info)
    deadline = time.monotonic() + timeout
    try:
        while not is_healthy(info.uri, timeout=1.0):
            code = process.poll()
            if code is not None:
                raise S2HandError(f"the MLflow server on {info.uri} exited with status {code}; see its log "
                                  f"{log_path}:\n{_tail(log_path)}")
            if time.monotonic() > deadline:
                raise S2HandError(f"the MLflow server on {info.uri} did not answer within {timeout:.0f} s; see its "
                                  f"log {log_path}:\n{_tail(log_path)}")
            time.sleep(0.25)
    except BaseException:  # failed or interrupted (Ctrl-C): leave no half-started server behind
        _terminate(process.pid)
        (directory / STATE_FILE).unlink(missing_ok=True)
        raise
    return info


def _healthy_within(uri: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not is_healthy(uri, timeout=2.0):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def _terminate(pid: int, timeout: float = 15.0) -> None:
    """SIGTERM the server's process group (mlflow, uvicorn and its workers), SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.1)


# --------------------------------------------------------------------------------------------- helpers


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # reap it if it is our own child
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_mlflow_server(pid: int, port: int) -> bool:
    """The pid is alive and is an ``mlflow server`` on ``port`` (guards against a recycled pid)."""
    if not _alive(pid):
        return False
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        try:
            import psutil

            args = psutil.Process(pid).cmdline()
        except Exception:  # no /proc and no psutil: trust the live pid, /health decides the rest
            return True
    return "mlflow" in args and "server" in args and str(port) in args


def _read_state(directory: Path) -> ServerInfo | None:
    try:
        return ServerInfo(**json.loads((directory / STATE_FILE).read_text()))
    except (OSError, ValueError, TypeError):  # missing, torn or from another version: treat as stale
        return None


def _write_state(directory: Path, info: ServerInfo) -> None:
    with atomic_write(directory / STATE_FILE) as handle:
        json.dump(asdict(info), handle, indent=2)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


__all__ = ["ServerInfo", "default_root", "server_dir", "ensure_server", "find_server", "stop_server",
           "is_healthy", "require_reachable", "START_TIMEOUT_S"]
