"""Plausible synthetic hands for tests and benchmarks (no MANO model needed: its files may not be shipped).

A right hand is a 21-joint skeleton (FreiHAND order) with 778 surface points on capsules around its 20 bones
and on a palm slab. Each sample curls the fingers, then places the hand in an OpenCV camera frame (metres,
hand at positive z). ``synthetic_predictions`` perturbs a set of hands the way a network errs: pose, global
rotation, scale and translation, plus vertex noise. Deterministic for a given seed.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

NUM_VERTS = 778

# Open right hand, palm facing the camera's -z, wrist at the origin, fingers along +y (metres).
_TEMPLATE_JOINTS = np.array(
    [
        [0.000, 0.000, 0.0],
        [-0.022, 0.022, 0.0], [-0.040, 0.042, 0.0], [-0.055, 0.062, 0.0], [-0.066, 0.082, 0.0],
        [-0.024, 0.088, 0.0], [-0.027, 0.117, 0.0], [-0.029, 0.135, 0.0], [-0.030, 0.152, 0.0],
        [0.000, 0.092, 0.0], [0.000, 0.120, 0.0], [0.000, 0.139, 0.0], [0.000, 0.157, 0.0],
        [0.021, 0.087, 0.0], [0.023, 0.114, 0.0], [0.025, 0.132, 0.0], [0.026, 0.149, 0.0],
        [0.039, 0.078, 0.0], [0.043, 0.100, 0.0], [0.046, 0.114, 0.0], [0.048, 0.128, 0.0],
    ]
)
_FINGERS = ((1, 2, 3, 4), (5, 6, 7, 8), (9, 10, 11, 12), (13, 14, 15, 16), (17, 18, 19, 20))
_PALM_VERTS = 178
_FINGER_VERTS = (NUM_VERTS - _PALM_VERTS) // 15  # 40 per finger bone


def _template_verts() -> tuple[np.ndarray, np.ndarray]:
    """(778, 3) points and, per point, the finger joint (index into the 21) it moves with; -1 for the palm."""
    rng = np.random.default_rng(0)
    points, owner = [], []
    for chain in _FINGERS:
        for a, b in zip(chain[:-1], chain[1:]):
            start, end = _TEMPLATE_JOINTS[a], _TEMPLATE_JOINTS[b]
            u = rng.uniform(0.0, 1.0, _FINGER_VERTS)
            phi = rng.uniform(0.0, 2 * np.pi, _FINGER_VERTS)
            axis = (end - start) / np.linalg.norm(end - start)
            side = np.cross(axis, [0.0, 0.0, 1.0])
            radius = 0.008
            ring = radius * (np.cos(phi)[:, None] * side + np.sin(phi)[:, None] * np.array([0.0, 0.0, 1.0]))
            points.append(start + u[:, None] * (end - start) + ring)
            owner += [a] * _FINGER_VERTS
    corners = _TEMPLATE_JOINTS[[0, 1, 5, 9, 13, 17]]
    weights = rng.dirichlet(np.ones(len(corners)), _PALM_VERTS)
    palm = weights @ corners + np.c_[np.zeros((_PALM_VERTS, 2)), rng.choice([-0.01, 0.01], _PALM_VERTS)]
    points.append(palm)
    owner += [-1] * _PALM_VERTS
    return np.concatenate(points), np.asarray(owner)


_TEMPLATE_VERTS, _VERT_OWNER = _template_verts()


def _pose(curl: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Curl the template's fingers: curl (N, 5, 3) radians at (base, middle, distal) joints -> joints, verts."""
    n = curl.shape[0]
    joints = np.broadcast_to(_TEMPLATE_JOINTS, (n, 21, 3)).copy()
    verts = np.broadcast_to(_TEMPLATE_VERTS, (n, NUM_VERTS, 3)).copy()
    for f, chain in enumerate(_FINGERS):
        axis = np.array([0.3, 0.0, 1.0]) if f == 0 else np.array([1.0, 0.0, 0.0])
        axis = axis / np.linalg.norm(axis)
        # distal joint first: each rotation pivots about a template joint not yet moved by the rotations left
        for level in (2, 1, 0):
            pivot_id = chain[level]
            rot = Rotation.from_rotvec(-curl[:, f, level, None] * axis).as_matrix()  # (N, 3, 3)
            moved_joints = list(chain[level + 1:])
            moved_verts = np.isin(_VERT_OWNER, chain[level:-1])
            pivot = _TEMPLATE_JOINTS[pivot_id]
            joints[:, moved_joints] = np.einsum("nij,nkj->nki", rot, joints[:, moved_joints] - pivot) + pivot
            verts[:, moved_verts] = np.einsum("nij,nkj->nki", rot, verts[:, moved_verts] - pivot) + pivot
    return joints, verts


def _place(joints: np.ndarray, verts: np.ndarray, rot: np.ndarray, scale: np.ndarray, trans: np.ndarray):
    """Similarity transform about the wrist, applied per sample."""
    def apply(points: np.ndarray) -> np.ndarray:
        return scale[:, None, None] * np.einsum("nij,nkj->nki", rot, points) + trans[:, None, :]

    return apply(joints), apply(verts)


def synthetic_hands(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """n hands in the OpenCV camera frame: joints (n, 21, 3) FreiHAND order, verts (n, 778, 3), metres.

    Also returns the generating parameters (curl, rotation, scale, translation) for ``synthetic_predictions``.
    """
    rng = np.random.default_rng(seed)
    params = {
        "curl": rng.uniform(-0.1, 1.2, (n, 5, 3)),
        "rot": Rotation.random(n, random_state=rng).as_matrix(),
        "scale": rng.uniform(0.85, 1.15, n),
        "trans": np.c_[rng.uniform(-0.1, 0.1, (n, 2)), rng.uniform(0.45, 0.9, n)],
    }
    joints, verts = _pose(params["curl"])
    joints, verts = _place(joints, verts, params["rot"], params["scale"], params["trans"])
    return joints, verts, params


def synthetic_predictions(
    params: dict[str, np.ndarray],
    seed: int = 1,
    pose_noise: float = 0.35,
    rot_noise: float = 0.15,
    scale_noise: float = 0.05,
    trans_noise: float = 0.015,
    vert_noise: float = 0.003,
) -> tuple[np.ndarray, np.ndarray]:
    """Predictions for the hands of ``params``: noisy curl (rad), rotation (rad), scale (relative),
    translation (m) and per-point noise (m). Returns joints (n, 21, 3) and verts (n, 778, 3), metres."""
    rng = np.random.default_rng(seed)
    n = params["curl"].shape[0]
    joints, verts = _pose(params["curl"] + rng.normal(0.0, pose_noise, params["curl"].shape))
    rot = Rotation.from_rotvec(rng.normal(0.0, rot_noise, (n, 3))).as_matrix() @ params["rot"]
    scale = params["scale"] * (1.0 + rng.normal(0.0, scale_noise, n))
    trans = params["trans"] + rng.normal(0.0, trans_noise, (n, 3))
    joints, verts = _place(joints, verts, rot, scale, trans)
    joints = joints + rng.normal(0.0, vert_noise, joints.shape)
    verts = verts + rng.normal(0.0, vert_noise, verts.shape)
    return joints, verts
