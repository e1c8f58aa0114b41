"""Submission files: round trips, atomic writes, conversion to HO-3D, and every validator refusal."""
import json
import zipfile

import numpy as np
import pytest

from s2hand.errors import DataError
from s2hand.evaluation.submission import (
    atomic_write,
    export_submission,
    read_ground_truth,
    read_submission,
    to_benchmark_frame,
    validate_submission,
    write_submission,
)
from s2hand.evaluation.synthetic import synthetic_hands
from s2hand.hand.joints import FREIHAND_TO_HO3D


@pytest.fixture(scope="module")
def hands():
    xyz, verts, _ = synthetic_hands(6, seed=9)  # FreiHAND order, OpenCV (hand at +z), metres
    return xyz, verts


@pytest.mark.parametrize("name", ["pred.json", "pred.zip"])
def test_round_trip(tmp_path, hands, name):
    xyz, verts = hands
    path = write_submission(tmp_path / name, xyz, verts)
    got_xyz, got_verts = read_submission(path)
    np.testing.assert_allclose(got_xyz, xyz, atol=5e-7)  # rounded to 1 µm
    np.testing.assert_allclose(got_verts, verts, atol=5e-7)
    exact = read_submission(write_submission(tmp_path / name, xyz, verts, decimals=None))
    assert np.array_equal(exact[0], xyz) and np.array_equal(exact[1], verts)
    if name.endswith(".zip"):
        assert zipfile.ZipFile(path).namelist() == ["pred.json"]  # at the archive root
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "scores.json"
    target.write_text("old")

    def fail(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["scores.json"]


def test_export_for_ho3d_converts_order_and_both_conventions(tmp_path, hands):
    xyz, verts = hands
    report = export_submission(tmp_path / "pred.zip", xyz, verts, "ho3d-v3", count=6)
    got_xyz, got_verts = read_submission(tmp_path / "pred.zip")
    flip = np.array([1.0, -1.0, -1.0])
    np.testing.assert_allclose(got_xyz, xyz[:, list(FREIHAND_TO_HO3D)] * flip, atol=5e-7)
    np.testing.assert_allclose(got_verts, verts * flip, atol=5e-7)  # vertices flipped too
    assert report.count == 6 and report.depth_m[1] < 0
    same = to_benchmark_frame(xyz, verts, "freihand")
    assert np.array_equal(same[0], xyz) and np.array_equal(same[1], verts)


def test_validator_accepts_good_data(hands):
    report = validate_submission(*hands, "freihand", count=6)
    assert report.count == 6 and 0.05 < report.span_m[0] <= report.span_m[1] < 0.4


def _at(index, value, other=1.0):
    """Per-sample factor: ``value`` for sample ``index``, ``other`` for the rest (6 samples)."""
    return np.where(np.arange(6) == index, value, other)[:, None, None]


@pytest.mark.parametrize(
    "corrupt, benchmark, message",
    [
        (lambda x, v: (x[:5], v[:5]), "freihand", "5 samples, freihand expects 6"),
        (lambda x, v: (x[:, :20], v), "freihand", r"sample 0: joints of shape \(20, 3\)"),
        (lambda x, v: (x, v * _at(4, np.nan)), "freihand", "sample 4: vertices contain NaN"),
        (lambda x, v: (x * _at(2, np.inf), v), "freihand", "sample 2: joints contain NaN or inf"),
        (lambda x, v: (x * _at(3, 1000.0), v), "freihand", "sample 3: hand span .* metres"),  # millimetres
        (lambda x, v: (x, v * _at(1, 0.01)), "freihand", "sample 1: vertex extent"),
        (lambda x, v: (x * _at(5, -1.0), v), "freihand", r"sample 5: joints at mean z = -.*\+z \(OpenCV\)"),
        (lambda x, v: (x * [1.0, -1.0, -1.0], v), "ho3d-v2", r"sample 0: vertices at mean z = \+.*joints AND vert"),
    ],
    ids=["count", "shape", "nan", "inf", "units", "vertex-units", "freihand-sign", "ho3d-vertices-not-flipped"],
)
def test_validator_refusals_name_the_sample(hands, corrupt, benchmark, message):
    xyz, verts = corrupt(*hands)
    with pytest.raises(DataError, match=message):
        validate_submission(xyz, verts, benchmark, count=6)


def test_validator_default_counts(hands):
    with pytest.raises(DataError, match="6 samples, ho3d-v2 expects 11524 .*--count"):
        validate_submission(*hands, "ho3d-v2")
    with pytest.raises(DataError, match="ho3d-v3 expects 20137"):
        validate_submission(*hands, "ho3d-v3")
    with pytest.raises(DataError, match="freihand expects 3960"):
        validate_submission(*hands, "freihand")


def test_read_refusals(tmp_path, hands):
    xyz, verts = hands
    with pytest.raises(DataError, match="no such file"):
        read_submission(tmp_path / "missing.zip")
    (tmp_path / "bad.json").write_text("[[1, 2], ")
    with pytest.raises(DataError, match="bad.json: corrupt JSON"):
        read_submission(tmp_path / "bad.json")
    with zipfile.ZipFile(tmp_path / "nested.zip", "w") as archive:
        archive.writestr("results/pred.json", json.dumps([xyz.tolist(), verts.tolist()]))
    with pytest.raises(DataError, match="no pred.json at the archive root .*results/pred.json"):
        read_submission(tmp_path / "nested.zip")
    ragged = [xyz.tolist(), verts.tolist()]
    ragged[1][3] = ragged[1][3][:-1]
    (tmp_path / "ragged.json").write_text(json.dumps(ragged))
    with pytest.raises(DataError, match=r"sample 3: vertices of shape \(777, 3\)"):
        read_submission(tmp_path / "ragged.json")
    (tmp_path / "short.json").write_text(json.dumps([xyz.tolist(), verts[:2].tolist()]))
    with pytest.raises(DataError, match="equal length"):
        read_submission(tmp_path / "short.json")


def test_read_ground_truth_refusals(tmp_path, hands):
    xyz, verts = hands
    (tmp_path / "evaluation_xyz.json").write_text(json.dumps(xyz.tolist()))
    with pytest.raises(DataError, match="evaluation_verts.json: ground-truth file not found"):
        read_ground_truth(tmp_path)
    (tmp_path / "evaluation_verts.json").write_text(json.dumps(verts[:4].tolist()))
    with pytest.raises(DataError, match="holds 6 samples but .*evaluation_verts.json 4"):
        read_ground_truth(tmp_path)
