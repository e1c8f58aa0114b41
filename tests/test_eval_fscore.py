"""F-score: hand-worked point sets, the strict < at exactly t, adversarial near-threshold points, and agreement
with the reference (scipy KD-tree, float64, per sample) for both directions of the nearest-neighbour test."""
import numpy as np
import pytest
import torch
from scipy.spatial import cKDTree

import s2hand.evaluation.fscore as fscore
from s2hand.evaluation.alignment import procrustes_align
from s2hand.evaluation.fscore import F_THRESHOLDS_M, f_scores, neighbour_hits
from s2hand.evaluation.reference import calculate_fscore
from s2hand.evaluation.synthetic import synthetic_hands, synthetic_predictions

METHODS = ["matmul", "dense"]
CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def _t(points):
    return torch.as_tensor(np.ascontiguousarray(points, dtype=np.float64))


def _brute_force(query, target, thresholds=F_THRESHOLDS_M):
    """(N, n, T) bool: the reference's test, scipy's KD-tree distance < t, per sample."""
    query, target = np.asarray(query, np.float64), np.asarray(target, np.float64)
    hits = np.zeros(query.shape[:2] + (len(thresholds),), bool)
    for s in range(len(query)):
        nearest = cKDTree(target[s]).query(query[s])[0]
        hits[s] = nearest[:, None] < np.asarray(thresholds)
    return hits


def _reference_f(pred, gt, thresholds=F_THRESHOLDS_M):
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    return np.array([[calculate_fscore(gt[s], pred[s], t) for t in thresholds] for s in range(len(gt))])


def _assert_hits(query, target, method, thresholds=F_THRESHOLDS_M):
    q_hits, t_hits = neighbour_hits(_t(query), _t(target), thresholds, method)
    np.testing.assert_array_equal(q_hits.numpy(), _brute_force(query, target, thresholds))
    np.testing.assert_array_equal(t_hits.numpy(), _brute_force(target, query, thresholds))


@pytest.mark.parametrize("method", METHODS)
def test_known_small_sets(method):
    gt = _t([[[0.0, 0.0, 0.0], [0.1, 0.0, 0.0]]])
    pred = _t([[[0.003, 0.0, 0.0], [0.001, 0.0, 0.0], [0.05, 0.0, 0.0]]])
    # 5 mm: 2 of 3 predicted points have a gt point within (P = 2/3); 1 of 2 gt points is reached (R = 1/2)
    # F = 2·(2/3)(1/2) / (2/3 + 1/2) = 4/7. At 15 mm nothing changes (0.05 and 0.1 are farther).
    f = f_scores(pred, gt, (0.005, 0.015), method)
    np.testing.assert_allclose(f.numpy(), [[4 / 7, 4 / 7]], atol=1e-15)
    # at 60 mm the third prediction reaches the second gt point: P = 1, R = 1
    assert f_scores(pred, gt, (0.06,), method).tolist() == [[1.0]]
    q_hits, t_hits = neighbour_hits(pred, gt, (0.005, 0.06), method)
    assert q_hits[0].tolist() == [[True, True], [True, True], [False, True]]
    assert t_hits[0].tolist() == [[True, True], [False, True]]


@pytest.mark.parametrize("method", METHODS)
def test_threshold_is_strict(method):
    # 0: exactly 5 mm (0.005 − 0 is exact); in a camera frame 0.7 m away, 15 mm one rounding step above (1) and
    # one below (2): 0.715 − 0.7 = 0.015000000000000013 and nextafter(0.715, 0) − 0.7 < 0.015
    gt = _t([[[0.0, 0.0, 0.0]], [[0.2, -0.1, 0.7]], [[0.2, -0.1, 0.7]]])
    pred = gt.clone()
    pred[0, 0, 0] = 0.005
    pred[1, 0, 2] = 0.7 + 0.015
    pred[2, 0, 2] = np.nextafter(0.7 + 0.015, 0.0)
    assert _brute_force(pred, gt)[:, 0].tolist() == [[False, True], [False, False], [False, True]]
    assert f_scores(pred, gt, F_THRESHOLDS_M, method).tolist() == [[0.0, 1.0], [0.0, 0.0], [0.0, 1.0]]
    # F is 0 (not NaN) when neither precision nor recall has a point
    assert f_scores(pred, gt + 1.0, (0.005,), method).tolist() == [[0.0], [0.0], [0.0]]


