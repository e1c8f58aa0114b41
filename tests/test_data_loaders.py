"""Loaders on tiny fixtures written in the official layouts: FreiHAND (four versions), HO-3D v2/v3 (restricted
meta pickles, crops, OpenGL), STB (mirrored left hands), YT 3D (orthographic); bad input named by file and index."""
from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from s2hand.config.spec import DataSpec
from s2hand.data import HandDataset, build_dataset, open_source
from s2hand.data import stb as stb_module
from s2hand.data.detections import Detections, load_detections, save_detections
from s2hand.data.synth import load_records
from s2hand.data.transforms import apply_to_points, crop_to, square_box
from s2hand.errors import DataError, UnsafePickleError
from s2hand.hand.joints import freihand_to_ho3d, opencv_to_opengl, opengl_to_opencv
from test_data_fixtures import FREIHAND, SIZE, scratch, synthetic_freihand, synthetic_ho3d, write_ho3d_v2_fixture


def _project(joints: torch.Tensor, K: torch.Tensor) -> np.ndarray:
    p = joints.double() @ K.double().T
    return (p[:, :2] / p[:, 2:]).numpy()


def _copy(root, name):
    target = scratch(name) / "data"
    shutil.copytree(root, target)
    return target


def test_freihand_sample_fields_and_k_follow_the_resize():
    root = synthetic_freihand()
    records = load_records(root, "train")
    dataset = build_dataset(DataSpec(layout="freihand", root=root, augment={"rotation": False}), "train")
    assert len(dataset) == FREIHAND.train
    sample = dataset[5]
    assert sample["image"].shape == (3, 224, 224) and sample["image"].dtype == torch.float32
    assert 0 <= sample["image"].min() and sample["image"].max() <= 1
    assert not sample["orthographic"] and int(sample["sequence"]) == 5 and int(sample["index"]) == 5
    assert set(sample) >= {"K", "joints3d", "mano", "scale", "keypoints2d", "confidence"}
    scale = 224 / SIZE  # the 96-px files are resized to the 224-px network input; K follows
    np.testing.assert_allclose(_project(sample["joints3d"], sample["K"]), records["keypoints"][5] * scale, atol=2e-3)
    evaluation = build_dataset(DataSpec(layout="freihand", root=root), "evaluation")
    assert "vertices" in evaluation[0] and len(evaluation) == FREIHAND.evaluation
    batch = torch.utils.data.default_collate([dataset[i] for i in range(3)])
    assert batch["image"].shape == (3, 3, 224, 224) and batch["K"].shape == (3, 3, 3)


def test_freihand_background_versions():
    root = _copy(synthetic_freihand(), "versions")
    n = FREIHAND.train
    for version in (1, 2, 3):  # version v of sample i is image i + v·N
        for i in range(n):
            shutil.copy(root / f"training/rgb/{i:08d}.jpg", root / f"training/rgb/{i + version * n:08d}.jpg")
    assert len(open_source("freihand", root, "train")) == 4 * n
    hom = open_source("freihand", root, "train-hom")
    assert hom.keys[0] == f"training/rgb/{n:08d}.jpg" and hom.versions == ("hom",)
    np.testing.assert_allclose(hom.annotation(3).joints3d, open_source("freihand", root, "train-gs").annotation(3).joints3d)
    assert len(open_source("freihand", root, "train-gs+auto")) == 2 * n
    with pytest.raises(DataError, match="unknown version 'blue'"):
        open_source("freihand", root, "train-blue")
    (root / "detections/train.json").unlink()  # it covers version gs only
    dataset = HandDataset(open_source("freihand", root, "train"), 64, require_detections=False)
    assert len(dataset) == 4 * n and dataset[n + 2]["joints3d"].shape == (21, 3)


