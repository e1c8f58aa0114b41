"""F-score: hand-worked point sets, the strict < boundary, and the CPU grid search against brute force."""
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

import s2hand.evaluation.fscore as fscore
from s2hand.evaluation.fscore import f_scores, has_neighbour_within

METHODS = ["grid", "dense"]


def _t(points):
    return torch.tensor(points, dtype=torch.float64)


@pytest.mark.parametrize("method", METHODS)
def test_known_small_sets(method):
    gt = _t([[[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]]])
    pred = _t([[[0.003, 0.0, 0.0], [0.001, 0.0, 0.0], [0.05, 0.0, 0.0]]])
    # 5 mm: 2 of 3 predicted points have a gt point within (P = 2/3); 1 of 2 gt points is reached (R = 1/2)
    # F = 2·(2/3)(1/2) / (2/3 + 1/2) = 4/7. At 15 mm nothing changes (0.05 and 0.1 are farther).
    f = f_scores(pred, gt, (0.005, 0.015), method)
    np.testing.assert_allclose(f.numpy(), [[4 / 7, 4 / 7]], atol=1e-15)
    # at 60 mm the third prediction reaches the second gt point: P = 1, R = 1
    assert float(f_scores(pred, gt, (0.06,), method)) == pytest.approx(1.0)


@pytest.mark.parametrize("method", METHODS)
def test_threshold_is_strict(method):
    gt = _t([[[0.0, 0.0, 0.0]]])
    pred = _t([[[0.005, 0.0, 0.0]]])  # exactly 5 mm away: not within (<, not <=)
    assert f_scores(pred, gt, (0.005, 0.015), method).tolist() == [[0.0, 1.0]]
    # F is 0 (not NaN) when neither precision nor recall has a point
    assert f_scores(pred, gt + 1.0, (0.005,), method).tolist() == [[0.0]]


@pytest.mark.parametrize("method", METHODS)
def test_same_index_shortcut_changes_nothing(method):
    # same shapes trigger the same-index shortcut; a shuffled copy of the gt must still score F = 1
    rng = np.random.default_rng(3)
    gt = rng.normal(0.0, 0.05, (4, 50, 3))
    pred = gt[:, rng.permutation(50)] + rng.normal(0.0, 1e-4, gt.shape)
    assert f_scores(_t(pred), _t(gt), (0.005,), method).tolist() == [[1.0]] * 4


def _brute_force(query, target, thresholds):
    hits = np.zeros(query.shape[:2] + (len(thresholds),), bool)
    for s in range(len(query)):
        nearest = cKDTree(target[s]).query(query[s])[0]
        for k, t in enumerate(thresholds):
            hits[s, :, k] = nearest < t
    return hits


def _clouds(rng, n_samples):
    """Hand-like clusters and edge cases: exact cell-boundary coordinates, duplicates, far-away samples."""
    query = rng.normal(0.0, 0.03, (n_samples, 120, 3)) + [0.0, 0.0, 0.7]
    target = query[:, :100] + rng.normal(0.0, 0.008, (n_samples, 100, 3))
    target[0] = np.round(target[0] / 0.005) * 0.005  # on cell boundaries
    query[0, :50] = target[0, :50] + [0.005, 0.0, 0.0]  # exactly at the threshold
    query[0, 50:60] = target[0, 50:60] + [0.015, 0.0, 0.0]
    target[1, 10:20] = target[1, 0:10]  # duplicate points
    query[2] += [0.5, 0.0, 0.0]  # far from its target: nothing within reach
    query[3, :5] = [[10.0, -10.0, 3.0]]  # outliers many cells away
    return query, target


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grid_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    query, target = _clouds(rng, 12)
    thresholds = (0.005, 0.015)
    expected = _brute_force(query, target, thresholds)
    for method in METHODS:
        got = has_neighbour_within(_t(query), _t(target), thresholds, method=method).numpy()
        assert (got == expected).all(), method
    # and the other direction (target as query), with different point counts
    expected = _brute_force(target, query, thresholds)
    assert (has_neighbour_within(_t(target), _t(query), thresholds).numpy() == expected).all()


def test_grid_chunking_and_dense_fallback(monkeypatch):
    rng = np.random.default_rng(7)
    query, target = _clouds(rng, 10)
    target[4, 0] += 5.0  # a sample spread over metres: its cell table exceeds the budget below
    expected = _brute_force(query, target, (0.005, 0.015))
    monkeypatch.setattr(fscore, "_MAX_CELLS", 20_000)  # several chunks, one sample searched densely
    monkeypatch.setattr(fscore, "_MAX_PAIRS", 64)  # many small candidate batches
    got = has_neighbour_within(_t(query), _t(target), (0.005, 0.015), method="grid").numpy()
    assert (got == expected).all()


def test_known_entries_are_kept():
    query = _t([[[0.0, 0.0, 0.0]]])
    target = _t([[[1.0, 0.0, 0.0]]])
    known = torch.tensor([[[False, True]]])  # e.g. settled by the same-index shortcut
    for method in METHODS:
        assert has_neighbour_within(query, target, (0.005, 0.015), known, method).tolist() == [[[False, True]]]
