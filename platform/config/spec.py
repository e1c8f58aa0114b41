"""The experiment schema: one frozen pydantic model per section of an S2HAND / S2HAND(V) run.

Defaults are the paper's (§3.2.4, §3.3.3, §4.3) on the embedded synthetic data, so ``ExperimentSpec()`` (an empty
YAML file) is a runnable spec. Every model forbids unknown keys and is strict about scalar types (``1`` is not a
bool, ``true`` is not a number); paths and tuples are the exceptions, since YAML can only spell them as strings and
lists. Cross-section rules live in ``ExperimentSpec._check_consistency`` and name the offending dotted key.
"""
from __future__ import annotations

import math
import os
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Mapping, Sequence, Union

import yaml
from annotated_types import Ge, Gt, Le, Lt
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, Strict, StringConstraints, model_validator
from pydantic.fields import FieldInfo

__all__ = [
    "FLAT_WEIGHT_FACTORS",
    "LOSS_TERMS",
    "STAGES",
    "STAGE_TERMS",
    "SEQUENCE_LAYOUTS",
    "SpecValueError",
    "ExperimentSpec",
    "HandSpec",
    "AugmentSpec",
    "SequenceSpec",
    "DataSpec",
    "HourglassSpec",
    "ModelSpec",
    "LossTerms",
    "LossSpec",
    "TrainSpec",
    "DistributedSpec",
    "TrackingSpec",
    "SearchDim",
    "SchedulerSpec",
    "TrialResources",
    "SweepSpec",
    "setting_field",
    "setting_kinds",
    "section_model",
]


# --------------------------------------------------------------------------------------------- shared types


def _absolute(path: Path) -> Path:
    # Stored absolute: Ray Tune trials run in their own working directory, so a relative path would move.
    return Path(os.path.abspath(os.path.expanduser(path)))


AbsPath = Annotated[Path, Strict(False), AfterValidator(_absolute)]
NonNegFloat = Annotated[float, Ge(0)]
PosFloat = Annotated[float, Gt(0)]
PosInt = Annotated[int, Ge(1)]
NonNegInt = Annotated[int, Ge(0)]
Fraction = Annotated[float, Ge(0), Le(1)]
RunName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]

Stage = Literal["pretrain_2d", "pretrain_3d", "finetune", "video_finetune"]
Layout = Literal["freihand", "ho3d", "stb", "yt3d", "synthetic-freihand", "synthetic-ho3d"]
STAGES: tuple[str, ...] = typing.get_args(Stage)
SEQUENCE_LAYOUTS = frozenset({"ho3d", "stb", "yt3d", "synthetic-ho3d"})  # layouts with video sequences


class SpecValueError(ValueError):
    """A cross-field rule failed; ``key`` is the full key to blame (the loader adds the file).

    ``key`` is dotted (``"data.root"``) or a tuple of parts where a part holds dots (``("space", "train.lr")``);
    ``related`` are the other keys of the rule, so the error can point at whichever of them the user set.
    """

    def __init__(self, key: str | tuple[str, ...], message: str, related: tuple[str, ...] = ()):
        super().__init__(message)
        self.parts: tuple[str, ...] = tuple(key.split(".")) if isinstance(key, str) else key
        self.related: tuple[tuple[str, ...], ...] = tuple(tuple(k.split(".")) for k in related)


