"""Batched benchmark scores against the naive per-sample reference scorer, and hand-worked score values."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from s2hand.evaluation.reference import reference_score
from s2hand.evaluation.scoring import PAPER_NAMES, scalar_scores, score_freihand, score_ho3d
from s2hand.evaluation.synthetic import synthetic_hands, synthetic_predictions

FREIHAND_KEYS = [
    "xyz_mean3d", "xyz_auc3d", "xyz_al_mean3d", "xyz_al_auc3d", "mesh_mean3d", "mesh_auc3d",
    "mesh_al_mean3d", "mesh_al_auc3d", "f_score_5", "f_al_score_5", "f_score_15", "f_al_score_15",
]
HO3D_EXTRA = ["xyz_procrustes_al_mean3d", "xyz_procrustes_al_auc3d", "xyz_scale_trans_al_mean3d",
              "xyz_scale_trans_al_auc3d"]


def _assert_same(ours, reference):
    assert set(scalar_scores(ours)) == set(scalar_scores(reference))
    for key, value in scalar_scores(reference).items():
        assert ours[key] == pytest.approx(value, abs=1e-6), key
    for key, curve in reference["curves"].items():
        np.testing.assert_allclose(ours["curves"][key], curve, atol=1e-6, err_msg=key)


@pytest.fixture(scope="module")
def hands():
    gt_xyz, gt_verts, params = synthetic_hands(16, seed=5)
    pred_xyz, pred_verts = synthetic_predictions(params, seed=6)
    return pred_xyz, pred_verts, gt_xyz, gt_verts


@pytest.mark.parametrize("f_method", ["grid", "dense"])
def test_freihand_matches_reference(hands, f_method):
    ours = score_freihand(*hands, f_method=f_method)
    assert list(scalar_scores(ours))[:12] == FREIHAND_KEYS
    _assert_same(ours, reference_score(*hands))


def test_ho3d_matches_reference(hands):
    ours = score_ho3d(*hands)
    assert set(HO3D_EXTRA + FREIHAND_KEYS) <= set(ours)
    _assert_same(ours, reference_score(*hands, ho3d=True))


def test_random_clouds_match_reference():
    # not hands at all: Gaussian clouds with large errors, to reach every branch of the F-score search
    rng = np.random.default_rng(11)
    gt_xyz, gt_verts = rng.normal(0, 0.05, (12, 21, 3)), rng.normal(0, 0.05, (12, 778, 3))
    pred_xyz = gt_xyz + rng.normal(0, 0.02, gt_xyz.shape)
    pred_verts = gt_verts[:, rng.permutation(778)] + rng.normal(0, 0.004, gt_verts.shape)
    _assert_same(score_ho3d(pred_xyz, pred_verts, gt_xyz, gt_verts),
                 reference_score(pred_xyz, pred_verts, gt_xyz, gt_verts, ho3d=True))


def test_similar_copy_scores_perfectly_after_alignment(hands):
    _, _, gt_xyz, gt_verts = hands
    rot = Rotation.from_rotvec([0.3, -1.0, 2.0]).as_matrix() @ np.diag([1.0, -1.0, 1.0])  # with a mirror
    move = lambda p: 1.3 * p @ rot.T + [0.05, -0.02, 0.3]  # noqa: E731
    s = score_freihand(move(gt_xyz), move(gt_verts), gt_xyz, gt_verts)
    assert s["MPJPE"] == pytest.approx(0.0, abs=1e-4) and s["MPVPE"] == pytest.approx(0.0, abs=1e-4)
    # aligned errors are ~1e-9 m, not 0 (the official +1e-8 on the norms), so PCK(0) = 0: AUC = 1 − 0.5/99
    assert s["AUC_J"] == pytest.approx(1 - 0.5 / 99) and s["AUC_V"] == pytest.approx(1 - 0.5 / 99)
    assert s["F_5"] == 1.0 and s["F_15"] == 1.0
    assert s["xyz_mean3d"] > 10.0 and s["f_score_5"] < 0.5  # the raw scores see the transform


def test_units_and_paper_names(hands):
    _, _, gt_xyz, gt_verts = hands
    s = score_freihand(gt_xyz + [0.01, 0.0, 0.0], gt_verts + [0.0, 0.0, 0.01], gt_xyz, gt_verts)
    assert s["xyz_mean3d"] == pytest.approx(1.0) and s["mesh_mean3d"] == pytest.approx(1.0)  # 1 cm, in cm
    # 1 cm error: PCK is 0 below 1 cm and 1 from the first threshold above it; AUC in [0, 1]
    thresholds = np.asarray(s["curves"]["thresholds_m"])
    first = np.searchsorted(thresholds, 0.01 - 1e-12)
    assert s["xyz_auc3d"] == pytest.approx(np.trapezoid((thresholds >= thresholds[first]) * 1.0, thresholds) / 0.05)
    assert s["xyz_auc3d"] == pytest.approx(79.5 / 99)  # thresholds 20..99 of 0..99 (1 cm lies inside step 19-20)
    assert s["f_score_15"] == 1.0  # every vertex keeps a counterpart 1 cm away
    for paper, official in PAPER_NAMES.items():
        assert s[paper] == s[official]


def test_refuses_bad_input(hands):
    pred_xyz, pred_verts, gt_xyz, gt_verts = hands
    with pytest.raises(ValueError, match="pred_verts"):
        score_freihand(pred_xyz, pred_verts[:, :700], gt_xyz, gt_verts)
    bad = pred_xyz.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        score_freihand(bad, pred_verts, gt_xyz, gt_verts)


def test_cpu_scoring_is_single_threaded_and_restores_the_setting(hands, monkeypatch):
    import torch

    import s2hand.evaluation.scoring as scoring

    seen = []
    inner = scoring._score_tensors
    monkeypatch.setattr(scoring, "_score_tensors", lambda *a: seen.append(torch.get_num_threads()) or inner(*a))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        score_freihand(*(a[:2] for a in hands), device="cpu")
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
