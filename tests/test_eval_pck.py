"""Per-point errors, PCK (inclusive <=), AUC, STB AUC and the 2D keypoint metrics, by hand-worked cases."""
import numpy as np
import pytest
import torch

from s2hand.evaluation.keypoints2d import mpjpe_2d, pck_2d
from s2hand.evaluation.pck import PCK_THRESHOLDS_M, STB_THRESHOLDS_M, auc, pck_curves, point_stats, stb_auc

T = PCK_THRESHOLDS_M


def test_pck_is_inclusive_at_exact_thresholds():
    d = torch.tensor([[0.0], [T[10]], [T[50]], [1.0]], dtype=torch.float64)  # 4 samples, 1 point
    curve = pck_curves(d, T)[0].numpy()
    assert curve[0] == 0.25  # error 0 counts at threshold 0 (<=, not <)
    assert curve[9] == 0.25 and curve[10] == 0.5  # an error equal to the threshold counts
    assert curve[49] == 0.5 and curve[50] == 0.75
    assert curve[99] == 0.75  # 1 m is never within 5 cm


def test_auc_hand_worked():
    at = torch.full((3, 1), T[50], dtype=torch.float64)  # every error exactly at threshold 50 of 0..99
    # PCK is 0 up to index 49 and 1 from 50: area = h·(0.5 + 49) out of 99·h
    assert float(auc(pck_curves(at, T), T)[0]) == pytest.approx(49.5 / 99, abs=1e-12)
    assert point_stats(torch.zeros(5, 2, dtype=torch.float64)).auc == pytest.approx(1.0)
    assert point_stats(torch.ones(5, 2, dtype=torch.float64)).auc == 0.0


def test_mean_is_per_point_then_over_points_and_curve_is_mean_of_points():
    d = torch.tensor([[0.01, 0.04], [0.03, 0.00]], dtype=torch.float64)  # 2 samples, 2 points
    stats = point_stats(d)
    assert stats.mean == pytest.approx(np.mean([np.mean([0.01, 0.03]), np.mean([0.04, 0.0])]))
    np.testing.assert_allclose(stats.curve, pck_curves(d, T).mean(0).numpy())
    k = np.searchsorted(T, 0.02)  # first threshold above 2 cm: point 0 has 1 of 2, point 1 has 1 of 2
    assert stats.curve[k] == 0.5


def test_stb_auc_over_20_to_50_mm():
    d = torch.full((4, 21), STB_THRESHOLDS_M[15], dtype=torch.float64)  # all at 35 mm
    stats = stb_auc(d)
    assert stats.thresholds[0] == pytest.approx(0.020) and stats.thresholds[-1] == pytest.approx(0.050)
    assert stats.auc == pytest.approx(15.5 / 30, abs=1e-12)
    assert stb_auc(torch.full((2, 21), 0.019, dtype=torch.float64)).auc == 1.0


def test_2d_mpjpe_and_pck():
    gt = torch.zeros(2, 21, 2, dtype=torch.float64)
    pred = gt.clone()
    pred[0, :, 0], pred[0, :, 1] = 3.0, 4.0  # 5 px everywhere in sample 0, 0 px in sample 1
    assert mpjpe_2d(pred, gt) == pytest.approx(2.5)
    np.testing.assert_allclose(pck_2d(pred, gt, np.array([0.0, 4.999, 5.0, 6.0])), [0.5, 0.5, 1.0, 1.0])
    valid = torch.zeros(2, 21, dtype=torch.bool)
    valid[0] = True  # only the 5 px sample counts
    assert mpjpe_2d(pred, gt, valid) == pytest.approx(5.0)
    np.testing.assert_allclose(pck_2d(pred, gt, np.array([4.0, 5.0]), valid), [0.0, 1.0])
