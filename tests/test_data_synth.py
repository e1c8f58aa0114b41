"""Synthetic data: official layouts written exactly, determinism, resumption, self-consistent ground truth,
projection onto the rendered hand, and smooth video motion."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from s2hand.data.jsonio import write_json as reference_write_json
from s2hand.data.synth import SynthConfig, load_records, synthesize
from s2hand.data.synth.background import BackgroundBank
from s2hand.data.synth.generate import Synthesizer
from s2hand.data.synth.motion import bspline, sample_motion, time_warp
from s2hand.data.synth.render import Timer, composite_u8
from s2hand.data.synth.writers import write_json
from s2hand.errors import DataError
from s2hand.hand.joint_limits import JOINT_LIMITS_RAD
from s2hand.hand.joints import freihand_to_ho3d, opencv_to_opengl
from s2hand.utils.safe_pickle import restricted_load
from test_data_fixtures import FREIHAND, SIZE, scratch, synthetic_freihand, synthetic_ho3d, tree

FREIHAND_FILES = {
    "training_K.json", "training_mano.json", "training_xyz.json", "training_verts.json", "training_scale.json",
    "evaluation_K.json", "evaluation_scale.json", "evaluation_xyz.json", "evaluation_verts.json",
    "evaluation_mano.json", "detections/train.json", "detections/evaluation.json",
}


def _json(path):
    return np.asarray(json.loads(path.read_text()))


def test_freihand_layout_is_exact():
    root = synthetic_freihand()
    files = {k for k in tree(root) if not k.startswith(".s2hand-synth/")}
    images = {f"training/rgb/{i:08d}.jpg" for i in range(FREIHAND.train)} | {
        f"evaluation/rgb/{i:08d}.jpg" for i in range(FREIHAND.evaluation)}
    assert files == FREIHAND_FILES | images
    n, m = FREIHAND.train, FREIHAND.evaluation
    shapes = {"training_K": (n, 3, 3), "training_mano": (n, 1, 61), "training_xyz": (n, 21, 3),
              "training_verts": (n, 778, 3), "training_scale": (n,), "evaluation_K": (m, 3, 3),
              "evaluation_scale": (m,), "evaluation_xyz": (m, 21, 3), "evaluation_verts": (m, 778, 3)}
    for name, shape in shapes.items():
        assert _json(root / f"{name}.json").shape == shape, name
    with Image.open(root / "training/rgb/00000000.jpg") as image:
        assert image.format == "JPEG" and image.size == (SIZE, SIZE) and image.mode == "RGB"


def test_freihand_ground_truth_is_self_consistent(hand_model):
    root = synthetic_freihand()
    xyz, verts, K = _json(root / "training_xyz.json"), _json(root / "training_verts.json"), _json(root / "training_K.json")
    mano = _json(root / "training_mano.json")[:, 0]
    np.testing.assert_allclose(_json(root / "training_scale.json"), np.linalg.norm(xyz[:, 9] - xyz[:, 10], axis=-1),
                               atol=1e-8)
    assert (xyz[..., 2] > 0.1).all() and np.allclose(K[:, 2], [0, 0, 1]) and np.allclose(K[:, 0, 1], 0)
    # the stored 61 numbers (global rotvec, 45 absolute local rotvecs, β, T) reproduce the stored joints and mesh
    with torch.no_grad():
        t = torch.as_tensor(mano, dtype=torch.float32)
        out = hand_model(t[:, 3:48] - hand_model.pose_mean, t[:, 48:58], rotation=t[:, :3], translation=t[:, 58:],
                         pose_space="axis_angle")
    np.testing.assert_allclose(out.joints.numpy(), xyz, atol=2e-5)
    np.testing.assert_allclose(out.vertices.numpy(), verts, atol=2e-5)
    # and the poses respect the joint limits
    local = mano[:, 3:48].reshape(-1, 15, 3)
    assert (local >= JOINT_LIMITS_RAD[..., 0] - 1e-6).all() and (local <= JOINT_LIMITS_RAD[..., 1] + 1e-6).all()


def test_same_seed_same_bytes_and_another_seed_differs():
    again = scratch("again") / "data"
    synthesize(FREIHAND, again, progress=False, workers=2)  # two processes, chunks in any order: same bytes
    assert tree(again) == tree(synthetic_freihand())
    other = scratch("other") / "data"
    synthesize(replace(FREIHAND, seed=4, evaluation=0, train=4), other, progress=False)
    assert not np.allclose(_json(other / "training_xyz.json"), _json(synthetic_freihand() / "training_xyz.json")[:4])


def test_interrupted_run_resumes_to_the_same_result():
    root = scratch("resume") / "data"

    def stop_after_first(split, chunk):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        synthesize(FREIHAND, root, progress=False, on_chunk=stop_after_first)
    done = sorted(p.name for p in root.rglob("*.jpg"))
    assert len(done) == FREIHAND.chunk and not (root / "training_xyz.json").exists()
    result = synthesize(FREIHAND, root, progress=False)
    assert result.skipped == FREIHAND.chunk and result.rendered == FREIHAND.train + FREIHAND.evaluation - FREIHAND.chunk
    assert tree(root) == tree(synthetic_freihand())
    assert synthesize(FREIHAND, root, progress=False).rendered == 0  # complete: nothing to redo


def test_refuses_to_mix_two_configurations():
    with pytest.raises(DataError, match="different synthetic dataset"):
        synthesize(replace(FREIHAND, seed=99), synthetic_freihand(), progress=False)
    foreign = scratch("foreign")
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(DataError, match="not empty"):
        synthesize(FREIHAND, foreign, progress=False)


def test_projected_joints_land_on_the_rendered_hand(monkeypatch):
    """With a plain blue background, the pixel under every visible projected joint belongs to the hand."""
    from s2hand.data.synth import background

    monkeypatch.setattr(background.BackgroundBank, "sample",
                        lambda self, rng, batch, size, **kw: torch.tensor([0.0, 0.0, 1.0]).view(1, 3, 1, 1).expand(
                            batch, 3, size, size).clone())
    root = scratch("blue") / "data"
    synthesize(SynthConfig("freihand", seed=1, train=8, image_size=128, chunk=8), root, progress=False)
    xyz, K = _json(root / "training_xyz.json"), _json(root / "training_K.json")
    visible = load_records(root, "train")["visible"]
    uv = np.einsum("nij,nkj->nki", K, xyz)
    uv = uv[..., :2] / uv[..., 2:]
    hits = []
    for i in range(len(xyz)):
        image = np.asarray(Image.open(root / f"training/rgb/{i:08d}.jpg")).astype(int)
        for (u, v), seen in zip(uv[i], visible[i]):
            if seen and 0 <= u < 128 and 0 <= v < 128:
                r, g, b = image[int(v), int(u)]
                hits.append(not (b > 200 and r < 60 and g < 60))
    assert len(hits) > 50 and np.mean(hits) > 0.95


def test_ho3d_layout_meta_and_conventions(hand_model):
    root = synthetic_ho3d()
    train = (root / "train.txt").read_text().split()
    evaluation = (root / "evaluation.txt").read_text().split()
    assert train == [f"S{s:04d}/{f:04d}" for s in range(2) for f in range(10)]
    assert evaluation == [f"E0000/{f:04d}" for f in range(10)]
    for split, names in (("train", train), ("evaluation", evaluation)):
        for name in names:
            seq, frame = name.split("/")
            assert (root / split / seq / "rgb" / f"{frame}.jpg").is_file()
            assert (root / split / seq / "meta" / f"{frame}.pkl").is_file()
    meta = restricted_load(root / "train/S0000/meta/0003.pkl")
    assert set(meta) == {"handJoints3D", "handPose", "handBeta", "handTrans", "camMat"}
    assert meta["handJoints3D"].shape == (21, 3) and meta["handPose"].shape == (48,) and meta["camMat"].shape == (3, 3)
    assert (meta["handJoints3D"][:, 2] < 0).all(), "OpenGL: the hand is at negative z"
    with torch.no_grad():  # handPose/handBeta/handTrans (OpenGL) reproduce handJoints3D with the same hand model
        pose = torch.as_tensor(meta["handPose"][None])
        out = hand_model(pose[:, 3:] - hand_model.pose_mean, torch.as_tensor(meta["handBeta"][None]),
                         rotation=pose[:, :3], translation=torch.as_tensor(meta["handTrans"][None]),
                         pose_space="axis_angle")
    np.testing.assert_allclose(freihand_to_ho3d(out.joints[0].numpy()), meta["handJoints3D"], atol=1e-5)
    records = load_records(root, "train")
    np.testing.assert_allclose(meta["handJoints3D"], opencv_to_opengl(freihand_to_ho3d(records["joints"][3])), atol=1e-5)

    eval_meta = restricted_load(root / "evaluation/E0000/meta/0004.pkl")
    assert set(eval_meta) == {"handJoints3D", "handBoundingBox", "camMat"} and eval_meta["handJoints3D"].shape == (3,)
    xyz, verts = _json(root / "evaluation_xyz.json"), _json(root / "evaluation_verts.json")
    assert xyz.shape == (10, 21, 3) and verts.shape == (10, 778, 3) and (xyz[..., 2] < 0).all()
    np.testing.assert_allclose(xyz[4, 0], eval_meta["handJoints3D"], atol=1e-5)
    x0, y0, x1, y1 = eval_meta["handBoundingBox"]
    uv = opencv_to_opengl(verts[4]) @ eval_meta["camMat"].T
    uv = uv[:, :2] / uv[:, 2:]
    np.testing.assert_allclose([uv[:, 0].min(), uv[:, 1].min(), uv[:, 0].max(), uv[:, 1].max()], [x0, y0, x1, y1],
                               atol=1e-2)


def test_ho3d_v2_naming():
    root = scratch("v2") / "data"
    synthesize(SynthConfig("ho3d", seed=0, sequences=1, eval_sequences=0, frames=3, image_size=64, ho3d_version=2),
               root, progress=False)
    assert sorted(p.name for p in (root / "train/S0000/rgb").iterdir()) == ["0000.png", "0001.png", "0002.png"]
    assert not (root / "evaluation.txt").exists()


def test_videos_move_smoothly_with_pauses_and_reversals():
    rng = np.random.default_rng(0)
    motions = [sample_motion(rng, 240, np.zeros(3)) for _ in range(6)]
    for m in motions:
        local = m.pose.reshape(-1, 15, 3)
        assert (local >= JOINT_LIMITS_RAD[..., 0] - 1e-9).all() and (local <= JOINT_LIMITS_RAD[..., 1] + 1e-9).all()
        velocity = np.diff(m.pose, axis=0)
        acceleration = np.diff(m.pose, 2, axis=0)
        assert np.abs(velocity).max() < 0.3, "no jumps between frames (radians per frame)"
        # smooth: acceleration well below velocity (white noise has |a|/|v| ≈ 1.7, a random walk ≈ 1.4)
        assert np.linalg.norm(acceleration, axis=1).mean() < 0.6 * np.linalg.norm(velocity, axis=1).mean()
    speeds = np.concatenate([np.r_[m.pose_speed, m.global_speed] for m in motions])
    assert (speeds == 0).mean() > 0.05, "pauses"
    assert any((np.sign(m.global_speed[m.global_speed != 0])[1:] != np.sign(m.global_speed[m.global_speed != 0])[:-1]).any()
               for m in motions), "direction changes"
    # the rendered video's joints move a little from frame to frame, much less than between sequences
    joints = load_records(synthetic_ho3d(), "train")["joints"].reshape(2, 10, 21, 3)
    step = np.linalg.norm(np.diff(joints, axis=1), axis=-1).mean()
    assert 0 < step < 0.02 and step < 0.25 * np.linalg.norm(joints[0] - joints[1], axis=-1).mean()


def test_bspline_and_warp_basics():
    keys = np.array([[0.0], [1.0], [2.0], [3.0], [4.0]])
    assert np.allclose(bspline(keys, np.linspace(0, 1, 5))[:, 0], [1, 1.5, 2, 2.5, 3])  # linear keys stay linear
    phase, speed = time_warp(np.random.default_rng(1), 100)
    assert phase.min() == 0 and 0 < phase.max() <= 1 and len(speed) == 100


# ---------------------------------------------------------------------------------------------------------------
# The fast paths: uint8 compositing, uint8 backgrounds, the JSON writer, the stage timer


def test_composite_u8_paints_faces_over_the_background_and_blurs_only_the_outline():
    gen = torch.Generator().manual_seed(0)
    batch, faces, size = 2, 5, 16
    lit = torch.rand(batch, faces, 3, generator=gen) * 1.2  # over-bright colours saturate
    face_index = torch.full((batch, size, size), -1)
    face_index[0, 3:9, 4:12] = 2
    face_index[0, 5:7, 5:7] = 4
    face_index[1, 10:, :] = 0
    background = torch.rand(batch, 3, size, size, generator=gen)
    hard = composite_u8(lit, face_index, background, antialias=False)
    expected = torch.where(face_index[..., None] >= 0,
                           lit[torch.arange(batch)[:, None, None], face_index.clamp_min(0)],
                           background.permute(0, 2, 3, 1))
    assert hard.dtype == torch.uint8 and hard.shape == (batch, size, size, 3)
    assert torch.equal(hard, (expected * 255 + 0.5).clamp(0, 255).to(torch.uint8))
    as_uint8 = composite_u8(lit, face_index, hard.clone(), antialias=False)  # a uint8 canvas is painted over
    assert torch.equal(as_uint8, hard)
    soft = composite_u8(lit, face_index, background, antialias=True)
    covered = face_index >= 0
    outline = torch.zeros_like(covered)
    for di, dj in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        shifted = torch.full_like(covered, False)
        rows = slice(max(di, 0), size + min(di, 0))
        cols = slice(max(dj, 0), size + min(dj, 0))
        src_rows = slice(max(-di, 0), size + min(-di, 0))
        src_cols = slice(max(-dj, 0), size + min(-dj, 0))
        shifted[:, rows, cols] = covered[:, src_rows, src_cols]
        inside = torch.zeros_like(covered)
        inside[:, rows, cols] = True
        outline |= inside & (shifted != covered)
    changed = (soft != hard).any(-1)
    assert changed.any() and not (changed & ~outline).any()
    i, j = 3, 6  # top edge of face 2: (4·own + left + right + below + above) / 8
    around = [hard[0, i, j], hard[0, i, j - 1], hard[0, i, j + 1], hard[0, i + 1, j], hard[0, i - 1, j]]
    total = 4 * around[0].int() + sum(a.int() for a in around[1:])
    assert torch.equal(soft[0, i, j], ((total + 4) // 8).to(torch.uint8))


def test_background_bank_uint8_matches_float():
    bank = BackgroundBank(4, 48, seed=3)
    params = bank.sample_params(np.random.default_rng(1), 6)
    floats = bank.sample(None, 6, 40, params=params)
    uint8 = bank.sample(None, 6, 40, params=params, as_uint8=True)
    assert floats.shape == (6, 3, 40, 40) and uint8.shape == (6, 40, 40, 3) and uint8.dtype == torch.uint8
    assert 0 <= floats.min() and floats.max() <= 1 and floats.std() > 0.05
    diff = (floats.permute(0, 2, 3, 1) * 255 + 0.5).floor() - uint8.float()
    assert diff.abs().max() <= 1 and (diff != 0).float().mean() < 0.01  # float rounding only


@pytest.mark.parametrize("decimals", [0, 2, 4, 6, 8])
def test_write_json_is_byte_identical_to_jsonio(decimals):
    rng = np.random.default_rng(decimals)
    arrays = [
        rng.normal(size=(7, 30, 3)) * 0.05 + [0.0, 0.0, 0.5],  # vertex-like metres
        rng.normal(size=(5, 1, 61)) * 3,  # MANO parameters
        np.array([[480.0, 0.0, 112.3456], [0.0, 480.0, 111.0], [0.0, 0.0, 1.0]])[None].repeat(3, 0),  # K
        np.array([0.0, -0.0, 1.0, -2.0, 1e-4, -1e-4, 9.99995e-5, 5e-5, -2.5e-6, 1e-7, 0.5, 123.4, 1.5e-5]),
        rng.normal(size=(4,)) * 1e-5,  # mostly scientific notation
        np.arange(6, dtype=np.int64).reshape(2, 3),  # not float: plain json
        np.zeros((0, 3)),
    ]
    for k, array in enumerate(arrays):
        ours, reference = scratch(f"json-{decimals}-{k}") / "a.json", scratch(f"ref-{decimals}-{k}") / "a.json"
        write_json(ours, array, decimals)
        reference_write_json(reference, array, decimals)
        assert ours.read_bytes() == reference.read_bytes(), (decimals, k)
    mixed = {"format": "x", "values": arrays[0], "n": 3}
    ours, reference = scratch(f"dict-{decimals}") / "a.json", scratch(f"dict-ref-{decimals}") / "a.json"
    write_json(ours, mixed, decimals)
    reference_write_json(reference, mixed, decimals)
    assert ours.read_bytes() == reference.read_bytes()


def test_stage_timer_covers_the_chunk():
    config = SynthConfig("freihand", seed=2, train=4, image_size=64, chunk=4)
    synthesizer = Synthesizer(config, scratch("timer") / "data")
    synthesizer._check_manifest()
    synthesizer.timer = Timer()
    assert synthesizer.run_chunk("train", 0) == 4
    stages = {"scenes", "background", "hand_model", "rasterize", "composite", "ground_truth", "write_images", "marker"}
    assert set(synthesizer.timer.cpu) == stages and set(synthesizer.timer.wall) == stages
    assert all(t >= 0 for t in synthesizer.timer.wall.values()) and sum(synthesizer.timer.wall.values()) > 0