def test_ho3d_v3_crop_k_and_ground_truth():
    root = synthetic_ho3d()
    train = build_dataset(DataSpec(layout="ho3d", root=root, augment={"rotation": False}), "train")
    records = load_records(root, "train")
    source = train.source
    assert source.version == 3 and source.sequence_names == ["S0000", "S0001"] and len(train) == 20
    sample = train[13]
    assert int(sample["sequence"]) == 1 and int(sample["frame"]) == 3
    np.testing.assert_allclose(sample["joints3d"].numpy(), records["joints"][13], atol=1e-5)  # OpenCV, FreiHAND
    uv = _project(sample["joints3d"], sample["K"])
    box_centre, side = square_box(records["keypoints"][13], 1.5)
    np.testing.assert_allclose(uv, apply_to_points(crop_to(box_centre, side, 224), records["keypoints"][13]), atol=2e-2)
    np.testing.assert_allclose((uv.min(0) + uv.max(0)) / 2, [112, 112], atol=0.5)  # the hand sits in the crop centre
    evaluation = build_dataset(DataSpec(layout="ho3d", root=root), "evaluation")
    eval_records = load_records(root, "evaluation")
    sample = evaluation[4]
    np.testing.assert_allclose(sample["joints3d"].numpy(), eval_records["joints"][4], atol=2e-6)
    np.testing.assert_allclose(sample["vertices"].numpy(), eval_records["vertices"][4], atol=2e-6)


def test_ho3d_v2_protocol2_pickles_and_opengl_round_trip():
    root = scratch("ho3d-v2")
    truth = write_ho3d_v2_fixture(root)
    source = open_source("ho3d", root, "train")
    assert source.version == 2 and source.keys[0] == "train/ABF10/rgb/0000.png"
    dataset = HandDataset(source, 128, require_detections=False)
    for i, (cv, uv) in enumerate(truth["train"]):
        sample = dataset[i]
        np.testing.assert_allclose(sample["joints3d"].numpy(), cv, atol=1e-6)  # OpenGL file -> OpenCV sample
        centre, side = square_box(uv, 1.5)
        np.testing.assert_allclose(_project(sample["joints3d"], sample["K"]),
                                   apply_to_points(crop_to(centre, side, 128), uv), atol=1e-3)
        # and back: OpenCV -> OpenGL gives the meta's joints (HO-3D order)
        meta = pickle.loads((root / "train/ABF10/meta" / f"{i:04d}.pkl").read_bytes())
        np.testing.assert_allclose(opencv_to_opengl(freihand_to_ho3d(sample["joints3d"].double().numpy())),
                                   meta["handJoints3D"], atol=1e-6)
    evaluation = HandDataset(open_source("ho3d", root, "evaluation"), 128, require_detections=False)
    cv, uv = truth["evaluation"][1]
    sample = evaluation[1]
    np.testing.assert_allclose(sample["joints3d"].numpy(), cv, atol=1e-6)
    centre, side = square_box(uv, 1.5)  # evaluation crops come from handBoundingBox
    np.testing.assert_allclose(_project(sample["joints3d"], sample["K"]),
                               apply_to_points(crop_to(centre, side, 128), uv), atol=1e-3)
    x = np.random.default_rng(0).normal(size=(5, 3))
    np.testing.assert_array_equal(opengl_to_opencv(opencv_to_opengl(x)), x)


def test_ho3d_meta_with_foreign_code_is_refused():
    root = scratch("ho3d-evil")
    write_ho3d_v2_fixture(root, frames=1)

    class Evil:
        def __reduce__(self):
            import os

            return os.system, ("echo pwned",)

    path = root / "train/ABF10/meta/0000.pkl"
    path.write_bytes(pickle.dumps({"camMat": Evil()}, protocol=2))
    dataset = HandDataset(open_source("ho3d", root, "train"), 64, require_detections=False)
    with pytest.raises(UnsafePickleError, match=r"0000\.pkl.*posix\.system|0000\.pkl.*os\.system"):
        dataset[0]


