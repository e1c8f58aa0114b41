"""`s2hand config ...` (placeholder until the spec system lands)."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("config", help="resolve and print experiment specs")
    parser.set_defaults(group_parser=parser)