class Section(BaseModel):
    """Base of every spec model: unknown keys refused, immutable once built, defaults validated too."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, validate_default=True)


# --------------------------------------------------------------------------------------------- sections


class HandSpec(Section):
    model: Literal["open"] | AbsPath = Field(
        "open",
        description='Hand model: "open" = the bundled open hand model, or a directory holding a converted '
        "MANO_RIGHT.npz (the official pickle is licence-restricted and never shipped).",
    )
    pose_pca: Annotated[int, Ge(1), Le(45)] = Field(
        30, description="Number of MANO pose PCA components the network predicts (paper: 30)."
    )
    flat_hand_mean: bool = Field(
        False, description="Use a flat mean pose instead of MANO's `hands_mean` (S2HAND adds the mean: false)."
    )
    fingertips: Literal["s2hand", "manopth", "smplx"] = Field(
        "s2hand",
        description="Fingertip vertex ids (thumb, index, middle, ring, pinky): s2hand 744/320/443/555/672, "
        "manopth 745/317/444/556/673, smplx 744/320/443/554/671.",
    )


class AugmentSpec(Section):
    rotation: bool = Field(
        True, description="Random in-plane rotation about the image centre; K and keypoints rotate alike."
    )
    rotation_max_deg: Annotated[float, Ge(0), Le(180)] = Field(
        180.0, description="Rotation angle drawn uniformly from ±this many degrees (paper: ±180 = [−π, π])."
    )
    crop_jitter: Annotated[float, Ge(0), Le(0.5)] = Field(
        0.0, description="Random crop-centre shift, as a fraction of the crop size (0 = off)."
    )
    scale_jitter: Annotated[float, Ge(0), Lt(1)] = Field(
        0.0, description="Random crop scale drawn from 1 ± this (0 = off)."
    )
    color_jitter: Fraction = Field(
        0.0, description="Brightness, contrast and saturation jitter strength (0 = off; photometric losses "
        "compare against the jittered image)."
    )


class SequenceSpec(Section):
    frames: Annotated[int, Ge(2)] = Field(
        3, description="Frames sampled per sequence, n in Eq. 17 (paper best: 3); a batch holds "
        "train.batch_size // n sequences. Used by the video_finetune stage."
    )
    interval: PosInt = Field(3, description="Frame step between the sampled frames of a sequence (paper best: 3).")


class DataSpec(Section):
    layout: Layout = Field(
        "synthetic-freihand",
        description="Dataset layout on disk. The synthetic-* layouts are small embedded stand-ins with the "
        "same on-disk layout as FreiHAND / HO-3D.",
    )
    root: AbsPath | None = Field(
        None, description="Dataset root directory; null = the embedded synthetic data (synthetic-* layouts only)."
    )
    detections: AbsPath | None = Field(
        None,
        description="2D keypoint detections (S2HAND's OpenPose JSON: peaks, confidences, names); null = the "
        "layout's default file under the root (synthetic data carries its own).",
    )
    image_size: Annotated[int, Ge(32)] = Field(224, description="Square network input size in pixels (paper: 224).")
    train_split: str = Field("train", description="Split used for training (layout-specific name).")
    eval_split: str = Field("evaluation", description="Split used for evaluation (layout-specific name).")
    augment: AugmentSpec = Field(default_factory=AugmentSpec, description="Training-time augmentation.")
    sequence: SequenceSpec = Field(default_factory=SequenceSpec, description="Video sequence sampling.")
    num_workers: NonNegInt = Field(2, description="DataLoader worker processes per training worker (0 = main).")
    skip_bad: bool = Field(
        False, description="Skip unreadable or inconsistent samples (logged) instead of stopping with a DataError."
    )


class HourglassSpec(Section):
    stacks: PosInt = Field(2, description="Stacked hourglass modules of the 2D keypoint branch (reference: 2).")
    channels: PosInt = Field(256, description="Feature channels of each hourglass (reference: 256).")
    depth: PosInt = Field(4, description="Recursion depth of each hourglass (reference: 4).")


class ModelSpec(Section):
    variant: Literal["s2hand", "s2hand_v"] = Field(
        "s2hand", description="s2hand = image model; s2hand_v = the same network trained on video sequences."
    )
    encoder: Literal["efficientnet_b0"] = Field("efficientnet_b0", description="Image encoder (paper: b0).")
    pretrained_weights: AbsPath | None = Field(
        None, description="Local encoder weights file (ImageNet); null = random init (no downloads here)."
    )
    use_2d_branch: bool = Field(
        True, description="Build the stacked-hourglass 2D keypoint branch (training only; enables E_2d, E_cons)."
    )
    hourglass: HourglassSpec = Field(default_factory=HourglassSpec, description="2D keypoint branch shape.")
    camera: Literal["perspective", "orthographic"] = Field(
        "perspective", description="Projection; orthographic for data without intrinsics (YT 3D)."
    )
    use_texture_head: bool = Field(
        True, description="Predict per-face texture and lighting (enables E_pixel, E_SSIM, E_C and rendering)."
    )


# Loss terms, in the order the trainer logs them. Each name is a switch under `loss.terms` and a key of
# `LossSpec.flat_weights()`. kp2d is the paper's E_2d, texture E_C, scale E_s, joint_angle E_J, ts E_T&S.
LOSS_TERMS: tuple[str, ...] = (
    "loc", "ori", "pixel", "ssim", "beta", "texture", "scale", "joint_angle",  # E_3d (Eq. 2)
    "kp2d", "cons",  # E_2d, E_cons (Eq. 1)
    "quat", "ts",  # S2HAND(V) (Eq. 23)
    "temporal", "smooth",  # Table 4 baselines
    "mean_color", "laplacian",  # reference-code extras, not in the paper
)
_TERMS_3D = ("loc", "ori", "pixel", "ssim", "beta", "texture", "scale", "joint_angle", "mean_color", "laplacian")
STAGE_TERMS: Mapping[str, frozenset[str]] = types.MappingProxyType({
    "pretrain_2d": frozenset({"kp2d"}),
    "pretrain_3d": frozenset(_TERMS_3D),
    "finetune": frozenset(_TERMS_3D + ("kp2d", "cons")),
    "video_finetune": frozenset(_TERMS_3D + ("kp2d", "cons", "quat", "ts", "temporal", "smooth")),
})
_NEEDS_2D_BRANCH = frozenset({"kp2d", "cons"})
_NEEDS_TEXTURE = frozenset({"pixel", "ssim", "texture", "mean_color"})


def _switch(default: bool, what: str) -> Any:
    return Field(default, description=f"Compute {what}.")


class LossTerms(Section):
    loc: bool = _switch(True, "E_loc, the joint location loss (Eq. 3)")
    ori: bool = _switch(True, "E_ori, the bone orientation loss (Eq. 4)")
    pixel: bool = _switch(True, "E_pixel, the masked L1 photometric loss (Eq. 6)")
    ssim: bool = _switch(True, "E_SSIM (Eq. 7)")
    beta: bool = _switch(True, "E_β, the shape prior")
    texture: bool = _switch(True, "E_C, the texture outlier regulariser")
    scale: bool = _switch(True, "E_s, the bone-length scale regulariser")
    joint_angle: bool = _switch(True, "E_J, the joint-angle range regulariser")
    kp2d: bool = _switch(True, "E_2d, the 2D branch keypoint loss (Eq. 10)")
    cons: bool = _switch(True, "E_cons, the 2D-3D consistency loss (Eq. 11)")
    quat: bool = _switch(True, "E_quat, the quaternion motion loss (Eq. 18)")
    ts: bool = _switch(True, "E_T&S, the texture and shape consistency loss (Eq. 21)")
    temporal: bool = _switch(False, "the Table 4 temporal baseline (neighbouring poses pulled together)")
    smooth: bool = _switch(False, "the Table 4 smooth baseline (pose change penalised above a threshold)")
    mean_color: bool = _switch(False, "the reference code's mean-colour L1 (not in the paper)")
    laplacian: bool = _switch(False, "the reference code's cotangent-Laplacian smoothness (not in the paper)")


# Each term's effective weight is the product of the nested weights on its path through Eq. 1, 2, 5, 8, 9, 23
# (w_3d·w_geo·w_ori for E_ori); E_loc, E_pixel and E_β carry an implicit 1 inside their groups.
FLAT_WEIGHT_FACTORS: Mapping[str, tuple[str, ...]] = types.MappingProxyType({
    "loc": ("w_3d", "w_geo"),
    "ori": ("w_3d", "w_geo", "w_ori"),
    "pixel": ("w_3d", "w_photo"),
    "ssim": ("w_3d", "w_photo", "w_ssim"),
    "beta": ("w_3d", "w_regu"),
    "texture": ("w_3d", "w_regu", "w_c"),
    "scale": ("w_3d", "w_regu", "w_s"),
    "joint_angle": ("w_3d", "w_regu", "w_j"),
    "kp2d": ("w_2d",),
    "cons": ("w_cons",),
    "quat": ("w_quat",),
    "ts": ("w_ts",),
    "temporal": ("w_temporal",),
    "smooth": ("w_smooth",),
    "mean_color": ("w_mean_color",),
    "laplacian": ("w_laplacian",),
})


def _weight(default: float, what: str) -> Any:
    return Field(default, description=what)


class LossSpec(Section):
    """The paper's nested weights (Eq. 1, 2, 5, 8, 9, 23); `flat_weights()` gives each term's product."""

    w_3d: NonNegFloat = _weight(1.0, "Weight of E_3d in E_S2HAND (Eq. 1).")
    w_2d: NonNegFloat = _weight(0.001, "Weight of E_2d in E_S2HAND (Eq. 1).")
    w_cons: NonNegFloat = _weight(0.0002, "Weight of E_cons in E_S2HAND (Eq. 1).")
    w_geo: NonNegFloat = _weight(0.001, "Weight of E_geo in E_3d (Eq. 2).")
    w_photo: NonNegFloat = _weight(0.005, "Weight of E_photo in E_3d (Eq. 2).")
    w_regu: NonNegFloat = _weight(0.01, "Weight of E_regu in E_3d (Eq. 2).")
    w_ori: NonNegFloat = _weight(100.0, "Weight of E_ori in E_geo = E_loc + w_ori·E_ori (Eq. 5).")
    w_ssim: NonNegFloat = _weight(0.2, "Weight of E_SSIM in E_photo = E_pixel + w_ssim·E_SSIM (Eq. 8).")
    w_c: NonNegFloat = _weight(0.5, "Weight of E_C in E_regu (Eq. 9).")
    w_s: NonNegFloat = _weight(10.0, "Weight of E_s in E_regu (Eq. 9).")
    w_j: NonNegFloat = _weight(10.0, "Weight of E_J in E_regu (Eq. 9).")
    w_quat: NonNegFloat = _weight(0.05, "Weight of E_quat in E_S2HAND(V) (Eq. 23).")
    w_ts: NonNegFloat = _weight(0.01, "Weight of E_T&S in E_S2HAND(V) (Eq. 23).")
    # Baseline weights are not given in the paper: they default to w_quat so a Table 4 swap compares like for like.
    w_temporal: NonNegFloat = _weight(0.05, "Flat weight of the temporal baseline (added to E_S2HAND(V)).")
    w_smooth: NonNegFloat = _weight(0.05, "Flat weight of the smooth baseline (added to E_S2HAND(V)).")
    smooth_threshold: NonNegFloat = _weight(
        0.1, "Smooth baseline: per-frame pose change (pose-vector units: PCA coefficients, radians) left unpenalised."
    )
    w_mean_color: NonNegFloat = _weight(0.001, "Flat weight of the reference code's mean-colour L1.")
    w_laplacian: NonNegFloat = _weight(0.1, "Flat weight of the reference code's Laplacian smoothness.")
    huber_delta_px: PosFloat = _weight(
        5.0, "Robust penalty threshold δ in pixels for E_loc, E_2d and E_cons: Huber/δ, i.e. d²/2δ below δ and "
        "d − δ/2 above."
    )
    terms: LossTerms = Field(default_factory=LossTerms, description="Per-term on/off switches.")

    def flat_weights(self) -> dict[str, float]:
        """Effective weight of every term in the total loss (switched-off terms give 0), keyed by LOSS_TERMS."""
        return {
            name: math.prod(getattr(self, w) for w in FLAT_WEIGHT_FACTORS[name]) if getattr(self.terms, name) else 0.0
            for name in LOSS_TERMS
        }


class TrainSpec(Section):
    epochs: PosInt = Field(90, description="Training epochs (paper: 90 per pretraining stage, 60 to finetune).")
    max_steps_per_epoch: PosInt | None = Field(
        None, description="Cap on optimiser steps per epoch (smoke tests); null = the whole training split."
    )
    batch_size: PosInt = Field(
        64, description="Images per optimiser step over all workers (paper: 64; video: batch_size // n sequences)."
    )
    optimizer: Literal["adam"] = Field("adam", description="Optimiser (paper: Adam, no weight decay).")
    betas: Annotated[tuple[Annotated[float, Ge(0), Lt(1)], Annotated[float, Ge(0), Lt(1)]], Strict(False)] = Field(
        (0.9, 0.999), description="Adam β1, β2."
    )
    weight_decay: NonNegFloat = Field(0.0, description="L2 weight decay (paper: 0).")
    lr: PosFloat = Field(0.001, description="Initial learning rate (paper: 1e-3 pretraining, 2.5e-4 finetuning).")
    lr_step_epochs: PosInt = Field(30, description="Multiply the learning rate by lr_gamma every this many epochs.")
    lr_gamma: Annotated[float, Gt(0), Le(1)] = Field(
        0.5, description="Step decay factor (paper: 0.5 pretraining, 1/3 finetuning)."
    )
    amp: Literal["none", "bf16", "fp16"] = Field(
        "none", description="Mixed precision autocast (paper: none = fp32); fp16 adds a gradient scaler."
    )
    channels_last: bool = Field(False, description="Use the channels-last memory format for images and the encoder.")
    grad_clip: PosFloat | None = Field(None, description="Clip the global gradient norm to this; null = no clipping.")
    init_from: AbsPath | None = Field(
        None, description="Checkpoint of the previous stage to start from (stage-wise training); null = scratch."
    )
    max_consecutive_nonfinite: PosInt = Field(
        5, description="Steps with a non-finite loss are skipped; stop after this many in a row."
    )
    checkpoint_every: PosInt = Field(1, description="Save a checkpoint every this many epochs (and after the last).")
    eval_every: NonNegInt = Field(
        5, description="Evaluate every this many epochs and after the last; 0 = only after the last."
    )
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="auto = CUDA when available, else CPU.")


class DistributedSpec(Section):
    num_workers: PosInt = Field(1, description="Ray Train workers (data-parallel processes).")
    use_gpu: bool = Field(False, description="Give each worker GPUs (Ray Train ScalingConfig.use_gpu).")
    cpus_per_worker: PosFloat = Field(1.0, description="CPUs reserved per worker.")
    gpus_per_worker: NonNegFloat = Field(1.0, description="GPUs reserved per worker when use_gpu is true.")
    backend: Literal["auto", "nccl", "gloo"] = Field(
        "auto", description="torch.distributed backend; auto = nccl with GPUs, gloo on CPU."
    )
    storage_path: AbsPath = Field(
        Path("runs/ray"), description="Ray storage root; re-running the same name there resumes the run."
    )
    keep_checkpoints: PosInt | None = Field(2, description="Checkpoints kept per run; null = keep all.")
    checkpoint_metric: str | None = Field(
        None, description="Reported metric that ranks checkpoints to keep; null = keep the most recent."
    )
    checkpoint_mode: Literal["min", "max"] = Field("min", description="Whether a lower or higher metric is better.")
    max_failures: NonNegInt = Field(0, description="Worker-group restarts from the last checkpoint after a failure.")
    address: str | None = Field(
        None, description='Ray cluster address ("auto" = a running `ray start` cluster); null = start a local one.'
    )


class TrackingSpec(Section):
    enabled: bool = Field(True, description="Log parameters, metrics and artefacts to MLflow.")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI (e.g. http://127.0.0.1:5000); null = the embedded local server."
    )
    experiment: str = Field("s2hand", description="MLflow experiment name.")
    log_every: PosInt = Field(50, description="Log training metrics every this many optimiser steps.")
    log_images_every: NonNegInt = Field(
        1000, description="Log rendered overlays every this many optimiser steps; 0 = never."
    )


# --------------------------------------------------------------------------------------------- the spec


class ExperimentSpec(Section):
    """One training run: a stage of S2HAND / S2HAND(V) with its data, model, losses and infrastructure."""

    name: RunName = Field("s2hand", description="Run name (Ray run folder, MLflow run name).")
    seed: NonNegInt = Field(0, description="Global random seed (Python, NumPy, torch, data order).")
    stage: Stage = Field(
        "pretrain_3d",
        description="Training stage: pretrain_2d (E_2d), pretrain_3d (E_3d), finetune (E_S2HAND, Eq. 1) or "
        "video_finetune (E_S2HAND(V), Eq. 23).",
    )
    hand: HandSpec = Field(default_factory=HandSpec, description="Hand model.")
    data: DataSpec = Field(default_factory=DataSpec, description="Training and evaluation data.")
    model: ModelSpec = Field(default_factory=ModelSpec, description="Network.")
    loss: LossSpec = Field(default_factory=LossSpec, description="Loss weights and switches.")
    train: TrainSpec = Field(default_factory=TrainSpec, description="Optimisation schedule.")
    distributed: DistributedSpec = Field(default_factory=DistributedSpec, description="Ray Train scaling.")
    tracking: TrackingSpec = Field(default_factory=TrackingSpec, description="MLflow tracking.")

    @model_validator(mode="after")
    def _check_consistency(self) -> ExperimentSpec:
        data, model, train, dist = self.data, self.model, self.train, self.distributed
        video = self.stage == "video_finetune"
        if data.root is None and not data.layout.startswith("synthetic-"):
            raise SpecValueError("data.root", f"layout {data.layout!r} needs a dataset root; null selects the "
                                 "embedded synthetic data (synthetic-* layouts only)", related=("data.layout",))
        if video != (model.variant == "s2hand_v"):
            raise SpecValueError("model.variant", f"stage {self.stage!r} does not go with variant {model.variant!r}: "
                                 "video_finetune trains s2hand_v, the other stages s2hand", related=("stage",))
        if video and data.layout not in SEQUENCE_LAYOUTS:
            raise SpecValueError("data.layout", f"stage 'video_finetune' needs video sequences; layout "
                                 f"{data.layout!r} has none (use one of {sorted(SEQUENCE_LAYOUTS)})",
                                 related=("stage",))
        if video and train.batch_size < data.sequence.frames:
            raise SpecValueError("train.batch_size", f"{train.batch_size} is smaller than data.sequence.frames="
                                 f"{data.sequence.frames}: a batch holds whole sequences",
                                 related=("data.sequence.frames",))
        if self.stage == "pretrain_2d" and not model.use_2d_branch:
            raise SpecValueError("model.use_2d_branch", "stage 'pretrain_2d' trains the 2D branch: set it to true",
                                 related=("stage",))
        if data.layout == "yt3d" and model.camera != "orthographic":
            raise SpecValueError("model.camera", "layout 'yt3d' has no camera intrinsics: use 'orthographic'",
                                 related=("data.layout",))
        if dist.backend == "nccl" and not dist.use_gpu:
            raise SpecValueError("distributed.backend", "nccl needs GPUs: set distributed.use_gpu=true or use gloo",
                                 related=("distributed.use_gpu",))
        if train.device == "cpu" and dist.use_gpu:
            raise SpecValueError("train.device", "'cpu' contradicts distributed.use_gpu=true",
                                 related=("distributed.use_gpu",))
        return self

    # ------------------------------------------------------------------ derived views

    def loss_weights(self) -> dict[str, float]:
        """Flat weights of the terms this run computes: on for its stage, switched on, non-zero, and buildable."""
        terms = STAGE_TERMS[self.stage]
        if not self.model.use_2d_branch:
            terms -= _NEEDS_2D_BRANCH
        if not self.model.use_texture_head:
            terms -= _NEEDS_TEXTURE
        return {name: w for name, w in self.loss.flat_weights().items() if name in terms and w > 0}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible nested dict (paths as strings, tuples as lists)."""
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        """The resolved spec as YAML; loading it back gives an equal spec."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def flatten(self) -> dict[str, Any]:
        """Dotted key -> leaf value (lists stay whole), e.g. for MLflow params."""
        return _flatten(self.to_dict())

    def with_overrides(self, overrides: Sequence[str] | Mapping[str, Any]) -> ExperimentSpec:
        """A new validated spec with ``["train.lr=1e-4", ...]`` or ``{"train.lr": 1e-4}`` applied."""
        from s2hand.config.loader import apply_overrides  # the loader imports this module

        return apply_overrides(self, overrides)


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping) and value:
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


# --------------------------------------------------------------------------------------------- schema lookup


def _model_class(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def section_model(key_parts: Sequence[str], root: type[BaseModel] = ExperimentSpec) -> type[BaseModel] | None:
    """The model class at a (possibly empty) chain of section names, or None if it is not a section."""
    model: type[BaseModel] | None = root
    for part in key_parts:
        field = model.model_fields.get(part) if model else None
        model = _model_class(field.annotation) if field else None
    return model


def setting_field(key: str, root: type[BaseModel] = ExperimentSpec) -> FieldInfo:
    """The field of a dotted leaf key (``"train.lr"``); KeyError with a readable message otherwise."""
    *sections, name = key.split(".")
    model = section_model(sections, root)
    field = model.model_fields.get(name) if model else None
    if field is None:
        raise KeyError(f"no setting {key!r} in {root.__name__}")
    if _model_class(field.annotation):
        raise KeyError(f"{key!r} is a section, not a single setting")
    return field


def setting_kinds(annotation: Any) -> frozenset[str]:
    """Scalar kinds a type accepts: bool, int, float, str, path, null, literal, list, mapping, section."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return setting_kinds(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return frozenset().union(*(setting_kinds(arg) for arg in typing.get_args(annotation)))
    if origin is Literal:
        return frozenset({"literal"})
    if origin in (tuple, list):
        return frozenset({"list"})
    if origin is dict:
        return frozenset({"mapping"})
    simple = {bool: "bool", int: "int", float: "float", str: "str", Path: "path", type(None): "null"}
    if annotation in simple:
        return frozenset({simple[annotation]})
    return frozenset({"section"}) if _model_class(annotation) else frozenset({"other"})


