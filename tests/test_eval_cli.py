"""`s2hand score` and `s2hand submit` end to end, in subprocesses, on small synthetic ground truth."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from s2hand.cli import main
from s2hand.evaluation.scoring import scalar_scores, score_ho3d
from s2hand.evaluation.submission import write_submission
from s2hand.evaluation.synthetic import synthetic_hands, synthetic_predictions
from s2hand.hand.joints import freihand_to_ho3d, opencv_to_opengl

S2HAND = str(Path(sys.executable).with_name("s2hand"))


def run(*args):
    return subprocess.run([S2HAND, *map(str, args)], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("eval")
    gt_xyz, gt_verts, params = synthetic_hands(8, seed=3)
    pred_xyz, pred_verts = synthetic_predictions(params, seed=4)
    # HO-3D layout: HO-3D joint order, OpenGL, for ground truth and predictions alike
    gt_xyz, gt_verts = opencv_to_opengl(freihand_to_ho3d(gt_xyz)), opencv_to_opengl(gt_verts)
    pred_xyz, pred_verts = opencv_to_opengl(freihand_to_ho3d(pred_xyz)), opencv_to_opengl(pred_verts)
    (folder / "evaluation_xyz.json").write_text(json.dumps(gt_xyz.tolist()))
    (folder / "evaluation_verts.json").write_text(json.dumps(gt_verts.tolist()))
    write_submission(folder / "pred.zip", pred_xyz, pred_verts, decimals=None)
    return folder, (pred_xyz, pred_verts, gt_xyz, gt_verts)


def test_score_ho3d_writes_the_scores(data):
    folder, arrays = data
    out = folder / "out" / "scores.json"
    result = run("score", "--benchmark", "ho3d", "--pred", folder / "pred.zip", "--gt", folder, "--out", out)
    assert result.returncode == 0, result.stderr
    written = json.loads(out.read_text())
    expected = score_ho3d(*arrays)
    assert written["samples"] == 8 and written["benchmark"] == "ho3d"
    for key, value in scalar_scores(expected).items():
        assert written[key] == pytest.approx(value, abs=1e-12), key
    assert len(written["curves"]["mesh_al"]) == 100
    assert "xyz_scale_trans_al_mean3d" in result.stdout and "F_15" in result.stdout


def test_score_refuses_missing_or_mismatched_input(data, tmp_path, capsys):
    # in-process (the script's parser and command, minus a torch import per run) to keep the suite fast
    folder, (pred_xyz, pred_verts, gt_xyz, gt_verts) = data
    assert main(["score", "--benchmark", "freihand", "--pred", str(folder / "pred.zip"), "--gt", str(tmp_path)]) == 2
    assert "evaluation_xyz.json: ground-truth file not found" in capsys.readouterr().err
    (tmp_path / "evaluation_xyz.json").write_text(json.dumps(gt_xyz.tolist()))
    (tmp_path / "evaluation_verts.json").write_text("[[[0.0, 0.0,")
    assert main(["score", "--benchmark", "ho3d", "--pred", str(folder / "pred.zip"), "--gt", str(tmp_path)]) == 2
    assert "evaluation_verts.json: corrupt JSON" in capsys.readouterr().err
    (tmp_path / "evaluation_verts.json").write_text(json.dumps(gt_verts.tolist()))
    write_submission(tmp_path / "short.json", pred_xyz[:5], pred_verts[:5])
    assert main(["score", "--benchmark", "ho3d", "--pred", str(tmp_path / "short.json"), "--gt", str(tmp_path)]) == 2
    assert "short.json holds 5 samples but the ground truth" in capsys.readouterr().err
    write_submission(tmp_path / "cv.json", opencv_to_opengl(pred_xyz), opencv_to_opengl(pred_verts))
    assert main(["score", "--benchmark", "ho3d", "--pred", str(tmp_path / "cv.json"), "--gt", str(tmp_path)]) == 2
    assert "must share the camera convention" in capsys.readouterr().err


def test_submit_check(data):
    folder, _ = data
    ok = run("submit", "--check", folder / "pred.zip", "--benchmark", "ho3d-v2", "--count", 8)
    assert ok.returncode == 0 and "OK for ho3d-v2: 8 samples" in ok.stdout, ok.stderr
    wrong = run("submit", "--check", folder / "pred.zip", "--benchmark", "freihand", "--count", 8)
    assert wrong.returncode == 2 and "sample 0: joints at mean z" in wrong.stderr


def test_submit_check_default_count(data, capsys):
    folder, _ = data
    assert main(["submit", "--check", str(folder / "pred.zip"), "--benchmark", "ho3d-v2"]) == 2
    assert "8 samples, ho3d-v2 expects 11524" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["score", "submit"])
def test_help(command):
    result = run(command, "--help")
    assert result.returncode == 0 and "--benchmark" in result.stdout
