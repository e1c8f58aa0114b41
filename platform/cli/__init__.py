"""The ``s2hand`` command line: one entry point, one module per command group.

Each module in ``COMMAND_MODULES`` defines ``register(subparsers)``; heavy imports (torch, ray, mlflow) happen
inside the command functions so ``s2hand --help`` stays instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from s2hand import __version__
from s2hand.errors import S2HandError

COMMAND_MODULES = (
    "s2hand.cli.config_cmd",
    "s2hand.cli.hand_cmd",
    "s2hand.cli.eval_cmd",
    "s2hand.cli.data_cmd",
    "s2hand.cli.mlflow_cmd",
    "s2hand.cli.train_cmd",
    "s2hand.cli.evaluate_cmd",
    "s2hand.cli.dashboard_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="s2hand",
        description="Self-supervised 3D hand reconstruction: data, training, sweeps, evaluation, dashboards.",
    )
    parser.add_argument("--version", action="version", version=f"s2hand {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # a group without its subcommand (e.g. `s2hand hand`): show that group's help
        (getattr(args, "group_parser", None) or parser).print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except S2HandError as error:
        print(f"s2hand {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
