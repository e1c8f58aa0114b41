"""Detections: the file format, S2HAND's OpenPose import, alignment to images, and the synthetic detector's
documented noise (seeded rates)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from s2hand.config.spec import DataSpec
from s2hand.data import build_dataset, open_source
from s2hand.data.detect import detect, guess_layout
from s2hand.data.detections import Detections, align, import_openpose, load_detections, save_detections
from s2hand.data.synthetic_detector import NoiseModel, synthetic_detections, visibility_from_depth
from s2hand.errors import DataError
from test_data_fixtures import FREIHAND, scratch, synthetic_freihand, synthetic_ho3d, write_ho3d_v2_fixture


def test_format_round_trip_and_validation(tmp_path):
    rng = np.random.default_rng(0)
    det = Detections(rng.uniform(0, 224, (5, 21, 2)), rng.uniform(0, 1, (5, 21)), [f"a/{i}.jpg" for i in range(5)],
                     {"name": "x", "version": "1"}, "train")
    path = save_detections(tmp_path / "d.json", det)
    back = load_detections(path)
    np.testing.assert_allclose(back.keypoints, det.keypoints, atol=0.005)
    np.testing.assert_allclose(back.confidence, det.confidence, atol=5e-5)
    assert back.images == det.images and back.detector == {"name": "x", "version": "1"} and back.split == "train"
    data = json.loads(path.read_text())
    assert data["format"] == "s2hand-detections" and data["version"] == 1
    data["keypoints"][3] = [[1, 2]] * 20
    path.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"keypoints entry 3 has \(20, 2\), expected \(21, 2\)"):
        load_detections(path)
    path.write_text('{"format": "something else"}')
    with pytest.raises(DataError, match="not a detection file"):
        load_detections(path)


def _openpose_file(path, names):
    rng = np.random.default_rng(1)
    peaks, values = [], []
    for i in range(len(names)):
        peak = rng.uniform(10, 200, (21, 2)).round()
        value = list(rng.uniform(0.2, 0.9, 21))
        if i == 1:  # a raw dump: joints 4 and 9 undetected, peak [0, 0], their values left out
            peak[[4, 9]] = 0
            value = [v for j, v in enumerate(value) if j not in (4, 9)]
        peaks.append(peak.tolist())
        values.append([[v] for v in value])
    path.write_text(json.dumps([peaks, values, [[n] for n in names]]))
    return np.asarray(peaks)


def test_openpose_import_restores_missing_values_and_matches_names(tmp_path):
    n = FREIHAND.train
    names = [f"{i:08d}.jpg" for i in reversed(range(n))]  # any order: matched by file name
    peaks = _openpose_file(tmp_path / "detect_all.json", names)
    det = import_openpose(tmp_path / "detect_all.json")
    assert det.detector["name"] == "openpose" and det.images == names
    assert det.confidence[1, 4] == 0 and det.confidence[1, 9] == 0 and (det.confidence[1, [0, 5, 20]] > 0).all()
    source = open_source("freihand", synthetic_freihand(), "train")
    aligned = align(det, source.keys, "x")
    assert len(aligned.missing) == 0
    np.testing.assert_allclose(aligned.keypoints[0], peaks[n - 1])  # image 0 is the last entry of the file
    # the loader reads the OpenPose file directly too
    dataset = build_dataset(DataSpec(layout="freihand", root=synthetic_freihand(), detections=tmp_path / "detect_all.json",
                                     augment={"rotation": False}), "train")
    assert np.isclose(float(dataset[n - 2]["confidence"][4]), 0.0)


def test_synthetic_noise_model_rates_are_as_documented():
    rng = np.random.default_rng(0)
    n = 6000
    truth = rng.uniform(30, 194, (n, 1, 2)) + rng.normal(0, 25, (n, 21, 2))
    truth = np.clip(truth, 12, 212)  # well inside a 224 image: no border effects here
    visible = rng.random((n, 21)) < 0.7
    model = NoiseModel()
    kp, conf = synthetic_detections(truth, visible, (224, 224), seed=3)
    kp2, conf2 = synthetic_detections(truth, visible, (224, 224), seed=3)
    assert np.array_equal(kp, kp2) and np.array_equal(conf, conf2), "seeded"
    assert not np.array_equal(kp, synthetic_detections(truth, visible, (224, 224), seed=4)[0])
    missed = conf == 0
    assert abs(missed.mean() - model.p_miss) < 0.004
    assert np.all(kp[missed] == 0)
    error = np.linalg.norm(kp - truth, axis=-1)
    gross = (error > 20) & ~missed
    assert 0.012 < gross.mean() < 0.05, "wild joints (1.5 %) plus swapped fingers (4 % of images)"
    fine = ~gross & ~missed
    # visible: σ = 1.5 px × (1 + 2q), q ~ Beta(2, 5) (mean 2/7): median radius ≈ 1.18 σ ≈ 2.8 px (tips ×1.3)
    assert 2.4 < np.median(error[fine & visible]) < 3.6
    assert np.median(error[fine & ~visible]) > 2.5 * np.median(error[fine & visible])
    assert conf[visible & fine].mean() > 0.7 > 0.35 > conf[~visible & fine].mean()
    assert conf.min() >= 0 and conf.max() <= 1


def test_synthetic_noise_at_the_image_border():
    truth = np.tile(np.array([[-5.0, 100.0], [2.0, 100.0], [112.0, 112.0]]), (400, 7, 1))
    kp, conf = synthetic_detections(truth, np.ones((400, 21), bool), (224, 224), seed=0,
                                    model=NoiseModel(p_wild=0, p_swap=0, p_miss=0))
    assert (conf[:, 0::3] == 0).mean() > 0.95 and (kp[:, 0::3][conf[:, 0::3] == 0] == 0).all()
    assert conf[:, 1::3].mean() < 0.5 * conf[:, 2::3].mean(), "confidence drops near the border"


def test_visibility_from_depth():
    kp = np.array([[[10.0, 10.0], [12.0, 11.0], [80.0, 80.0]]])
    depth = np.array([[0.50, 0.45, 0.50]])  # joint 1 is 5 cm nearer and covers joint 0
    assert visibility_from_depth(kp, depth).tolist() == [[False, True, True]]


def test_detect_synthetic_on_generated_and_real_layouts(tmp_path):
    root = synthetic_freihand()
    assert guess_layout(root) == "freihand" and guess_layout(synthetic_ho3d()) == "ho3d"
    path = detect(root, tmp_path / "frei.json", "synthetic", seed=9, progress=False)
    det = load_detections(path)
    assert len(det) == FREIHAND.train and det.detector["name"] == "synthetic" and det.detector["seed"] == 9
    assert det.images[0] == "training/rgb/00000000.jpg"
    real = scratch("detect-v2")
    write_ho3d_v2_fixture(real)
    det = load_detections(detect(real, tmp_path / "ho3d.json", "synthetic", progress=False))
    assert len(det) == 3 and det.images[0] == "train/ABF10/rgb/0000.png"
    with pytest.raises(DataError, match="unknown detector"):
        detect(root, tmp_path / "x.json", "openpose", progress=False)
