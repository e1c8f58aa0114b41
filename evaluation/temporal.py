"""Smoothness of predicted sequences: acceleration (ACC, ACC-ERR) and the mean quaternion loss (paper Table 5).

Acceleration (Kanazawa et al., VIBE): a_t = x_{t−1} − 2·x_t + x_{t+1} per joint, only where all three frames
are of the same sequence (the common implementation also differences across sequence boundaries; not this one).
ACC = mean ‖a_pred‖, ACC-ERR = mean ‖a_pred − a_gt‖ over frames and joints: input unit per frame², × fps² per s².

Quaternion loss (paper Eq. 17-20) as a metric: windows of n frames ``interval`` apart inside one sequence; per joint
unit quaternions H of the 16 MANO local rotations; E = |Σ_{i=1}^{n−1} Ψ(H_i, H_{i+1}) − Ψ(H_1, H_n)| with Ψ the
rotation angle between two quaternions (radians); averaged over joints and windows. Zero exactly when each joint
rotates about a fixed axis in one direction, whatever its speed.
"""
from __future__ import annotations

import torch

from s2hand.evaluation.sequences import group_frames, per_sequence_mean
from s2hand.evaluation.tensors import ArrayLike, as_float64
from s2hand.geometry.rotations import axis_angle_to_quaternion, quaternion_angle


def _accelerations(x: torch.Tensor, index: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(F, J, D) -> accelerations (F−2, J, D) of the middle frames, which of them lie inside one sequence, and their
    sequence numbers."""
    accel = x[:-2] - 2 * x[1:-1] + x[2:]
    inside = (index[:-2] == index[1:-1]) & (index[1:-1] == index[2:])
    return accel, inside, index[1:-1]


def acceleration_metrics(
    pred: ArrayLike, sequence_ids: ArrayLike, gt: ArrayLike | None = None, fps: float | None = None, device=None
) -> dict:
    """ACC (and ACC-ERR when ``gt`` is given) of (F, J, 3) joint sequences; frames grouped by ``sequence_ids``.

    Returns ``acc`` (and ``acc_err``) pooled over all frames with a defined acceleration and their joints, in the
    input unit per frame²; with ``fps`` also ``acc_per_s2`` / ``acc_err_per_s2``; and ``per_sequence``: ids and
    per-sequence values for sequences of at least three frames.
    """
    x = as_float64(pred, device)
    seq = group_frames(sequence_ids, x.device)
    if x.ndim != 3 or x.shape[0] != seq.index.numel():
        raise ValueError(f"pred: expected (F, J, D) with F = {seq.index.numel()} frames, got {tuple(x.shape)}")
    accel, inside, owner = _accelerations(x, seq.index)
    norms = {"acc": torch.linalg.vector_norm(accel, dim=-1)}
    if gt is not None:
        y = as_float64(gt, x.device)
        if y.shape != x.shape:
            raise ValueError(f"gt: expected shape {tuple(x.shape)}, got {tuple(y.shape)}")
        norms["acc_err"] = torch.linalg.vector_norm(accel - _accelerations(y, seq.index)[0], dim=-1)
    frames = owner[inside]
    defined = torch.zeros(seq.count, dtype=torch.bool, device=x.device).index_fill_(0, frames, True)
    result: dict = {"per_sequence": {"ids": [i for i, ok in zip(seq.ids, defined.tolist()) if ok]}}
    for name, value in norms.items():
        per_frame = value[inside].mean(-1)  # mean over joints (all frames have all joints: same as pooled)
        result[name] = float(per_frame.mean()) if per_frame.numel() else float("nan")
        if fps is not None:
            result[f"{name}_per_s2"] = result[name] * fps**2
        result["per_sequence"][name] = per_sequence_mean(per_frame, frames, seq.count)[0][defined].tolist()
    return result


def quaternion_smoothness(
    axis_angles: ArrayLike, sequence_ids: ArrayLike, n: int = 3, interval: int = 3, device=None
) -> dict:
    """Mean quaternion loss (paper Table 5, radians) of per-frame (F, 16, 3) local axis-angles (global rotation and
    the 15 finger joints, mean pose included). Windows start at every frame whose window fits in its sequence.

    Returns ``quat_loss`` (mean over windows and joints), ``windows`` (their number) and ``per_sequence``.
    """
    if n < 2 or interval < 1:
        raise ValueError(f"need n >= 2 and interval >= 1, got n={n}, interval={interval}")
    r = as_float64(axis_angles, device)
    seq = group_frames(sequence_ids, r.device)
    if r.ndim != 3 or r.shape[-1] != 3 or r.shape[0] != seq.index.numel():
        raise ValueError(f"axis_angles: expected (F, joints, 3) with F = {seq.index.numel()}, got {tuple(r.shape)}")
    span = (n - 1) * interval
    first = torch.arange(max(r.shape[0] - span, 0), device=r.device)
    first = first[seq.index[first] == seq.index[first + span]]  # contiguous sequences: ends inside => all inside
    quats = axis_angle_to_quaternion(r)[first[:, None] + interval * torch.arange(n, device=r.device)]  # (W,n,J,4)
    path = quaternion_angle(quats[:, :-1], quats[:, 1:]).sum(1)
    loss = (path - quaternion_angle(quats[:, 0], quats[:, -1])).abs().mean(-1)  # (W,) mean over joints
    means, counts = per_sequence_mean(loss, seq.index[first], seq.count)
    defined = counts > 0
    return {
        "quat_loss": float(loss.mean()) if loss.numel() else float("nan"),
        "windows": int(loss.numel()),
        "per_sequence": {
            "ids": [i for i, ok in zip(seq.ids, defined.tolist()) if ok],
            "quat_loss": means[defined].tolist(),
        },
    }
