"""The nested objective: effective weights equal LossSpec.flat_weights(), terms skip cleanly, values match the
plain functions."""
from __future__ import annotations

import math

import pytest
import torch

from s2hand.config.spec import LOSS_TERMS, STAGE_TERMS, LossSpec, LossTerms
from s2hand.losses import (
    TERM_INPUTS,
    S2HandObjective,
    combine_loss_terms,
    compute_loss_terms,
    cotangent_laplacian,
    joint_angle_loss,
    joint_location_loss,
    quaternion_loss,
    s2hand_objective,
    smooth_loss,
    texture_shape_consistency_loss,
)

ALL_ON = LossTerms(**{name: True for name in LOSS_TERMS})
FRAMES = 2


def _spec(**changes) -> LossSpec:
    return LossSpec(terms=ALL_ON).model_copy(update=changes)


def _predictions(batch=4, size=12, faces=8, seed=0, dtype=torch.float64) -> dict:
    g = torch.Generator().manual_seed(seed)
    rand = lambda *shape: torch.rand(*shape, generator=g, dtype=dtype)  # noqa: E731
    detections = rand(batch, 21, 2) * size
    grid = torch.tensor([[x, y, 0.0] for y in range(3) for x in range(3)], dtype=dtype)
    return {
        "joints_2d": detections + 3 * torch.randn(batch, 21, 2, generator=g, dtype=dtype),
        "detections": detections,
        "confidences": 0.2 + 0.8 * rand(batch, 21),
        "hourglass_keypoints": torch.stack([detections + rand(batch, 21, 2), detections + 8 * rand(batch, 21, 2)]),
        "image": rand(batch, 3, size, size),
        "rendered": rand(batch, 3, size, size),
        "silhouette": rand(batch, size, size),
        "betas": torch.randn(batch, 10, generator=g, dtype=dtype),
        "face_colors": rand(batch, faces, 3) ** 3,
        "lighting": rand(batch, 11),
        "canonical_normals": torch.nn.functional.normalize(torch.randn(faces, 3, generator=g, dtype=dtype), dim=-1),
        "joints": 0.05 * torch.randn(batch, 21, 3, generator=g, dtype=dtype),
        "rotations": 2 * torch.randn(batch, 16, 3, generator=g, dtype=dtype),
        "pose": torch.randn(batch, 30, generator=g, dtype=dtype),
        "rotation": torch.randn(batch, 3, generator=g, dtype=dtype),
        "vertices": (grid + 0.1 * torch.randn(batch, 9, 3, generator=g, dtype=dtype)),
    }


def _laplacian(dtype=torch.float64):
    grid = torch.tensor([[x, y, 0.0] for y in range(3) for x in range(3)], dtype=dtype)
    faces = [(r * 3 + c, r * 3 + c + 1, (r + 1) * 3 + c + 1) for r in range(2) for c in range(2)]
    faces += [(r * 3 + c, (r + 1) * 3 + c + 1, (r + 1) * 3 + c) for r in range(2) for c in range(2)]
    return cotangent_laplacian(grid, torch.tensor(faces))


# --- weights --------------------------------------------------------------------------------------------------

def test_effective_weights_equal_flat_weights():
    ones = {name: torch.tensor(1.0, dtype=torch.float64) for name in LOSS_TERMS}
    default = LossSpec()
    total, _ = combine_loss_terms(ones, default)
    assert total.item() == pytest.approx(sum(default.flat_weights().values()), rel=1e-12)
    # the paper's products (FACTS §3), written out
    flat = _spec().flat_weights()
    expected = {"loc": 1e-3, "ori": 0.1, "pixel": 5e-3, "ssim": 1e-3, "beta": 0.01, "texture": 5e-3, "scale": 0.1,
                "joint_angle": 0.1, "kp2d": 1e-3, "cons": 2e-4, "quat": 0.05, "ts": 0.01}
    for name, weight in expected.items():
        assert flat[name] == pytest.approx(weight, rel=1e-12)
    # term by term: one term at 1, all others absent -> exactly its flat weight
    spec = _spec(w_3d=0.7, w_geo=0.3, w_ori=11.0, w_photo=0.2, w_ssim=0.4, w_regu=0.6, w_c=2.0, w_s=3.0, w_j=5.0,
                 w_2d=0.9, w_cons=0.8, w_quat=1.3, w_ts=1.7, w_temporal=0.25, w_smooth=0.5, w_mean_color=0.125,
                 w_laplacian=0.0625)
    flat = spec.flat_weights()
    for name in LOSS_TERMS:
        total, _ = combine_loss_terms({name: ones[name]}, spec)
        assert total.item() == pytest.approx(flat[name], rel=1e-12), name
    values = {name: torch.tensor(float(i + 1) / 7, dtype=torch.float64) for i, name in enumerate(LOSS_TERMS)}
    total, groups = combine_loss_terms(values, spec)
    assert total.item() == pytest.approx(sum(flat[n] * values[n].item() for n in LOSS_TERMS), rel=1e-12)
    assert groups["geo"].item() == pytest.approx(values["loc"].item() + 11.0 * values["ori"].item())


