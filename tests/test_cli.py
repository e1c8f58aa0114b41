"""The `s2hand` CLI: --help on every subcommand, hand export and showcase end to end."""
from __future__ import annotations

import argparse
import subprocess
import sys

import numpy as np
import pytest

from s2hand.cli import build_parser, main


def _all_command_paths(parser, prefix=()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _all_command_paths(sub, prefix + (name,))


def test_every_subcommand_has_help(capsys):
    paths = list(_all_command_paths(build_parser()))
    assert ("hand", "export") in paths and ("mano", "convert") in paths
    for path in paths:
        with pytest.raises(SystemExit) as exit_info:
            main([*path, "--help"])
        assert exit_info.value.code == 0
        assert "usage: s2hand " + " ".join(path) in capsys.readouterr().out


def test_group_without_subcommand_prints_help_and_fails(capsys):
    assert main(["hand"]) == 2
    assert "export" in capsys.readouterr().out


def _s2hand(*args):
    return subprocess.run([sys.executable, "-m", "s2hand.cli", *args], capture_output=True, text=True)


def test_hand_export_writes_mesh_and_png(tmp_path):
    from PIL import Image

    from s2hand.io.mesh import read_ply

    result = _s2hand("hand", "export", "--pose", "fist", "--betas", "0.5,-0.3", "--out", str(tmp_path / "fist.ply"),
                     "--png", str(tmp_path / "fist.png"))
    assert result.returncode == 0, result.stderr
    vertices, faces, colors = read_ply(tmp_path / "fist.ply")
    assert vertices.shape == (778, 3) and faces.shape == (1538, 3) and colors is not None
    image = np.asarray(Image.open(tmp_path / "fist.png"))
    assert image.shape == (256, 256, 3)
    hand_pixels = (image < 250).any(-1).mean()
    assert 0.05 < hand_pixels < 0.8, "the hand fills a sensible part of the frame"


def test_hand_export_errors_are_one_line(tmp_path):
    result = _s2hand("hand", "export", "--pose", "wave", "--out", str(tmp_path / "x.ply"))
    assert result.returncode == 2 and "unknown pose 'wave'" in result.stderr and "Traceback" not in result.stderr
    result = _s2hand("hand", "export", "--model", str(tmp_path), "--out", str(tmp_path / "x.ply"))
    assert result.returncode == 2 and "hand model not found" in result.stderr