def _near_threshold_clouds(seed, n_samples=6, n=300,
                           offsets=(0.0, 1e-9, -1e-9, 1e-12, -1e-12, 3e-7, -3e-7, 1e-4, -1e-4)):
    """Hands-sized clouds in a camera frame (about 0.7 m away); every query point sits at t + offset from one
    target point (random direction) and no closer to any other, for t in {5, 15} mm."""
    rng = np.random.default_rng(seed)
    query = np.empty((n_samples, n, 3))
    target = np.empty((n_samples, n, 3))
    for s in range(n_samples):
        # targets on a 50 mm grid, jittered by ±2.5 mm per axis: a query within 15 mm of one is over 25 mm from the others
        cells = rng.choice(8**3, n, replace=False)
        grid = np.stack(np.unravel_index(cells, (8, 8, 8)), -1) * 0.05
        target[s] = grid + rng.uniform(-0.0025, 0.0025, grid.shape) + [-0.2, -0.2, 0.5]
        direction = rng.normal(size=(n, 3))
        direction /= np.linalg.norm(direction, axis=1, keepdims=True)
        radius = rng.choice(F_THRESHOLDS_M, n) + rng.choice(offsets, n)
        query[s] = target[s] + direction * radius[:, None]
    return query, target


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", [0, 1])
def test_adversarial_points_at_the_thresholds(method, seed):
    query, target = _near_threshold_clouds(seed)
    _assert_hits(query, target, method)
    # and against a shuffled, differently sized target set (n != m), both directions
    _assert_hits(query, target[:, ::-1][:, :250], method)


def test_adversarial_points_defeat_float32_alone(monkeypatch):
    """The float32 minima alone decide some of these points wrongly, so the float64 re-decision is what the
    adversarial test above checks (with no band, nothing is re-decided)."""
    query, target = _near_threshold_clouds(0)
    monkeypatch.setattr(fscore, "_BAND", 0.0)
    q_hits, t_hits = neighbour_hits(_t(query), _t(target), F_THRESHOLDS_M, "matmul")
    wrong = (q_hits.numpy() != _brute_force(query, target)).sum()
    wrong += (t_hits.numpy() != _brute_force(target, query)).sum()
    assert wrong > 0


def test_only_points_in_the_band_are_redone(monkeypatch):
    gt_xyz, gt_verts, params = synthetic_hands(40, seed=2)
    _, pred_verts = synthetic_predictions(params, seed=3)
    redone = []
    exact_nearest = fscore.exact_nearest
    monkeypatch.setattr(fscore, "exact_nearest", lambda p, o, s: redone.append(len(p)) or exact_nearest(p, o, s))
    neighbour_hits(_t(pred_verts), _t(gt_verts), F_THRESHOLDS_M, "matmul")
    assert sum(redone) <= 2 * 40  # about 0.3 per sample here; every point is 2 × 40 × 778
    # adversarial points are redone: 5 in 9 of them sit within 1e-9 m of a threshold
    redone.clear()
    query, target = _near_threshold_clouds(0)
    neighbour_hits(_t(query), _t(target), F_THRESHOLDS_M, "matmul")
    assert sum(redone) >= query.shape[0] * query.shape[1] / 3


def _rounding_sensitive_pairs(seed, per_threshold=12):
    """Point pairs a few ulps from a threshold whose reference decision, sqrt(((dx² + dy²) + dz²)) < t, differs from
    what another summation order or comparing squares (d² < t²) would decide: (N, 1, 3) queries and targets."""
    rng = np.random.default_rng(seed)
    queries, targets = [], []
    for t in F_THRESHOLDS_M:
        g = rng.uniform(-0.2, 0.2, (400_000, 3)) + [0.0, 0.0, 0.7]
        direction = rng.normal(size=g.shape)
        p = g + direction / np.linalg.norm(direction, axis=1, keepdims=True) * t
        p += rng.integers(-3, 4, p.shape) * np.spacing(p)
        d = p - g
        sq = d * d
        reference = np.sqrt((sq[:, 0] + sq[:, 1]) + sq[:, 2]) < t
        other_order = np.sqrt(sq[:, 0] + (sq[:, 1] + sq[:, 2])) < t
        squares = (sq[:, 0] + sq[:, 1]) + sq[:, 2] < t * t
        for flips in (reference != other_order, reference != squares):
            picked = np.flatnonzero(flips)[:per_threshold]
            assert len(picked) >= per_threshold // 2  # the search keeps finding such pairs
            queries.append(p[picked])
            targets.append(g[picked])
    return np.concatenate(queries)[:, None], np.concatenate(targets)[:, None]


@pytest.mark.parametrize("method", METHODS)
def test_rounding_sensitive_pairs_are_decided_as_the_reference(method):
    query, target = _rounding_sensitive_pairs(0)
    _assert_hits(query, target, method)
    # the same pairs inside hand-sized clouds, so the float32 path sees them among ordinary points
    rng = np.random.default_rng(1)
    filler_q = rng.normal(0.0, 0.03, (len(query), 200, 3)) + [0.5, 0.0, 0.7]  # far from the pairs
    filler_t = filler_q + rng.normal(0.0, 0.006, filler_q.shape)
    _assert_hits(np.concatenate([filler_q, query], 1), np.concatenate([target, filler_t], 1), method)


def _hands(n, seed):
    gt_xyz, gt_verts, params = synthetic_hands(n, seed=seed)
    _, pred_verts = synthetic_predictions(params, seed=seed + 1)
    aligned = procrustes_align(_t(pred_verts), _t(gt_verts)).numpy()
    return pred_verts, aligned, gt_verts


