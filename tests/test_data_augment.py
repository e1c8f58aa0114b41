"""Augmentation: image, K, keypoints and 3D points move together; pixel conventions of the warp."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s2hand.config.spec import AugmentSpec, DataSpec
from s2hand.data import build_dataset
from s2hand.data.augment import Augmentation, color_jitter, sample_augmentation
from s2hand.data.synth import load_records
from s2hand.data.transforms import apply_to_points, crop_to, rotation_z, warp_image
from test_data_fixtures import SIZE, synthetic_freihand

MARKS = {(255, 0, 0): (20.5, 30.5), (0, 255, 0): (70.5, 25.5), (0, 0, 255): (45.5, 80.5)}


def _marked(size=100):
    image = np.full((size, size, 3), 128, np.uint8)
    for color, (x, y) in MARKS.items():
        image[int(y) - 1:int(y) + 2, int(x) - 1:int(x) + 2] = color  # 3×3 blob centred on the mark
    return image


def _find(image, color):
    distance = np.abs(image.astype(int) - np.array(color)).sum(-1)
    ys, xs = np.nonzero(distance < 120)
    weights = 1.0 / (1.0 + distance[ys, xs])
    return np.array([(xs * weights).sum(), (ys * weights).sum()]) / weights.sum() + 0.5  # pixel centres at +0.5


@pytest.mark.parametrize("aug", [Augmentation(angle=0.9), Augmentation(angle=-2.5, zoom=1.2, shift=(6.0, -4.0)),
                                 Augmentation(zoom=0.8)])
def test_rotated_keypoints_land_on_the_rotated_marks(aug):
    image = _marked()
    A = aug.affine(100)
    warped = warp_image(image, A, 100)
    for color, point in MARKS.items():
        expected = apply_to_points(A, np.array([point]))[0]
        assert np.linalg.norm(_find(warped, color) - expected) < 0.6, (color, aug)


def test_crop_resize_keeps_pixel_centres():
    image = _marked()
    A = crop_to((45.0, 55.0), 80.0, 224)  # zoom into an 80-px window holding all marks
    warped = warp_image(image, A, 224)
    for color, point in MARKS.items():
        np.testing.assert_allclose(_find(warped, color), apply_to_points(A, np.array([point]))[0], atol=1.0)


def test_rotating_3d_points_and_k_matches_rotating_keypoints():
    rng = np.random.default_rng(0)
    points = rng.normal(0, 0.05, (21, 3)) + [0.0, 0.0, 0.6]
    for fx, fy in ((500.0, 500.0), (520.0, 480.0)):
        K = np.array([[fx, 0.0, 108.0], [0.0, fy, 117.0], [0.0, 0.0, 1.0]])
        aug = Augmentation(angle=1.3, zoom=1.1)
        A, R = aug.affine(224), aug.rotation3d()
        uv = points @ K.T
        uv = uv[:, :2] / uv[:, 2:]
        K_new = A @ K @ R.T
        moved = (points @ R.T) @ K_new.T
        np.testing.assert_allclose(moved[:, :2] / moved[:, 2:], apply_to_points(A, uv), atol=1e-9)
        if fx == fy:  # an in-plane rotation of a square-pixel camera stays a proper intrinsic matrix
            assert abs(K_new[0, 1]) < 1e-9 and abs(K_new[1, 0]) < 1e-9 and np.isclose(K_new[0, 0], fx * 1.1)
    assert np.allclose(rotation_z(0.3)[2], [0, 0, 1])


def test_dataset_rotation_moves_image_k_keypoints_and_joints_together():
    root = synthetic_freihand()
    spec = DataSpec(layout="freihand", root=root, augment={"rotation": True, "scale_jitter": 0.2, "crop_jitter": 0.1})
    dataset = build_dataset(spec, "train", seed=7)
    records = load_records(root, "train")
    raw = dataset.keypoints[2], dataset.confidence[2]
    sample = dataset[2]
    aug = dataset.augmentation(2)
    assert aug.angle != 0 and aug.zoom != 1
    A = aug.affine(224) @ crop_to((SIZE / 2, SIZE / 2), SIZE, 224)
    detected = raw[1] > 0
    np.testing.assert_allclose(sample["keypoints2d"].numpy()[detected], apply_to_points(A, raw[0])[detected], atol=1e-3)
    p = sample["joints3d"].double() @ sample["K"].double().T
    np.testing.assert_allclose((p[:, :2] / p[:, 2:]).numpy(), apply_to_points(A, records["keypoints"][2]), atol=5e-3)
    np.testing.assert_allclose(sample["joints3d"].numpy(), records["joints"][2] @ aug.rotation3d().T, atol=1e-5)
    # deterministic per (seed, epoch, index); a new epoch draws anew
    assert torch.equal(dataset[2]["image"], sample["image"])
    dataset.set_epoch(1)
    assert dataset.augmentation(2) != aug


def test_augmentation_draws_respect_the_spec():
    rng = np.random.default_rng(0)
    spec = AugmentSpec(rotation=True, rotation_max_deg=30, crop_jitter=0.1, scale_jitter=0.2, color_jitter=0.3)
    draws = [sample_augmentation(spec, 224, rng) for _ in range(300)]
    assert max(abs(d.angle) for d in draws) <= math.radians(30) + 1e-12
    assert max(abs(d.zoom - 1) for d in draws) <= 0.2 and max(max(map(abs, d.shift)) for d in draws) <= 22.4
    assert all(0.7 <= d.saturation <= 1.3 for d in draws)
    off = sample_augmentation(AugmentSpec(rotation=False), 224, rng)
    assert off == Augmentation()
    image = np.random.default_rng(1).random((8, 8, 3), dtype=np.float32)
    assert np.array_equal(color_jitter(image.copy(), Augmentation()), image)
    jittered = color_jitter(image.copy(), Augmentation(brightness=1.5, contrast=0.5, saturation=1.2))
    assert 0 <= jittered.min() and jittered.max() <= 1 and not np.allclose(jittered, image)
    gray = np.full((4, 4, 3), 0.5, np.float32)  # contrast and saturation leave a mid-gray image alone
    np.testing.assert_allclose(color_jitter(gray.copy(), Augmentation(contrast=1.4, saturation=0.3)), gray, atol=1e-6)
