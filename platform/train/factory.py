"""Build the pieces of a run from its spec: hand model, network, objective, optimiser, schedule, device."""
from __future__ import annotations

import torch
from torch import nn

from s2hand.config.spec import ExperimentSpec
from s2hand.hand.model import HandModel
from s2hand.hand.model_files import OPEN_HAND
from s2hand.models.s2hand import S2Hand, S2HandConfig

# Fingertip vertex ids of the official MANO mesh (thumb, index, middle, ring, pinky), FACTS §2.
MANO_FINGERTIP_SETS = {
    "s2hand": (744, 320, 443, 555, 672),
    "manopth": (745, 317, 444, 556, 673),
    "smplx": (744, 320, 443, 554, 671),
}


def resolve_device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def build_hand_model(spec: ExperimentSpec) -> HandModel:
    # the named sets are MANO vertex ids; the open hand carries its own fingertip ids
    tips = None if str(spec.hand.model) == OPEN_HAND else MANO_FINGERTIP_SETS[spec.hand.fingertips]
    return HandModel(spec.hand.model, spec.hand.pose_pca, spec.hand.flat_hand_mean, tips)


def build_model(spec: ExperimentSpec) -> S2Hand:
    m = spec.model
    config = S2HandConfig(
        image_size=spec.data.image_size,
        camera=m.camera,
        use_texture_head=m.use_texture_head,
        use_2d_branch=m.use_2d_branch,
        hourglass_stacks=m.hourglass.stacks,
        hourglass_channels=m.hourglass.channels,
        hourglass_depth=m.hourglass.depth,
        pretrained_weights=str(m.pretrained_weights) if m.pretrained_weights else None,
    )
    return S2Hand(build_hand_model(spec), config)


def trainable_modules(model: S2Hand, stage: str) -> list[nn.Module]:
    """Stage-wise training (paper §4.3): the 2D branch alone, then the 3D branch alone, then everything."""
    branch_3d = [m for m in (model.encoder, model.geometry, model.texture) if m is not None]
    if stage == "pretrain_2d":
        if model.keypoints2d is None:
            raise ValueError("stage pretrain_2d needs the 2D branch (model.use_2d_branch=true)")
        return [model.keypoints2d]
    if stage == "pretrain_3d":
        return branch_3d
    return branch_3d + ([model.keypoints2d] if model.keypoints2d is not None else [])


def freeze_for_stage(model: S2Hand, stage: str) -> list[nn.Parameter]:
    """Set requires_grad by stage and return the parameters to optimise."""
    keep = trainable_modules(model, stage)
    for p in model.parameters():
        p.requires_grad_(False)
    params = [p for module in keep for p in module.parameters()]
    for p in params:
        p.requires_grad_(True)
    return params


def set_train_mode(model: S2Hand, stage: str) -> None:
    """Frozen modules stay in eval mode so their batch-norm statistics do not drift."""
    model.eval()
    for module in trainable_modules(model, stage):
        module.train()


def build_optimizer(spec: ExperimentSpec, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    t = spec.train
    return torch.optim.Adam(params, lr=t.lr, betas=tuple(t.betas), weight_decay=t.weight_decay)


def build_scheduler(spec: ExperimentSpec, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.StepLR:
    """Step decay per epoch (paper: ×0.5 every 30 epochs pretraining, ÷3 every 20 finetuning)."""
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=spec.train.lr_step_epochs, gamma=spec.train.lr_gamma)
