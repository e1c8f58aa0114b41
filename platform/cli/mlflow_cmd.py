"""`s2hand mlflow ui | stop | status`: the embedded MLflow server of a run root."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT_HELP = "run root holding mlflow/ (default: $S2HAND_RUNS_DIR or ./runs)"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "mlflow", help="the embedded MLflow tracking server: open the UI, stop it, show its status",
        description="With tracking.tracking_uri null, runs log to one `mlflow server` per run root (sqlite database "
        "and artifacts under ROOT/mlflow/), started on first use and shared by every process of that root.",
    )
    parser.set_defaults(group_parser=parser)
    commands = parser.add_subparsers(dest="mlflow_command", metavar="SUBCOMMAND")

    ui = commands.add_parser(
        "ui", help="start (or reuse) the server and print its URL",
        description="Start the embedded server of ROOT, or reuse the one already running, and print its URL. "
        "Runs until Ctrl-C (which stops the server only if this command started it); --detach returns at once "
        "and leaves it running.",
    )
    _root_argument(ui)
    ui.add_argument("--port", type=int, help="port for a newly started server (default: a free one)")
    ui.add_argument("--detach", action="store_true", help="leave the server running and return")
    ui.set_defaults(func=_ui)

    stop = commands.add_parser("stop", help="stop the server of a run root",
                               description="Stop the embedded server of ROOT (and remove its state file).")
    _root_argument(stop)
    stop.set_defaults(func=_stop)

    status = commands.add_parser("status", help="is the server of a run root running?",
                                 description="Print the embedded server's URL, pid, database and log. "
                                 "Exit status 0 if it is running, 1 if not.")
    _root_argument(status)
    status.set_defaults(func=_status)


def _root_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--root", type=Path, metavar="DIR", help=ROOT_HELP)


def _root(args: argparse.Namespace) -> Path:
    from s2hand.tracking.server import default_root

    return args.root.expanduser().resolve() if args.root else default_root()


def _ui(args: argparse.Namespace) -> int:
    from s2hand.tracking.server import ensure_server, find_server, server_dir, stop_server

    root = _root(args)
    if find_server(root) is None:
        fresh = not (server_dir(root) / "mlflow.db").exists()
        print(f"starting the MLflow server of {root}" + (" (a new database: up to a minute)" if fresh else "")
              + " ...", flush=True)
    info, started = ensure_server(root, port=args.port)
    if args.port and info.port != args.port:
        print(f"note: a server of this root already runs on port {info.port}; reusing it")
    print(f"MLflow UI: {info.uri}  ({'started' if started else 'already running'}, pid {info.pid}, log {info.log})")
    if args.detach:
        print(f"stop it with: s2hand mlflow stop --root {root}")
        return 0
    try:
        print("press Ctrl-C to quit" + ("" if started else " (the server keeps running: it was started elsewhere)"),
              flush=True)
        while find_server(root) is not None:
            time.sleep(2)
        print("the server stopped")
        return 1
    except KeyboardInterrupt:
        if started:
            stop_server(root)
            print("\nserver stopped")
        return 0


def _stop(args: argparse.Namespace) -> int:
    from s2hand.tracking.server import stop_server

    root = _root(args)
    info = stop_server(root)
    print(f"stopped the MLflow server on {info.uri} (pid {info.pid})" if info else f"no MLflow server running for {root}")
    return 0


def _status(args: argparse.Namespace) -> int:
    from s2hand.tracking.server import find_server

    root = _root(args)
    info = find_server(root)
    if info is None:
        print(f"no MLflow server running for {root}")
        return 1
    print(f"running: {info.uri}\n  pid       {info.pid}\n  database  {info.backend_store_uri}\n"
          f"  artifacts {info.artifacts}\n  log       {info.log}")
    return 0