# --------------------------------------------------------------------------------------------- sweeps


SearchType = Literal["grid", "choice", "uniform", "loguniform", "randint"]
Number = Union[int, float]  # smart union: ints stay ints (randint), floats stay floats


class SearchDim(Section):
    """One search-space dimension; grid/choice take `values`, the others `low` and `high`."""

    type: SearchType = Field(
        description="grid = every value (Cartesian product), choice = one at random, uniform / loguniform = "
        "float in [low, high), randint = integer in [low, high)."
    )
    values: list[Any] | None = Field(None, description="Candidate values (grid, choice).")
    low: Number | None = Field(None, description="Lower bound (uniform, loguniform > 0, randint).")
    high: Number | None = Field(None, description="Upper bound, exclusive for randint (uniform, loguniform, randint).")

    @model_validator(mode="after")
    def _check_shape(self) -> SearchDim:
        if self.type in ("grid", "choice"):
            if not self.values or self.low is not None or self.high is not None:
                raise ValueError(f"type {self.type!r} takes a non-empty `values` list and no low/high")
            return self
        if self.values is not None or self.low is None or self.high is None:
            raise ValueError(f"type {self.type!r} takes `low` and `high` and no values")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.type == "loguniform" and self.low <= 0:
            raise ValueError(f"loguniform needs low > 0 (got {self.low})")
        if self.type == "randint" and not (isinstance(self.low, int) and isinstance(self.high, int)):
            raise ValueError("randint takes integer low and high")
        return self

    def candidates(self) -> list[Any]:
        """Values that bound the dimension: every grid/choice value, or low and (inclusive types) high."""
        if self.values is not None:
            return list(self.values)
        return [self.low, self.high - 1] if self.type == "randint" else [self.low, self.high]


