"""The open hand model and HandModel: topology, anatomy, handedness, and skinning against a naive second LBS."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from s2hand.hand.joint_limits import JOINT_LIMITS_DEG
from s2hand.hand.joints import FREIHAND_NAMES, FREIHAND_TIPS, MANO_PARENTS
from s2hand.hand.meshing import boundary_loops, signed_volume
from s2hand.hand.model import HandModel
from s2hand.hand.open_hand import NUM_FACES, NUM_VERTICES, sample_plausible_poses


def _axis_angle_pose(deg: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.deg2rad(deg).reshape(-1, 45), dtype=torch.float32)


@pytest.fixture(scope="module")
def flat_hand():
    return HandModel("open", flat_hand_mean=True)


def _flat_joints(hand, deg=None):
    deg = np.zeros((15, 3)) if deg is None else deg
    with torch.no_grad():
        return hand(_axis_angle_pose(deg), pose_space="axis_angle").joints[0].numpy()


# --- topology -----------------------------------------------------------------------------------------------------

def test_sizes_match_mano(open_hand_arrays):
    a = open_hand_arrays
    assert a["v_template"].shape == (NUM_VERTICES, 3) == (778, 3)
    assert a["f"].shape == (NUM_FACES, 3) == (1538, 3)
    assert a["weights"].shape == (778, 16) and a["J_regressor"].shape == (16, 778)
    assert a["shapedirs"].shape == (778, 3, 10) and a["posedirs"].shape == (778, 3, 135)
    assert a["hands_components"].shape == (45, 45) and a["hands_mean"].shape == (45,)
    assert tuple(a["kintree_table"][0, 1:]) == MANO_PARENTS[1:]


def test_surface_is_an_oriented_disk_with_one_16_edge_wrist_loop(open_hand_arrays):
    faces = open_hand_arrays["f"]
    directed = Counter((int(u), int(v)) for a, b, c in faces for u, v in ((a, b), (b, c), (c, a)))
    assert max(directed.values()) == 1, "an edge is traversed twice in the same direction: inconsistent orientation"
    undirected = Counter(tuple(sorted(e)) for e in directed)
    assert max(undirected.values()) == 2, "non-manifold edge"
    loops = boundary_loops(faces)
    assert [len(loop) for loop in loops] == [16]
    assert len(np.unique(faces)) == 778, "every vertex is used"
    V, E, F = 778, len(undirected), len(faces)
    assert V - E + F == 1  # disk
    assert signed_volume(open_hand_arrays["v_template"], faces) > 0, "faces must point outward"
    # the open boundary is at the wrist: the end of the hand farthest from the fingertips (+x)
    wrist_x = open_hand_arrays["v_template"][loops[0], 0]
    assert wrist_x.min() > np.percentile(open_hand_arrays["v_template"][:, 0], 95)


def test_skinning_weights_and_regressor_are_convex(open_hand_arrays):
    w, J = open_hand_arrays["weights"], open_hand_arrays["J_regressor"]
    assert (w >= 0).all() and np.allclose(w.sum(1), 1.0)
    assert (J >= 0).all() and np.allclose(J.sum(1), 1.0)
    assert (w.max(0) > 0.5).all(), "every joint drives some vertices"


def test_pose_pca_is_orthonormal_and_mean_within_limits(open_hand_arrays):
    C = open_hand_arrays["hands_components"]
    assert np.allclose(C @ C.T, np.eye(45), atol=1e-10)
    mean = np.rad2deg(open_hand_arrays["hands_mean"]).reshape(15, 3)
    assert (mean >= JOINT_LIMITS_DEG[..., 0] - 1e-6).all() and (mean <= JOINT_LIMITS_DEG[..., 1] + 1e-6).all()
    fresh = (sample_plausible_poses(5000, seed=1) - open_hand_arrays["hands_mean"]) @ C.T
    assert fresh[:, :30].var(0).sum() / fresh.var(0).sum() > 0.97, "30 components carry the pose variation"
    # the basis is the PCA of the model's own seeded samples: sorted by variance on them
    own = (sample_plausible_poses(20000, seed=0) - open_hand_arrays["hands_mean"]) @ C.T
    assert (np.diff(own.var(0)) <= 1e-12).all()


# --- anatomy and handedness ---------------------------------------------------------------------------------------

def test_rest_anatomy(flat_hand):
    J = _flat_joints(flat_hand)
    names = {n: J[i] for i, n in enumerate(FREIHAND_NAMES)}
    # E_s pulls the middle MCP->PIP bone to 2.82 cm: the mean shape has exactly that length
    assert np.linalg.norm(names["middle_mcp"] - names["middle_pip"]) == pytest.approx(0.0282, abs=5e-4)
    length = np.linalg.norm(names["wrist"] - names["middle_tip"])
    assert 0.14 < length < 0.21
    # fingers lie side by side from the thumb side (+z) to the pinky side (-z)
    z = [names[f"{f}_mcp"][2] for f in ("index", "middle", "ring", "pinky")]
    assert z == sorted(z, reverse=True)


def test_fingertip_ids_are_the_ends_of_the_fingers(flat_hand):
    with torch.no_grad():
        V = flat_hand(torch.zeros(1, 45), pose_space="axis_angle").vertices[0].numpy()
    J = _flat_joints(flat_hand)
    for tip_joint, vertex in zip(FREIHAND_TIPS, (flat_hand.fingertip_ids[i] for i in (0, 1, 2, 3, 4))):
        dip = J[tip_joint - 1]
        direction = (J[tip_joint] - dip) / np.linalg.norm(J[tip_joint] - dip)
        # the tip vertex is the farthest point along the distal phalanx among that finger's vertices
        along = (V - dip) @ direction
        near_axis = np.linalg.norm((V - dip) - along[:, None] * direction, axis=1) < 0.012
        assert along[vertex] == pytest.approx(along[near_axis].max(), abs=1e-6)
        assert np.allclose(J[tip_joint], V[vertex])


def test_right_handed_flexion_curls_toward_the_palm(flat_hand):
    J = _flat_joints(flat_hand)
    forward = J[9] - J[0]  # wrist -> middle MCP
    thumb_side = J[5] - J[17]  # pinky MCP -> index MCP
    palm_normal = np.cross(thumb_side, forward)  # a right hand's palm faces thumb_side x forward
    palm_normal /= np.linalg.norm(palm_normal)
    fist = np.zeros((15, 3))
    fist[:12, 2] = 60.0  # bend every finger joint (+z, the E_J bend axis)
    Jf = _flat_joints(flat_hand, fist)
    for tip in (8, 12, 16, 20):
        assert (Jf[tip] - J[tip]) @ palm_normal > 0.03, FREIHAND_NAMES[tip]
    opposed = np.zeros((15, 3))
    opposed[12, 0] = 80.0  # thumb CMC twist in [0, 90]: opposition
    Jo = _flat_joints(flat_hand, opposed)
    assert (Jo[4] - J[4]) @ palm_normal > 0.02, "opposition brings the thumb in front of the palm"
    assert Jo[4][2] < J[4][2] - 0.03, "... and across toward the little finger"


def test_poses_at_the_joint_limits_keep_bone_lengths_and_stay_finite(flat_hand):
    rng = np.random.default_rng(0)
    lo, hi = JOINT_LIMITS_DEG[..., 0], JOINT_LIMITS_DEG[..., 1]
    corners = np.where(rng.random((32, 15, 3)) < 0.5, lo, hi)
    with torch.no_grad():
        out = flat_hand(_axis_angle_pose(corners), pose_space="axis_angle")
    assert torch.isfinite(out.vertices).all()
    rest = _flat_joints(flat_hand)
    from s2hand.hand.joints import FREIHAND_PARENTS

    for child, parent in enumerate(FREIHAND_PARENTS):
        if parent < 0 or child in FREIHAND_TIPS:  # tips are vertices, moved by pose correctives slightly
            continue
        lengths = (out.joints[:, child] - out.joints[:, parent]).norm(dim=-1).numpy()
        assert np.allclose(lengths, np.linalg.norm(rest[child] - rest[parent]), atol=1e-5)
    # the hand stays compact: no vertex flies off
    assert out.vertices.norm(dim=-1).max() < 0.25


def test_shape_size_component_scales_the_hand(flat_hand):
    betas = torch.zeros(2, 10)
    betas[1, 0] = 1.0  # "size", one σ = 6 %
    with torch.no_grad():
        J = flat_hand(torch.zeros(2, 45), betas, pose_space="axis_angle").joints
    length = (J[:, 12] - J[:, 0]).norm(dim=-1)
    assert (length[1] / length[0]).item() == pytest.approx(1.06, abs=0.01)


# --- HandModel against an independent implementation -------------------------------------------------------------

def _naive_lbs(arrays, betas, local_pose):
    """Plain numpy linear blend skinning from the MANO definition, one sample, scipy rotations."""
    v_shaped = arrays["v_template"] + arrays["shapedirs"] @ betas
    J = arrays["J_regressor"] @ v_shaped
    rots = np.concatenate([np.eye(3)[None], Rotation.from_rotvec(local_pose.reshape(15, 3)).as_matrix()])
    feature = (rots[1:] - np.eye(3)).reshape(-1)
    v_posed = v_shaped + arrays["posedirs"] @ feature
    world = []
    for j, parent in enumerate(MANO_PARENTS):
        local = np.eye(4)
        local[:3, :3] = rots[j]
        local[:3, 3] = J[j] - (J[parent] if parent >= 0 else 0)
        world.append(local if parent < 0 else world[parent] @ local)
    world = np.stack(world)
    skinning = world.copy()
    skinning[:, :3, 3] -= np.einsum("jab,jb->ja", world[:, :3, :3], J)
    T = np.einsum("vj,jab->vab", arrays["weights"], skinning)
    vertices = np.einsum("vab,vb->va", T[:, :3, :3], v_posed) + T[:, :3, 3]
    return vertices, world[:, :3, 3]


def test_matches_naive_lbs(open_hand_arrays):
    hand = HandModel("open", pose_pca=30).double()
    rng = np.random.default_rng(3)
    coeffs = rng.normal(0, 0.6, (3, 30))
    betas = rng.normal(0, 1, (3, 10))
    with torch.no_grad():
        out = hand(torch.as_tensor(coeffs), torch.as_tensor(betas))
    for b in range(3):
        local = coeffs[b] @ open_hand_arrays["hands_components"][:30] + open_hand_arrays["hands_mean"]
        vertices, joints16 = _naive_lbs(open_hand_arrays, betas[b], local)
        assert np.allclose(out.vertices[b].numpy(), vertices, atol=1e-6)  # smplx stores float32 buffers
        assert np.allclose(out.rotations[b, 1:].numpy().reshape(-1), local, atol=1e-6)
        from s2hand.hand.joints import FREIHAND_TO_MANO

        assert np.allclose(out.joints[b].numpy()[list(FREIHAND_TO_MANO)], joints16, atol=1e-6)


def test_pca_and_axis_angle_paths_agree(hand_model):
    coeffs = torch.randn(4, 30) * 0.5
    offsets = coeffs @ hand_model.pose_components
    with torch.no_grad():
        a = hand_model(coeffs).vertices
        b = hand_model(offsets, pose_space="axis_angle").vertices
    assert torch.allclose(a, b, atol=1e-6)


def test_global_similarity_is_applied_about_the_origin(hand_model):
    pose, betas = torch.randn(2, 30) * 0.3, torch.randn(2, 10)
    rot = torch.tensor([[0.3, -1.2, 0.5], [2.0, 0.1, -0.4]])
    scale, trans = torch.tensor([0.9, 1.3]), torch.tensor([[0.01, -0.02, 0.6], [0.1, 0.0, 0.4]])
    with torch.no_grad():
        out = hand_model(pose, betas, rot, scale, trans)
    R = torch.as_tensor(Rotation.from_rotvec(rot.numpy()).as_matrix(), dtype=torch.float32)
    expected = scale[:, None, None] * out.canonical_vertices @ R.transpose(1, 2) + trans[:, None]
    assert torch.allclose(out.vertices, expected, atol=1e-6)
    assert torch.allclose(out.rotations[:, 0], rot)


def test_gradients_match_finite_differences():
    hand = HandModel("open", pose_pca=6).double()
    inputs = (torch.randn(1, 6, dtype=torch.float64) * 0.5, torch.randn(1, 10, dtype=torch.float64),
              torch.randn(1, 3, dtype=torch.float64), torch.ones(1, dtype=torch.float64))
    inputs = tuple(x.requires_grad_() for x in inputs)
    probe = torch.randn(21, 3, dtype=torch.float64)

    def joints_projection(pose, betas, rot, scale):
        return (hand(pose, betas, rot, scale).joints * probe).sum()

    assert torch.autograd.gradcheck(joints_projection, inputs, eps=1e-6, atol=1e-6)


def test_bad_input_is_refused(hand_model, tmp_path):
    from s2hand.errors import DataError

    with pytest.raises(ValueError, match=r"\(B, 30\)"):
        hand_model(torch.zeros(1, 12))
    with pytest.raises(DataError, match="MANO_RIGHT.npz"):
        HandModel(tmp_path)
    bad = dict(np.load(hand_model.model_file))
    bad["weights"] = bad["weights"][:, :10]
    np.savez(tmp_path / "MANO_RIGHT.npz", **bad)
    with pytest.raises(DataError, match="'weights' has shape"):
        HandModel(tmp_path)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cpu_and_cuda_agree(hand_model):
    pose, betas = torch.randn(8, 30), torch.randn(8, 10)
    with torch.no_grad():
        cpu = hand_model(pose, betas).vertices
        gpu = HandModel("open").cuda()(pose.cuda(), betas.cuda()).vertices.cpu()
    assert torch.allclose(cpu, gpu, atol=1e-5)
