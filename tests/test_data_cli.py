"""`s2hand data ...` and `s2hand detect`: help, end-to-end runs (one real subprocess), one-line errors."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from s2hand.cli import main
from s2hand.data.detections import load_detections
from test_data_fixtures import scratch, synthetic_freihand

COMMANDS = (("data", "synth"), ("data", "import-videos"), ("data", "import-openpose"), ("data", "check"), ("detect",))


@pytest.mark.parametrize("command", COMMANDS)
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: s2hand {' '.join(command)}" in capsys.readouterr().out


def test_synth_then_detect_through_the_installed_command():
    out = scratch("cli") / "frei"
    run = lambda *a: subprocess.run([sys.executable, "-m", "s2hand.cli", *a], capture_output=True, text=True)  # noqa: E731
    result = run("data", "synth", "--layout", "freihand", "--out", str(out), "--train", "3", "--eval", "1",
                 "--seed", "2", "--image-size", "64")
    assert result.returncode == 0, result.stderr
    assert "4 images rendered" in result.stdout and "img" in result.stderr  # the progress bar
    assert len(json.loads((out / "training_xyz.json").read_text())) == 3
    assert main(["data", "synth", "--layout", "freihand", "--out", str(out), "--train", "3", "--eval", "1",
                 "--seed", "2", "--image-size", "64", "--quiet"]) == 0  # resumes: nothing left to do
    assert main(["detect", "--data", str(out), "--detector", "synthetic", "--out", str(out / "d.json"),
                 "--quiet", "--seed", "5"]) == 0
    assert load_detections(out / "d.json").detector["seed"] == 5


def test_ho3d_synth_in_process(capsys):
    out = scratch("cli-ho3d") / "h"
    assert main(["data", "synth", "--layout", "ho3d", "--out", str(out), "--sequences", "1", "--frames", "4",
                 "--image-size", "64", "--quiet"]) == 0
    assert "8 images rendered" in capsys.readouterr().out  # 1 train + 1 evaluation sequence (the default quarter)
    assert (out / "evaluation.txt").read_text().split() == [f"E0000/{f:04d}" for f in range(4)]


@pytest.mark.parametrize("args, message", [
    (["data", "synth", "--layout", "freihand", "--out", "{tmp}/a"], "give --train N"),
    (["data", "synth", "--layout", "ho3d", "--out", "{tmp}/b", "--train", "3"], "--train/--eval are for --layout freihand"),
    (["detect", "--data", "{tmp}/nothing", "--detector", "synthetic", "--out", "{tmp}/x.json"], "does not exist"),
])
def test_errors_are_one_line(args, message, tmp_path, capsys):
    assert main([a.format(tmp=tmp_path) for a in args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_detect_mediapipe_without_mediapipe(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    assert main(["detect", "--data", str(synthetic_freihand()), "--detector", "mediapipe", "--out",
                 str(tmp_path / "m.json"), "--quiet"]) == 2
    assert 'pip install "s2hand[mediapipe]"' in capsys.readouterr().err


def test_import_openpose(tmp_path, capsys):
    root = synthetic_freihand()
    n = len(json.loads((root / "training_K.json").read_text()))
    peaks = [[[float(j), float(j)] for j in range(21)] for _ in range(n)]
    values = [[[0.5] for _ in range(21)] for _ in range(n)]
    (tmp_path / "op.json").write_text(json.dumps([peaks, values, [[f"{i:08d}.jpg"] for i in range(n)]]))
    assert main(["data", "import-openpose", str(tmp_path / "op.json"), "--data", str(root), "--out",
                 str(tmp_path / "ours.json")]) == 0
    det = load_detections(tmp_path / "ours.json")
    assert det.images[0] == "training/rgb/00000000.jpg" and det.detector["name"] == "openpose"
    (tmp_path / "short.json").write_text(json.dumps([peaks[:-1], values[:-1], [[f"{i:08d}.jpg"] for i in range(n - 1)]]))
    assert main(["data", "import-openpose", str(tmp_path / "short.json"), "--data", str(root), "--out",
                 str(tmp_path / "x.json")]) == 2
    assert f"sample {n - 1}" in capsys.readouterr().err


def test_check_stops_on_or_lists_bad_samples(tmp_path, capsys):
    import shutil

    root = tmp_path / "data"
    shutil.copytree(synthetic_freihand(), root)
    assert main(["data", "check", "--data", str(root), "--quiet"]) == 0
    assert "none skipped" in capsys.readouterr().out
    (root / "training/rgb/00000002.jpg").write_bytes(b"not a jpeg")
    (root / "training/rgb/00000007.jpg").unlink()
    assert main(["data", "check", "--data", str(root), "--quiet"]) == 2
    assert "00000007.jpg (sample 7)" in capsys.readouterr().err
    assert main(["data", "check", "--data", str(root), "--quiet", "--skip-bad"]) == 1
    out = capsys.readouterr().out
    assert "2 skipped" in out and "sample 2: training/rgb/00000002.jpg: corrupt image" in out
    assert "sample 7: training/rgb/00000007.jpg: missing image file" in out
