"""The training objective: every loss term from a dict of predictions, combined with the paper's nested weights.

    E_geo   = E_loc + w_ori·E_ori                                  (Eq. 5)
    E_photo = E_pixel + w_ssim·E_SSIM                              (Eq. 8)
    E_regu  = E_β + w_c·E_C + w_s·E_s + w_j·E_J                    (Eq. 9)
    E_3d    = w_geo·E_geo + w_photo·E_photo + w_regu·E_regu        (Eq. 2)
    E_S2HAND = w_3d·E_3d + w_2d·E_2d + w_cons·E_cons               (Eq. 1)
    total   = E_S2HAND + w_quat·E_quat + w_ts·E_T&S                (Eq. 23)
              + w_temporal·E_temporal + w_smooth·E_smooth          (Table 4 baselines, off by default)
              + w_mean_color·E_mean_color + w_laplacian·E_laplacian (reference-code extras, off by default)

so each term's effective weight is ``LossSpec.flat_weights()[name]``. A term is computed when its switch
``loss.terms.<name>`` is on, it is in `active` (e.g. ``STAGE_TERMS[stage]``) and all its inputs are present.

Prediction keys (all batched over B images; missing keys silently skip the terms that need them):

    joints_2d            (B, 21, 2) px    projected 3D joints, FreiHAND order           loc, ori, cons
    detections           (B, 21, 2) px    detected 2D keypoints                          loc, ori, kp2d
    confidences          (B, 21)[, 1]     detection confidences in [0, 1]        loc, ori, kp2d, pixel, mean_color
    hourglass_keypoints  (S, B, 21, 2) px or a list of S (B, 21, 2): 2D branch per stack kp2d (all), cons (last)
    image                (B, 3, H, W)     input RGB in [0, 1]                            pixel, ssim, mean_color
    rendered             (B, 3, H, W)     rendered RGB (RenderOutput.image)              pixel, ssim, mean_color
    silhouette           (B, H, W)        rendered silhouette (RenderOutput.silhouette)  pixel, ssim, mean_color
    background           float | (3,) | (B, 3)  render background colour, default 0 (black)
    betas                (B, 10)          shape coefficients                             beta, ts
    face_colors          (B, F, 3)        albedo per face                                texture, ts
    lighting             (B, 11)          lighting code                                  ts
    canonical_normals    (F, 3) | (B, F, 3)  unit face normals of the canonical zero pose  ts
    joints               (B, 21, 3) m     camera-space joints, FreiHAND order            scale
    rotations            (B, 16, 3) rad   [global R, 15 local with mean pose] (HandOutput.rotations)  joint_angle, quat
    pose, rotation       (B, P), (B, 3)   PCA pose coefficients and global axis-angle    temporal, smooth
    vertices             (B, V, 3) m      camera-space mesh                              laplacian

Sequence terms (quat, ts, temporal, smooth) also need ``frames_per_sequence`` = n: the batch is m·n images,
sequence-major (image b = frame b % n of sequence b // n, frames in time order).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Collection, Mapping

import torch
from torch import nn

from s2hand.config.spec import LOSS_TERMS, STAGE_TERMS, LossSpec

from .keypoints import bone_orientation_loss, consistency_loss, joint_location_loss, keypoint_2d_branch_loss
from .photometric import mean_color_loss, pixel_loss, ssim_loss
from .regularizers import joint_angle_loss, laplacian_smoothness_loss, scale_loss, shape_loss, texture_outlier_loss
from .temporal import quaternion_loss, smooth_loss, temporal_loss, texture_shape_consistency_loss

__all__ = [
    "TERM_INPUTS",
    "SEQUENCE_TERMS",
    "LossOutput",
    "compute_loss_terms",
    "combine_loss_terms",
    "s2hand_objective",
    "S2HandObjective",
]

# The prediction keys each term needs (besides frames_per_sequence / laplacian, see below).
TERM_INPUTS: Mapping[str, tuple[str, ...]] = {
    "loc": ("joints_2d", "detections", "confidences"),
    "ori": ("joints_2d", "detections", "confidences"),
    "pixel": ("rendered", "image", "silhouette", "confidences"),
    "ssim": ("rendered", "image", "silhouette"),
    "beta": ("betas",),
    "texture": ("face_colors",),
    "scale": ("joints",),
    "joint_angle": ("rotations",),
    "kp2d": ("hourglass_keypoints", "detections", "confidences"),
    "cons": ("joints_2d", "hourglass_keypoints"),
    "quat": ("rotations",),
    "ts": ("face_colors", "lighting", "canonical_normals", "betas"),
    "temporal": ("pose", "rotation"),
    "smooth": ("pose", "rotation"),
    "mean_color": ("rendered", "image", "silhouette", "confidences"),
    "laplacian": ("vertices",),
}
SEQUENCE_TERMS = frozenset({"quat", "ts", "temporal", "smooth"})
assert set(TERM_INPUTS) == set(LOSS_TERMS)


@dataclass(frozen=True)
class LossOutput:
    """total: the scalar to minimise. terms: unweighted value of every computed term (LOSS_TERMS names).
    groups: the nested sums that exist (geo, photo, regu, 3d, s2hand), for logging."""

    total: torch.Tensor
    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    groups: dict[str, torch.Tensor] = field(default_factory=dict)


def _sequences(x: torch.Tensor, frames: int) -> torch.Tensor:
    if x.shape[0] % frames:
        raise ValueError(f"batch of {x.shape[0]} is not a whole number of {frames}-frame sequences")
    return x.reshape(x.shape[0] // frames, frames, *x.shape[1:])


def _last_stack(stacks: Any) -> torch.Tensor:
    if isinstance(stacks, torch.Tensor):
        return stacks if stacks.dim() == 3 else stacks[-1]
    return stacks[-1]


def _term_functions(p: Mapping[str, Any], spec: LossSpec, frames: int | None,
                    laplacian: torch.Tensor | None) -> dict[str, Callable[[], torch.Tensor]]:
    delta = spec.huber_delta_px
    background = p.get("background", 0.0)
    seq = lambda key: _sequences(p[key], frames)  # noqa: E731
    return {
        "loc": lambda: joint_location_loss(p["joints_2d"], p["detections"], p["confidences"], delta=delta),
        "ori": lambda: bone_orientation_loss(p["joints_2d"], p["detections"], p["confidences"]),
        "pixel": lambda: pixel_loss(p["rendered"], p["image"], p["silhouette"], p["confidences"],
                                    background=background),
        "ssim": lambda: ssim_loss(p["rendered"], p["image"], p["silhouette"], background=background),
        "beta": lambda: shape_loss(p["betas"]),
        "texture": lambda: texture_outlier_loss(p["face_colors"]),
        "scale": lambda: scale_loss(p["joints"]),
        "joint_angle": lambda: joint_angle_loss(p["rotations"][:, 1:]),
        "kp2d": lambda: keypoint_2d_branch_loss(p["hourglass_keypoints"], p["detections"], p["confidences"],
                                                delta=delta),
        "cons": lambda: consistency_loss(p["joints_2d"], _last_stack(p["hourglass_keypoints"]), delta=delta),
        "quat": lambda: quaternion_loss(seq("rotations")),
        "ts": lambda: texture_shape_consistency_loss(
            seq("face_colors"), seq("lighting"),
            p["canonical_normals"] if p["canonical_normals"].dim() == 2 else seq("canonical_normals"),
            seq("betas")),
        "temporal": lambda: temporal_loss(_sequences(torch.cat([p["pose"], p["rotation"]], -1), frames)),
        "smooth": lambda: smooth_loss(_sequences(torch.cat([p["pose"], p["rotation"]], -1), frames),
                                      spec.smooth_threshold),
        "mean_color": lambda: mean_color_loss(p["rendered"], p["image"], p["silhouette"], p["confidences"],
                                              background=background),
        "laplacian": lambda: laplacian_smoothness_loss(p["vertices"], laplacian),
    }


def compute_loss_terms(
    predictions: Mapping[str, Any],
    spec: LossSpec,
    *,
    frames_per_sequence: int | None = None,
    laplacian: torch.Tensor | None = None,
    active: Collection[str] | None = None,
) -> dict[str, torch.Tensor]:
    """Unweighted value of every term that is switched on, in `active` (None = all) and has its inputs.

    predictions: see the module docstring. frames_per_sequence: n for the sequence terms (None skips them).
    laplacian: (V, V) from `cotangent_laplacian` for the laplacian term (None skips it). Returns {name: scalar}
    in LOSS_TERMS order.
    """
    if active is not None and (unknown := set(active) - set(LOSS_TERMS)):
        raise ValueError(f"unknown loss terms {sorted(unknown)}; known: {', '.join(LOSS_TERMS)}")
    functions = _term_functions(predictions, spec, frames_per_sequence, laplacian)
    terms: dict[str, torch.Tensor] = {}
    for name in LOSS_TERMS:
        if not getattr(spec.terms, name) or (active is not None and name not in active):
            continue
        if any(predictions.get(key) is None for key in TERM_INPUTS[name]):
            continue
        if (name in SEQUENCE_TERMS and frames_per_sequence is None) or (name == "laplacian" and laplacian is None):
            continue
        terms[name] = functions[name]()
    return terms


def _weighted_sum(parts: list[tuple[float, torch.Tensor | None]]) -> torch.Tensor | None:
    present = [weight * value for weight, value in parts if value is not None]
    return sum(present[1:], present[0]) if present else None


def combine_loss_terms(
    terms: Mapping[str, torch.Tensor], spec: LossSpec
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Nest the terms with the paper's weights (module docstring); absent or switched-off terms count as 0.

    Returns (total, groups). The effective weight of each term equals ``spec.flat_weights()[name]``.
    """
    t = {name: value for name, value in terms.items() if getattr(spec.terms, name)}
    groups: dict[str, torch.Tensor] = {}

    def group(name: str, parts: list[tuple[float, torch.Tensor | None]]) -> torch.Tensor | None:
        value = _weighted_sum(parts)
        if value is not None:
            groups[name] = value
        return value

    geo = group("geo", [(1.0, t.get("loc")), (spec.w_ori, t.get("ori"))])
    photo = group("photo", [(1.0, t.get("pixel")), (spec.w_ssim, t.get("ssim"))])
    regu = group("regu", [(1.0, t.get("beta")), (spec.w_c, t.get("texture")), (spec.w_s, t.get("scale")),
                          (spec.w_j, t.get("joint_angle"))])
    e3d = group("3d", [(spec.w_geo, geo), (spec.w_photo, photo), (spec.w_regu, regu)])
    s2hand = group("s2hand", [(spec.w_3d, e3d), (spec.w_2d, t.get("kp2d")), (spec.w_cons, t.get("cons"))])
    total = _weighted_sum([
        (1.0, s2hand), (spec.w_quat, t.get("quat")), (spec.w_ts, t.get("ts")),
        (spec.w_temporal, t.get("temporal")), (spec.w_smooth, t.get("smooth")),
        (spec.w_mean_color, t.get("mean_color")), (spec.w_laplacian, t.get("laplacian")),
    ])
    if total is None:
        total = torch.zeros(())
    return total, groups