def test_switched_off_and_missing_terms_contribute_nothing():
    ones = {name: torch.tensor(1.0) for name in LOSS_TERMS}
    off = LossTerms(**{name: name not in ("ori", "ssim", "quat") for name in LOSS_TERMS})
    spec = LossSpec(terms=off)
    total, _ = combine_loss_terms(ones, spec)  # values given for switched-off terms are ignored
    assert total.item() == pytest.approx(sum(spec.flat_weights().values()), rel=1e-6)
    assert spec.flat_weights()["ori"] == 0.0
    partial = {name: ones[name] for name in ("loc", "beta")}
    total, groups = combine_loss_terms(partial, _spec())
    assert total.item() == pytest.approx(1e-3 + 1e-2, rel=1e-6)
    assert set(groups) == {"geo", "regu", "3d", "s2hand"}
    total, groups = combine_loss_terms({}, _spec())
    assert total.item() == 0.0 and groups == {}


# --- computing terms from predictions -------------------------------------------------------------------------

def test_every_term_is_computed_and_matches_the_plain_functions():
    p = _predictions()
    spec = _spec()
    out = s2hand_objective(p, spec, frames_per_sequence=FRAMES, laplacian=_laplacian())
    assert list(out.terms) == list(LOSS_TERMS)
    assert all(torch.isfinite(v) and v.dim() == 0 for v in out.terms.values())
    flat = spec.flat_weights()
    assert out.total.item() == pytest.approx(sum(flat[n] * out.terms[n].item() for n in LOSS_TERMS), rel=1e-12)
    # spot checks against direct calls, including the sequence reshaping (sequence-major, B = m·n)
    assert out.terms["loc"].item() == joint_location_loss(p["joints_2d"], p["detections"], p["confidences"]).item()
    assert out.terms["joint_angle"].item() == joint_angle_loss(p["rotations"][:, 1:]).item()
    assert out.terms["quat"].item() == quaternion_loss(p["rotations"].view(2, FRAMES, 16, 3)).item()
    ts = texture_shape_consistency_loss(p["face_colors"].view(2, FRAMES, 8, 3), p["lighting"].view(2, FRAMES, 11),
                                        p["canonical_normals"], p["betas"].view(2, FRAMES, 10))
    assert out.terms["ts"].item() == ts.item()
    poses = torch.cat([p["pose"], p["rotation"]], -1).view(2, FRAMES, 33)
    assert out.terms["smooth"].item() == smooth_loss(poses, spec.smooth_threshold).item()
    # an E_quat that sees the frames of one sequence: swapping two sequences changes nothing, mixing them does
    swapped = dict(p, rotations=p["rotations"][[2, 3, 0, 1]])
    assert compute_loss_terms(swapped, spec, frames_per_sequence=FRAMES, active={"quat"})["quat"].item() == \
        pytest.approx(out.terms["quat"].item())


def test_missing_inputs_skip_their_terms():
    p = _predictions()
    spec = _spec()
    for key in ("image", "hourglass_keypoints", "rotations", "confidences"):
        reduced = {k: v for k, v in p.items() if k != key}
        terms = compute_loss_terms(reduced, spec, frames_per_sequence=FRAMES, laplacian=_laplacian())
        skipped = {name for name in LOSS_TERMS if key in TERM_INPUTS[name]}
        assert set(terms) == set(LOSS_TERMS) - skipped, key
    # None counts as missing; no frames -> no sequence terms; no Laplacian -> no laplacian term
    terms = compute_loss_terms(dict(p, betas=None), spec)
    assert not {"beta", "ts", "quat", "temporal", "smooth", "laplacian"} & set(terms)
    assert {"loc", "texture", "kp2d"} <= set(terms)


def test_switches_stages_and_backward():
    p = {k: v.requires_grad_(True) if k in ("joints_2d", "rendered") else v for k, v in _predictions().items()}
    spec = LossSpec()  # defaults: the paper's terms on, baselines and extras off
    out = s2hand_objective(p, spec, frames_per_sequence=FRAMES, laplacian=_laplacian())
    assert not {"temporal", "smooth", "mean_color", "laplacian"} & set(out.terms)
    assert {"quat", "ts", "loc", "cons"} <= set(out.terms)
    out.total.backward()
    assert p["joints_2d"].grad.abs().sum() > 0 and p["rendered"].grad.abs().sum() > 0
    for stage, allowed in STAGE_TERMS.items():
        terms = S2HandObjective(_spec(), stage=stage, frames_per_sequence=FRAMES, laplacian=_laplacian())(p).terms
        assert set(terms) == set(allowed), stage
    only_2d = S2HandObjective(LossSpec(), stage="pretrain_2d")(p)
    assert set(only_2d.terms) == {"kp2d"} and set(only_2d.groups) == {"s2hand"}
    assert only_2d.total.item() == pytest.approx(1e-3 * only_2d.terms["kp2d"].item())


def test_objective_float32_and_errors():
    p = _predictions(dtype=torch.float32)
    out = S2HandObjective(_spec(), frames_per_sequence=FRAMES, laplacian=_laplacian(torch.float32))(p)
    assert out.total.dtype == torch.float32 and math.isfinite(out.total.item())
    with pytest.raises(ValueError, match="whole number"):
        compute_loss_terms(p, _spec(), frames_per_sequence=3)
    with pytest.raises(ValueError, match="unknown loss terms"):
        compute_loss_terms(p, _spec(), active={"loc", "nope"})
    with pytest.raises(ValueError, match="unknown stage"):
        S2HandObjective(_spec(), stage="warmup")
