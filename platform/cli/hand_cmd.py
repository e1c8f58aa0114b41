"""`s2hand hand ...` and `s2hand mano ...` (placeholder)."""
from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("hand", help="hand model: export meshes, render poses")
    parser.set_defaults(group_parser=parser)