def s2hand_objective(
    predictions: Mapping[str, Any],
    spec: LossSpec,
    *,
    frames_per_sequence: int | None = None,
    laplacian: torch.Tensor | None = None,
    active: Collection[str] | None = None,
) -> LossOutput:
    """E_S2HAND (Eq. 1) / E_S2HAND(V) (Eq. 23): `compute_loss_terms` then `combine_loss_terms`."""
    terms = compute_loss_terms(predictions, spec, frames_per_sequence=frames_per_sequence, laplacian=laplacian,
                               active=active)
    total, groups = combine_loss_terms(terms, spec)
    return LossOutput(total, terms, groups)


class S2HandObjective(nn.Module):
    """`s2hand_objective` bound to a spec, a training stage and the static inputs (moves with ``.to(device)``).

    stage: one of STAGES; restricts the terms to ``STAGE_TERMS[stage]`` (None = every term the spec enables).
    laplacian: (V, V) cotangent Laplacian of the template mesh, kept as a non-persistent buffer.
    """

    def __init__(self, spec: LossSpec, *, stage: str | None = None, frames_per_sequence: int | None = None,
                 laplacian: torch.Tensor | None = None) -> None:
        super().__init__()
        if stage is not None and stage not in STAGE_TERMS:
            raise ValueError(f"unknown stage {stage!r}; known: {', '.join(STAGE_TERMS)}")
        self.spec = spec
        self.active = STAGE_TERMS[stage] if stage is not None else None
        self.frames_per_sequence = frames_per_sequence
        self.register_buffer("laplacian", laplacian, persistent=False)

    def forward(self, predictions: Mapping[str, Any]) -> LossOutput:
        return s2hand_objective(predictions, self.spec, frames_per_sequence=self.frames_per_sequence,
                                laplacian=self.laplacian, active=self.active)