def _stb_fixture(root, frames=2):
    rng = np.random.default_rng(1)
    truth = {}
    (root / "labels").mkdir(parents=True)
    for name in stb_module.TRAIN_SEQUENCES + stb_module.EVAL_SEQUENCES:
        cv = np.array([0.02, -0.01, 0.45]) + rng.normal(0, 0.025, (frames, 21, 3))  # colour camera, FreiHAND order
        stb = np.zeros_like(cv)
        stb[:, list(stb_module.STB_TO_FREIHAND)] = cv
        stb[:, 0] = cv[:, 9] + (cv[:, 0] - cv[:, 9]) / stb_module.PALM_TO_WRIST  # the palm centre STB stores
        depth = (stb * 1000.0) @ stb_module.SK_ROTATION.T + stb_module.SK_TRANSLATION_MM
        scipy.io.savemat(root / "labels" / f"{name}_SK.mat", {"handPara": np.transpose(depth, (2, 1, 0))})
        (root / "images" / name).mkdir(parents=True)
        for i in range(frames):
            Image.new("RGB", (640, 480), (i * 50, 80, 30)).save(root / "images" / name / f"SK_color_{i}.png")
        truth[name] = cv
    return truth


def test_stb_sequences_conversion_and_mirroring():
    root = scratch("stb")
    truth = _stb_fixture(root)
    train, evaluation = open_source("stb", root, "train"), open_source("stb", root, "evaluation")
    assert len(train) == 20 and len(evaluation) == 4 and train.sequence_names[0] == "B2Counting"
    assert evaluation.sequence_names == ["B1Counting", "B1Random"] and list(evaluation.frame) == [0, 1, 0, 1]
    np.testing.assert_allclose(evaluation.annotation(1).joints3d, truth["B1Counting"][1], atol=1e-9)
    dataset = HandDataset(evaluation, 128, require_detections=False)
    sample = dataset[1]
    mirrored = truth["B1Counting"][1] * np.array([-1.0, 1.0, 1.0])  # STB's left hand becomes a right hand
    np.testing.assert_allclose(sample["joints3d"].numpy(), mirrored, atol=1e-6)
    uv = _project(sample["joints3d"], sample["K"])
    K = sample["K"].numpy()
    assert abs(K[0, 1]) < 1e-6 and K[0, 0] > 0, "mirroring keeps a proper intrinsic matrix"
    np.testing.assert_allclose((uv.min(0) + uv.max(0)) / 2, [64, 64], atol=0.5)


def test_yt3d_is_orthographic_sequences():
    root = scratch("yt3d")
    for s, name in enumerate(("clipA_000", "clipB_000")):
        (root / "frames" / name).mkdir(parents=True)
        for f in range(4):
            Image.new("RGB", (128, 128), (s * 100, f * 40, 50)).save(root / "frames" / name / f"{f:06d}.jpg")
    lines = [f"{name}/{f:06d}" for name in ("clipA_000", "clipB_000") for f in range(4)]
    (root / "train.txt").write_text("\n".join(lines) + "\n")
    keypoints = np.tile(np.linspace(20, 100, 21)[:, None], (8, 1, 2)).reshape(8, 21, 2)
    save_detections(root / "detections/train.json",
                    Detections(keypoints, np.full((8, 21), 0.9), [f"frames/{line}.jpg" for line in lines], {"name": "test"}))
    dataset = build_dataset(DataSpec(layout="yt3d", root=root, augment={"rotation": False}), "train")
    sample = dataset[5]
    assert bool(sample["orthographic"]) and "K" not in sample and int(sample["sequence"]) == 1
    assert int(sample["frame"]) == 1
    np.testing.assert_allclose(sample["keypoints2d"].numpy(), keypoints[5] * 224 / 128, atol=1e-4)
    assert list(dataset.sequence_ids) == [0, 0, 0, 0, 1, 1, 1, 1]


# ------------------------------------------------------------------------------------------- bad input


