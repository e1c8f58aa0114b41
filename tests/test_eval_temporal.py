"""ACC / ACC-ERR (no differencing across sequences) and the quaternion smoothness metric (paper Table 5)."""
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from s2hand.evaluation.temporal import acceleration_metrics, quaternion_smoothness


def _quadratic(frames, accel, start=0.0):
    t = np.arange(frames, dtype=np.float64)[:, None, None]
    return start + 0.5 * np.asarray(accel) * t**2 + 0.01 * t  # constant acceleration per joint


def test_acc_constant_acceleration_with_a_sequence_boundary():
    a_seq, b_seq = [0.0, 0.0, 3.0], [4.0, 0.0, 0.0]  # |a| = 3 and 4 (per frame²)
    joints = np.ones((1, 21, 1))
    pred = np.concatenate([_quadratic(5, a_seq) * joints, _quadratic(4, b_seq, 100.0) * joints])
    ids = ["a"] * 5 + ["b"] * 4
    m = acceleration_metrics(pred, ids, fps=30.0)
    # 3 frames of "a" and 2 of "b" have an acceleration; the 2 triples across the boundary are not used
    assert m["acc"] == pytest.approx((3 * 3.0 + 2 * 4.0) / 5)
    assert m["acc_per_s2"] == pytest.approx(m["acc"] * 900.0)
    assert m["per_sequence"] == {"ids": ["a", "b"], "acc": pytest.approx([3.0, 4.0])}


def test_acc_err_against_gt():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(10, 21, 3))
    ids = [0] * 6 + [1] * 4
    t = np.arange(10.0)[:, None, None]
    drift = gt + 0.3 * t - 2.0  # linear drift: same accelerations as the gt
    assert acceleration_metrics(drift, ids, gt=gt)["acc_err"] == pytest.approx(0.0, abs=1e-12)
    zero = acceleration_metrics(np.zeros_like(gt), ids, gt=gt)
    assert zero["acc"] == 0.0 and zero["acc_err"] == pytest.approx(acceleration_metrics(gt, ids)["acc"])


def _naive_acc(x, ids):
    values = []
    for t in range(1, len(x) - 1):
        if ids[t - 1] == ids[t] == ids[t + 1]:
            values.append(np.linalg.norm(x[t - 1] - 2 * x[t] + x[t + 1], axis=-1))
    return float(np.mean(values))


def test_acc_matches_naive_loop_on_random_sequences():
    rng = np.random.default_rng(1)
    lengths = [7, 1, 2, 12, 3]
    ids = np.repeat(np.arange(len(lengths)), lengths)
    x = rng.normal(size=(len(ids), 21, 3))
    m = acceleration_metrics(x, ids)
    assert m["acc"] == pytest.approx(_naive_acc(x, ids), abs=1e-12)
    assert m["per_sequence"]["ids"] == [0, 3, 4]  # sequences shorter than three frames have no acceleration


def test_sequences_must_be_contiguous():
    with pytest.raises(ValueError, match="'a'.*not contiguous"):
        acceleration_metrics(np.zeros((5, 21, 3)), ["a", "a", "b", "a", "a"])


def _constant_axis(angles, axes):
    """(F,) angles per frame and (J, 3) unit axes -> (F, J, 3) axis-angles about fixed axes."""
    return angles[:, None, None] * axes[None]


def test_quat_loss_zero_for_fixed_axis_any_speed():
    rng = np.random.default_rng(2)
    axes = rng.normal(size=(16, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    # non-decreasing angle, with pauses and changing speed; windows of n=3 frames 3 apart
    angles = np.cumsum([0.0, 0.01, 0.0, 0.0, 0.2, 0.05, 0.3, 0.0, 0.001, 0.1, 0.02, 0.4, 0.0, 0.05])
    m = quaternion_smoothness(_constant_axis(angles, axes), [0] * len(angles), n=3, interval=3)
    assert m["windows"] == len(angles) - 6
    assert m["quat_loss"] == pytest.approx(0.0, abs=1e-9)
    # a second sequence about other axes: windows never straddle the two
    other = _constant_axis(angles[::-1].copy(), np.roll(axes, 1, axis=1))
    both = np.concatenate([_constant_axis(angles, axes), other])
    m2 = quaternion_smoothness(both, [0] * len(angles) + [1] * len(angles), n=4, interval=2)
    assert m2["quat_loss"] == pytest.approx(0.0, abs=1e-9) and m2["windows"] == 2 * (len(angles) - 6)


def test_quat_loss_positive_when_axis_changes_or_motion_reverses():
    x, y = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])
    turn = np.zeros((3, 16, 3))
    turn[1] = 0.3 * x
    turn[2] = 0.3 * x + 0.3 * y  # the axis changes between the two steps
    assert quaternion_smoothness(turn, [0, 0, 0], n=3, interval=1)["quat_loss"] > 1e-3
    back = _constant_axis(np.array([0.0, 0.4, 0.1]), np.tile(x, (16, 1)))  # forth and back about one axis
    # path 0.4 + 0.3, direct 0.1: E = 0.6 rad for every joint
    assert quaternion_smoothness(back, [0, 0, 0], n=3, interval=1)["quat_loss"] == pytest.approx(0.6, abs=1e-9)


def _naive_quat_loss(r, ids, n, interval):
    losses = []
    for i in range(len(r) - (n - 1) * interval):
        frames = [i + k * interval for k in range(n)]
        if len({ids[f] for f in frames}) != 1:
            continue
        rots = [Rotation.from_rotvec(r[f]) for f in frames]  # 16 joints each

        def psi(a, b):
            return np.linalg.norm((a.inv() * b).as_rotvec(), axis=-1)

        path = sum(psi(rots[k], rots[k + 1]) for k in range(n - 1))
        losses.append(np.abs(path - psi(rots[0], rots[-1])).mean())
    return float(np.mean(losses))


def test_quat_loss_matches_naive_loop():
    rng = np.random.default_rng(3)
    r = rng.normal(0.0, 0.6, (20, 16, 3))
    ids = [0] * 9 + [1] * 11
    for n, interval in [(3, 3), (2, 1), (4, 2)]:
        ours = quaternion_smoothness(r, ids, n=n, interval=interval)["quat_loss"]
        assert ours == pytest.approx(_naive_quat_loss(r, ids, n, interval), abs=1e-9)
