"""Checkpoint → predictions → metrics (`s2hand evaluate`) on small synthetic FreiHAND and HO-3D layouts."""
from __future__ import annotations

import json

import numpy as np

import pytest

from s2hand.cli import main
from s2hand.config import load_spec
from s2hand.train.data_loading import build_loaders
from s2hand.train.loop import Trainer

SIZE = 64


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    assert main(["data", "synth", "--layout", "freihand", "--out", str(root / "frei"), "--train", "8", "--eval", "6",
                 "--image-size", "96", "--quiet"]) == 0
    assert main(["data", "synth", "--layout", "ho3d", "--out", str(root / "ho3d"), "--sequences", "2",
                 "--eval-sequences", "1", "--frames", "12", "--image-size", "96", "--quiet"]) == 0
    return root


def _checkpoint(tmp_path, spec_name, layout, root):
    overrides = [f"data.layout={layout}", f"data.root={root}", f"data.image_size={SIZE}", "train.batch_size=4",
                 "train.epochs=1", "train.max_steps_per_epoch=1", "data.num_workers=0", "model.use_2d_branch=false"]
    spec = load_spec(spec_name, overrides)
    train, _ = build_loaders(spec, with_eval=False)
    Trainer(spec, tmp_path, train).fit()
    return tmp_path / "checkpoint.pt"


def test_evaluate_freihand_layout(datasets, tmp_path):
    checkpoint = _checkpoint(tmp_path, "s2hand/pretrain_3d", "synthetic-freihand", datasets / "frei")
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--out", str(out), "--device", "cpu"]) == 0
    scores = json.loads(out.read_text())
    assert scores["samples"] == 6
    for key in ("MPJPE", "AUC_J", "MPVPE", "AUC_V", "F_5", "F_15", "xyz_mean3d", "mpjpe_2d_px"):
        assert key in scores and scores[key] == scores[key]  # present and not NaN
    assert 0 < scores["MPJPE"] < scores["xyz_mean3d"], "alignment can only reduce the error"
    assert "acc" not in scores, "still images have no accelerations"


def test_evaluate_video_layout_reports_smoothness_and_consistency(datasets, tmp_path):
    checkpoint = _checkpoint(tmp_path, "s2hand/pretrain_3d", "synthetic-ho3d", datasets / "ho3d")
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--out", str(out), "--fps", "30"]) == 0
    scores = json.loads(out.read_text())
    assert scores["samples"] == 12
    for key in ("acc", "acc_err", "acc_per_s2", "quat_loss", "shape_sd", "texture_sd", "MPJPE"):
        assert key in scores, key
    assert scores["acc_per_s2"] == pytest.approx(scores["acc"] * 900)


@pytest.mark.parametrize("benchmark,layout,folder", [("freihand", "synthetic-freihand", "frei"),
                                                     ("ho3d-v3", "synthetic-ho3d", "ho3d")])
def test_submit_from_checkpoint_then_score_against_the_synthetic_ground_truth(datasets, tmp_path, benchmark, layout,
                                                                               folder):
    import zipfile

    from s2hand.evaluation.submission import read_submission

    checkpoint = _checkpoint(tmp_path, "s2hand/pretrain_3d", layout, datasets / folder)
    out = tmp_path / "pred.zip"
    count = 6 if benchmark == "freihand" else 12
    assert main(["submit", "--checkpoint", str(checkpoint), "--benchmark", benchmark, "--data",
                 str(datasets / folder), "--out", str(out), "--count", str(count), "--device", "cpu"]) == 0
    assert zipfile.ZipFile(out).namelist() == ["pred.json"]
    xyz, verts = read_submission(out)
    assert xyz.shape == (count, 21, 3) and verts.shape == (count, 778, 3)
    expected_sign = 1 if benchmark == "freihand" else -1  # OpenCV vs OpenGL, joints and vertices alike
    assert (np.sign(xyz[..., 2]) == expected_sign).all() and (np.sign(verts[..., 2]) == expected_sign).all()
    assert main(["submit", "--check", str(out), "--benchmark", benchmark, "--count", str(count)]) == 0
    scores = tmp_path / "scores.json"
    assert main(["score", "--benchmark", benchmark.split("-")[0], "--pred", str(out), "--gt", str(datasets / folder),
                 "--out", str(scores)]) == 0
    assert json.loads(scores.read_text())["MPJPE"] > 0
