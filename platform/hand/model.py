"""HandModel: MANO-layout hand (the open hand or a converted MANO) in camera space, through smplx's MANO layer.

    pose (PCA coefficients or full 45-D axis-angle), β, global rotation R, scale s, translation T
    → vertices M = s·R·M0 + T (B, 778, 3), 21 joints in FreiHAND order, per-joint rotations.

The global rotation is applied about the model origin after skinning (smplx is called with a zero root
rotation), exactly as S2HAND composes it (FACTS §1). Metres throughout.
"""
from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass
from typing import Literal

import numpy as np
import smplx
import torch
from smplx.utils import Struct
from torch import nn

from s2hand.geometry.rotations import axis_angle_to_matrix
from s2hand.hand.joints import HO3D_TO_FREIHAND
from s2hand.hand.model_files import OPEN_HAND, load_model, resolve_model_file

PoseSpace = Literal["pca", "axis_angle"]


@dataclass
class HandOutput:
    vertices: torch.Tensor  # (B, 778, 3) camera space
    joints: torch.Tensor  # (B, 21, 3) camera space, FreiHAND order
    rotations: torch.Tensor  # (B, 16, 3) axis-angle: [global R, 15 local joint rotations with the mean pose added]
    canonical_vertices: torch.Tensor  # (B, 778, 3) before s, R, T
    canonical_joints: torch.Tensor  # (B, 21, 3) before s, R, T


class HandModel(nn.Module):
    """Batched, differentiable MANO-layout hand model on CPU or CUDA."""

    def __init__(
        self,
        model: str | os.PathLike = OPEN_HAND,
        pose_pca: int = 30,
        flat_hand_mean: bool = False,
        fingertip_ids: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        if not 1 <= pose_pca <= 45:
            raise ValueError(f"pose_pca must be in [1, 45], got {pose_pca}")
        arrays = load_model(model)
        self.model_file = str(resolve_model_file(model))
        self.model_name = str(arrays.get("model_name", np.array(os.path.basename(self.model_file))))
        self.pose_pca = pose_pca
        self.num_betas = arrays["shapedirs"].shape[-1]
        # smplx takes the arrays directly (never its own pickle loader); PCA and the mean pose are applied here so
        # that PCA coefficients and full axis-angle share one code path.
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning about 10 shape coefficients
            self.mano = smplx.MANO(
                model_path=os.path.dirname(self.model_file),
                data_struct=Struct(**arrays),
                is_rhand=True,
                use_pca=False,
                flat_hand_mean=True,
                num_betas=self.num_betas,
                create_global_orient=False,
                create_hand_pose=False,
                create_betas=False,
                create_transl=False,
            )
        components = torch.as_tensor(arrays["hands_components"][:pose_pca], dtype=torch.float32)
        mean = torch.zeros(45) if flat_hand_mean else torch.as_tensor(arrays["hands_mean"], dtype=torch.float32)
        self.register_buffer("pose_components", components, persistent=False)
        self.register_buffer("pose_mean", mean.float(), persistent=False)
        tips = fingertip_ids if fingertip_ids is not None else tuple(int(i) for i in arrays["fingertip_ids"])
        if len(tips) != 5:
            raise ValueError(f"fingertip_ids must name 5 vertices (thumb, index, middle, ring, pinky), got {tips}")
        self.fingertip_ids = tips
        self.register_buffer("_tips", torch.as_tensor(tips, dtype=torch.long), persistent=False)
        self.register_buffer("_ho3d_to_frei", torch.as_tensor(HO3D_TO_FREIHAND, dtype=torch.long), persistent=False)
        self.register_buffer("faces", torch.as_tensor(arrays["f"].astype(np.int64)), persistent=False)

    @property
    def num_vertices(self) -> int:
        return int(self.mano.v_template.shape[0])

    def local_pose(self, pose: torch.Tensor, pose_space: PoseSpace = "pca") -> torch.Tensor:
        """(B, pose_pca) coefficients or (B, 45) axis-angle offsets → (B, 45) local axis-angles, mean added."""
        if pose_space == "pca":
            if pose.shape[-1] != self.pose_pca:
                raise ValueError(f"pose must be (B, {self.pose_pca}) PCA coefficients, got {tuple(pose.shape)}")
            pose = pose @ self.pose_components
        elif pose.shape[-1] != 45:
            raise ValueError(f"pose must be (B, 45) axis-angle, got {tuple(pose.shape)}")
        return pose + self.pose_mean

    def forward(
        self,
        pose: torch.Tensor,
        betas: torch.Tensor | None = None,
        rotation: torch.Tensor | None = None,
        scale: torch.Tensor | None = None,
        translation: torch.Tensor | None = None,
        pose_space: PoseSpace = "pca",
    ) -> HandOutput:
        """pose (B, P); betas (B, 10); rotation (B, 3) axis-angle; scale (B,) or (B, 1); translation (B, 3)."""
        batch = pose.shape[0]
        dtype, device = self.mano.v_template.dtype, self.mano.v_template.device
        local = self.local_pose(pose.to(dtype), pose_space)
        if betas is None:
            betas = torch.zeros(batch, self.num_betas, dtype=dtype, device=device)
        zero_root = torch.zeros(batch, 3, dtype=dtype, device=device)
        out = self.mano(betas=betas.to(dtype), global_orient=zero_root, hand_pose=local)
        ho3d = torch.cat([out.joints[:, :16], out.vertices[:, self._tips]], dim=1)
        canonical_joints = ho3d[:, self._ho3d_to_frei]
        vertices, joints = out.vertices, canonical_joints
        if rotation is None:
            rotation = zero_root
        else:
            R = axis_angle_to_matrix(rotation.to(dtype))
            vertices = vertices @ R.transpose(-1, -2)
            joints = joints @ R.transpose(-1, -2)
        if scale is not None:
            s = scale.to(dtype).reshape(batch, 1, 1)
            vertices, joints = vertices * s, joints * s
        if translation is not None:
            t = translation.to(dtype).reshape(batch, 1, 3)
            vertices, joints = vertices + t, joints + t
        rotations = torch.cat([rotation.reshape(batch, 1, 3), local.reshape(batch, 15, 3)], dim=1)
        return HandOutput(vertices, joints, rotations, out.vertices, canonical_joints)