def test_missing_image_is_named_or_skipped_and_counted():
    root = _copy(synthetic_freihand(), "missing")
    (root / "training/rgb/00000005.jpg").unlink()
    with pytest.raises(DataError, match=r"00000005\.jpg \(sample 5\)"):
        build_dataset(DataSpec(layout="freihand", root=root), "train")
    dataset = build_dataset(DataSpec(layout="freihand", root=root, skip_bad=True), "train")
    assert len(dataset) == FREIHAND.train - 1 and len(dataset.skipped) == 1
    assert dataset.skipped[0].index == 5 and "1 skipped (1 missing image file)" in dataset.report()


def test_corrupt_image_is_named_or_skipped_when_met():
    root = _copy(synthetic_freihand(), "corrupt")
    path = root / "training/rgb/00000003.jpg"
    path.write_bytes(path.read_bytes()[:200])  # truncated JPEG
    dataset = build_dataset(DataSpec(layout="freihand", root=root), "train")
    with pytest.raises(DataError, match=r"corrupt image .*00000003\.jpg \(sample 3\)"):
        dataset[3]
    tolerant = build_dataset(DataSpec(layout="freihand", root=root, skip_bad=True), "train")
    assert int(tolerant[3]["index"]) == 4  # the next good sample stands in
    assert [b.index for b in tolerant.skipped] == [3] and "corrupt image" in tolerant.report()


def test_truncated_or_malformed_json_names_the_file_and_entry():
    root = _copy(synthetic_freihand(), "json")
    text = (root / "training_xyz.json").read_text()
    (root / "training_xyz.json").write_text(text[: len(text) // 2])
    with pytest.raises(DataError, match=r"training_xyz\.json: invalid JSON.*truncated"):
        open_source("freihand", root, "train")
    K = json.loads((root / "training_K.json").read_text())
    K[7] = [[1, 2], [3, 4]]
    (root / "training_K.json").write_text(json.dumps(K))
    with pytest.raises(DataError, match=r"training_K\.json: entry 7 has shape \(2, 2\), expected \(3, 3\)"):
        open_source("freihand", root, "train")


def test_detection_count_mismatch_names_file_and_index():
    root = _copy(synthetic_freihand(), "detcount")
    full = load_detections(root / "detections/train.json")
    short = Detections(full.keypoints[:-1], full.confidence[:-1], full.images[:-1], full.detector, "train")
    save_detections(root / "detections/train.json", short)
    last = FREIHAND.train - 1
    with pytest.raises(DataError, match=rf"train\.json: no detection for 1 of {FREIHAND.train} images \(first: sample "
                                        rf"{last}, training/rgb/{last:08d}\.jpg\)"):
        build_dataset(DataSpec(layout="freihand", root=root), "train")
    dataset = build_dataset(DataSpec(layout="freihand", root=root, skip_bad=True), "train")
    assert len(dataset) == last and dataset.skipped[0].index == last
    unnamed = Detections(full.keypoints[:-1], full.confidence[:-1], None)
    save_detections(root / "detections/train.json", unnamed)
    with pytest.raises(DataError, match=rf"first: sample {last}"):
        build_dataset(DataSpec(layout="freihand", root=root), "train")


def test_training_split_without_detections_says_how_to_make_them():
    root = _copy(synthetic_freihand(), "nodet")
    shutil.rmtree(root / "detections")
    with pytest.raises(DataError, match="s2hand detect --data"):
        build_dataset(DataSpec(layout="freihand", root=root), "train")
    assert len(build_dataset(DataSpec(layout="freihand", root=root), "evaluation")) == FREIHAND.evaluation


def test_embedded_synthetic_data_is_generated_once(tmp_path):
    spec = DataSpec(layout="synthetic-freihand", augment={"rotation": False})
    sizes = {"train": 4, "evaluation": 2, "image_size": 64}
    dataset = build_dataset(spec, cache_dir=tmp_path, synthetic=sizes)
    assert len(dataset) == 4 and dataset[0]["keypoints2d"].shape == (21, 2)
    (root,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    stamp = (root / "training_xyz.json").stat().st_mtime_ns
    assert len(build_dataset(spec, "evaluation", cache_dir=tmp_path, synthetic=sizes)) == 2
    assert (root / "training_xyz.json").stat().st_mtime_ns == stamp