@pytest.mark.parametrize("method", METHODS)
def test_hands_match_the_reference_exactly(method):
    pred, aligned, gt = _hands(12, seed=7)
    for verts in (pred, aligned):
        ours = f_scores(_t(verts), _t(gt), F_THRESHOLDS_M, method).numpy()
        np.testing.assert_array_equal(ours, _reference_f(verts, gt))  # fractions of counts: equal counts


def _clouds(rng, n_samples):
    """Edge cases: exact threshold offsets on cell-like coordinates, duplicates, far-away samples, outliers,
    a prediction in millimetres, coordinates whose float32 squares overflow."""
    query = rng.normal(0.0, 0.03, (n_samples, 120, 3)) + [0.0, 0.0, 0.7]
    target = query[:, :100] + rng.normal(0.0, 0.008, (n_samples, 100, 3))
    target[0] = np.round(target[0] / 0.005) * 0.005
    query[0, :50] = target[0, :50] + [0.005, 0.0, 0.0]  # at the threshold (as rounded)
    query[0, 50:60] = target[0, 50:60] + [0.015, 0.0, 0.0]
    target[1, 10:20] = target[1, 0:10]  # duplicate points
    query[2] += [0.5, 0.0, 0.0]  # far from its target: nothing within reach
    query[3, :5] = [[10.0, -10.0, 3.0]]  # outliers many metres away
    query[4] *= 1000.0  # millimetres by mistake
    query[5, :3] = [[3e19, 0.0, 0.0], [3e19, 0.001, 0.0], [-1e25, 0.0, 0.0]]  # float32 squares overflow
    target[5, :2] = [[3e19, 0.0, 0.004], [1e25, 1e25, 0.0]]
    return query, target


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_edge_cases_match_brute_force(method, seed):
    query, target = _clouds(np.random.default_rng(seed), 8)
    _assert_hits(query, target, method)
    np.testing.assert_array_equal(f_scores(_t(query), _t(target), F_THRESHOLDS_M, method).numpy(),
                                  _reference_f(query, target))


def test_chunking_changes_nothing(monkeypatch):
    query, target = _near_threshold_clouds(3, n_samples=7, n=60)
    expected = [h.numpy() for h in neighbour_hits(_t(query), _t(target))]
    monkeypatch.setattr(fscore, "_CPU_SAMPLES_PER_CHUNK", 3)  # a partial last chunk
    monkeypatch.setattr(fscore, "_EXACT_CHUNK_BYTES", 3 * 2 * 8 * 60 * 60)  # several exact chunks
    for method in METHODS:
        got = neighbour_hits(_t(query), _t(target), F_THRESHOLDS_M, method)
        for g, e in zip(got, expected):
            np.testing.assert_array_equal(g.numpy(), e)


def test_caller_settings_are_restored():
    threads = torch.get_num_threads()
    precision = torch.backends.mkldnn.matmul.fp32_precision
    torch.set_num_threads(max(1, threads - 1) if threads > 1 else 2)
    torch.backends.mkldnn.matmul.fp32_precision = "bf16"
    try:
        set_threads = torch.get_num_threads()
        query, target = _near_threshold_clouds(4, n_samples=2, n=50)
        _assert_hits(query, target, "matmul")  # and still exact with a reduced-precision default in place
        assert torch.get_num_threads() == set_threads
        assert torch.backends.mkldnn.matmul.fp32_precision == "bf16"
    finally:
        torch.set_num_threads(threads)
        torch.backends.mkldnn.matmul.fp32_precision = precision


def test_bad_arguments():
    points = torch.zeros(2, 5, 3, dtype=torch.float64)
    with pytest.raises(ValueError, match="unknown method"):
        f_scores(points, points, method="kdtree")
    with pytest.raises(ValueError):
        f_scores(points, points[:1])
    with pytest.raises(ValueError):
        f_scores(points[..., :2], points)
    with pytest.raises(ValueError):
        f_scores(points[:, :0], points)


@pytest.mark.cuda
@CUDA
@pytest.mark.parametrize("method", ["auto", *METHODS])
def test_cuda_matches_the_reference(method):
    query, target = _near_threshold_clouds(5)
    got = neighbour_hits(_t(query).cuda(), _t(target).cuda(), F_THRESHOLDS_M, method)
    np.testing.assert_array_equal(got[0].cpu().numpy(), _brute_force(query, target))
    np.testing.assert_array_equal(got[1].cpu().numpy(), _brute_force(target, query))
    pred, aligned, gt = _hands(16, seed=9)
    for verts in (pred, aligned):
        ours = f_scores(_t(verts).cuda(), _t(gt).cuda(), F_THRESHOLDS_M, method).cpu().numpy()
        np.testing.assert_array_equal(ours, _reference_f(verts, gt))
