"""Procrustes (official align_w_scale) and HO-3D's scale-translation alignment, batched."""
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from s2hand.evaluation.alignment import procrustes_align, scale_translation_align
from s2hand.evaluation.reference import align_sc_tr, align_w_scale


def _random_similarities(n, rng, mirror):
    rot = Rotation.random(n, random_state=rng).as_matrix()
    if mirror:
        rot = rot @ np.diag([1.0, 1.0, -1.0])  # det = -1: a reflection
    return rot, rng.uniform(0.2, 5.0, n), rng.normal(0.0, 1.0, (n, 3))


@pytest.mark.parametrize("points", [21, 778])
@pytest.mark.parametrize("mirror", [False, True])
def test_similar_copy_aligns_exactly(points, mirror):
    rng = np.random.default_rng(points + mirror)
    gt = rng.normal(0.0, 0.05, (16, points, 3)) + [0.0, 0.0, 0.6]
    rot, scale, shift = _random_similarities(16, rng, mirror)
    pred = scale[:, None, None] * np.einsum("nij,npj->npi", rot, gt) + shift[:, None, :]
    aligned = procrustes_align(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()
    assert np.abs(pred - gt).max() > 0.01  # the copy really was moved
    # reflections are allowed (no determinant correction), so a mirrored copy aligns as well; the official +1e-8
    # on both norms leaves a relative scale error of about 1e-8 / ‖gt − mean‖ (here ~1e-7, i.e. < 0.1 µm)
    np.testing.assert_allclose(aligned, gt, atol=1e-7)


def test_matches_official_align_w_scale_per_sample():
    rng = np.random.default_rng(0)
    gt, pred = rng.normal(size=(32, 21, 3)), rng.normal(size=(32, 21, 3))
    ours = procrustes_align(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()
    official = np.stack([align_w_scale(g, p) for g, p in zip(gt, pred)])
    np.testing.assert_allclose(ours, official, atol=1e-12)


def test_scale_translation_align_hand_worked():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(4, 21, 3))
    pred = 2.5 * gt + [1.0, -2.0, 3.0]  # scaled and shifted, same shape: aligns exactly
    aligned = scale_translation_align(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()
    np.testing.assert_allclose(aligned, gt, atol=1e-12)
    # a rotated prediction keeps its rotation: only scale (from J4 - J0) and the wrist are matched
    rot = Rotation.from_rotvec([0.0, 0.0, np.pi / 2]).as_matrix()
    turned = scale_translation_align(torch.from_numpy(gt @ rot.T), torch.from_numpy(gt)).numpy()
    np.testing.assert_allclose(turned[:, 0], gt[:, 0], atol=1e-12)
    assert np.abs(turned - gt).max() > 0.1


def test_scale_translation_align_zero_bone_quirk():
    # the official align_sc_tr does not divide by a zero-length reference bone
    rng = np.random.default_rng(2)
    gt, pred = rng.normal(size=(3, 21, 3)), rng.normal(size=(3, 21, 3))
    pred[1, 4] = pred[1, 0]
    ours = scale_translation_align(torch.from_numpy(pred), torch.from_numpy(gt)).numpy()
    official = np.stack([align_sc_tr(g, p) for g, p in zip(gt, pred)])
    assert np.isfinite(ours).all()
    np.testing.assert_allclose(ours, official, atol=1e-12)