_DIM_NEEDS = {"uniform": {"float"}, "loguniform": {"float"}, "randint": {"int", "float"}}


class SchedulerSpec(Section):
    type: Literal["asha", "none"] = Field("asha", description="Trial scheduler: ASHA early stopping, or none.")
    max_t: PosInt | None = Field(None, description="ASHA: most epochs a trial may run; null = the base train.epochs.")
    grace_period: PosInt = Field(1, description="ASHA: epochs every trial runs before it can be stopped.")
    reduction_factor: Annotated[float, Gt(1)] = Field(3.0, description="ASHA: keep 1/this of trials per rung.")

    @model_validator(mode="after")
    def _check_rungs(self) -> SchedulerSpec:
        if self.max_t is not None and self.grace_period > self.max_t:
            raise ValueError(f"grace_period ({self.grace_period}) exceeds max_t ({self.max_t})")
        return self


class TrialResources(Section):
    cpu: PosFloat = Field(1.0, description="CPUs for each trial's driver (its Ray Train workers ask for their own).")
    gpu: NonNegFloat = Field(0.0, description="GPUs for each trial's driver.")


class SweepSpec(Section):
    """A Ray Tune sweep over an ExperimentSpec: the base spec, overrides, and a search space of dotted keys."""

    name: RunName | None = Field(None, description="Sweep name (Ray run folder); null = '<base name>-sweep'.")
    base: str = Field(
        description="Base experiment spec: a path relative to the sweep file, or a spec name (s2hand/finetune)."
    )
    overrides: Annotated[tuple[str, ...], Strict(False)] = Field(
        (), description="Dotted KEY=VALUE overrides applied to the base spec."
    )
    space: dict[str, SearchDim] = Field(
        default_factory=dict, description="Search space: dotted ExperimentSpec key -> dimension."
    )
    search_alg: Literal["grid", "random", "optuna"] = Field(
        "random", description="grid = grid dimensions only; random = Ray's variant generator; optuna = TPE."
    )
    scheduler: SchedulerSpec = Field(default_factory=SchedulerSpec, description="Early stopping of trials.")
    metric: str = Field("xyz_al_mean3d", description="Reported metric to optimise (default: aligned MPJPE).")
    mode: Literal["min", "max"] = Field("min", description="Whether the metric is minimised or maximised.")
    num_samples: PosInt = Field(1, description="Trials to sample (with grid dimensions: repeats of the grid).")
    max_concurrent: PosInt = Field(1, description="Trials running at once.")
    resources: TrialResources = Field(default_factory=TrialResources, description="Per-trial driver resources.")

    @model_validator(mode="after")
    def _check_space(self) -> SweepSpec:
        for key, dim in self.space.items():
            try:
                field = setting_field(key)
            except KeyError as error:
                raise SpecValueError(("space", key), error.args[0]) from None
            kinds = setting_kinds(field.annotation)
            if dim.type in _DIM_NEEDS and not kinds & _DIM_NEEDS[dim.type]:
                raise SpecValueError(("space", key), f"a {dim.type} dimension needs a numeric setting; "
                                     f"{key} takes {'/'.join(sorted(kinds))}")
            if self.search_alg == "grid" and dim.type != "grid":
                raise SpecValueError(("space", key), f"search_alg 'grid' takes only grid dimensions, not {dim.type}")
            if self.search_alg == "optuna" and dim.type == "grid":
                raise SpecValueError(("space", key), "optuna cannot search a grid dimension: use choice")
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)

    def base_spec(self) -> ExperimentSpec:
        """The base spec with this sweep's overrides applied (``base`` is absolute after `load_sweep`)."""
        from s2hand.config.loader import load_spec

        return load_spec(self.base, self.overrides)

    def trial_spec(self, params: Mapping[str, Any]) -> ExperimentSpec:
        """The spec of one trial: the base spec with the sampled ``{dotted key: value}`` applied."""
        return self.base_spec().with_overrides(params)
