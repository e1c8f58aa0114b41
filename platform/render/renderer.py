"""Differentiable mesh renderer: camera-space mesh + per-face colours + lighting -> soft silhouette and image.

    screen = camera.project(vertices)                    (pixel x, y, depth)
    fragments = rasterize_faces(screen[:, faces])        soft silhouette S, hard z-buffer, soft colour winner
    lit = shade_faces(colors, face_normals(...), light)  Eq. 22, flat, camera-space normals
    image = S · lit[colour face] + (1 − S) · background

What receives gradients:
  * silhouette -> vertex positions (through the projection, hence also camera parameters), from the faces whose
    outline edges lie within the soft margin (~2 px at σ = 0.5) of a pixel: both sides of the outer outline.
    Where one part occludes another (finger over palm) S is ~1 on both sides: no gradient there.
  * image -> colours and lighting of the face each pixel shows; vertex positions through the face normals
    (shading) and through S at the outline (both sides; just outside it the pixel shows the nearest face).
No gradient: which face wins the z-buffer. Colour changes across internal edges and across occlusion boundaries
inside the silhouette are hard, and internal edges do not blur S (with soft_internal_edges=True they do, as in
SoftRas: seams with S down to ~0.75 and weak gradients along every edge). Depth only acts through the projection.

soft=False (data synthesis, previews): forward only, through `hard.rasterize_hard`: the same face_index as the
soft path (bitwise), silhouette = 1 where a face covers the pixel centre else 0, image = the lit colour of that
face there, else the background (so equal to the soft image wherever the soft silhouette is 1). No soft margin,
no edge distances, nothing kept for backward; the image still carries gradients to colours and lighting.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch

from s2hand.geometry.camera import Camera, PerspectiveCamera, WeakPerspectiveCamera

from .hard import rasterize_hard
from .rasterize import Fragments, RasterSettings, rasterize_faces
from .shading import LIGHTING_DIM, face_normals, shade_faces
from .topology import edge_adjacency

DEFAULT_NEAR = 1e-2  # metres; perspective cameras only

Background = torch.Tensor | Sequence[float] | float | None


@dataclass(frozen=True)
class RenderOutput:
    """image (B, 3, H, W); silhouette (B, H, W) in [0, 1]; face_index (B, H, W) long, nearest covering face or
    −1 (no gradient); num_pairs: (face, pixel) pairs the rasteriser examined."""

    image: torch.Tensor
    silhouette: torch.Tensor
    face_index: torch.Tensor
    num_pairs: int


class MeshRenderer(torch.nn.Module):
    """Renders a batch of meshes sharing one topology. Holds only settings (no parameters).

    image_size: int or (H, W). sigma: soft-edge blur in pixel² (larger = wider gradient band, softer outline).
    near: near plane in metres for perspective cameras (faces with a vertex at z <= near are dropped).
    soft_internal_edges: False (default): inside a face, coverage is measured to the face's outline edges only
    (boundary edges and edges the surface folds over on screen), so the silhouette is 1 inside the outline;
    True: to every edge, as in SoftRas, which leaves soft seams (S down to ~0.75 per surface layer) along all
    internal edges. soft: False renders the hard image only (see the module docstring; sigma, min_probability,
    soft_internal_edges and max_cached_pairs are then unused; max_pairs_per_chunk bounds box pixels per chunk).
    Remaining arguments: see RasterSettings.
    """

    def __init__(
        self,
        image_size: int | tuple[int, int],
        *,
        sigma: float = 0.5,
        min_probability: float = 1e-4,
        near: float = DEFAULT_NEAR,
        soft_internal_edges: bool = False,
        max_pairs_per_chunk: int | None = None,
        max_cached_pairs: int = 1 << 24,
        soft: bool = True,
    ) -> None:
        super().__init__()
        size = (image_size, image_size) if isinstance(image_size, int) else tuple(image_size)
        self.near = near
        self.soft_internal_edges = soft_internal_edges
        self.soft = soft
        self.settings = RasterSettings(
            image_size=size,
            sigma=sigma,
            min_probability=min_probability,
            max_pairs_per_chunk=max_pairs_per_chunk,
            max_cached_pairs=max_cached_pairs,
        )

    def forward(
        self,
        vertices: torch.Tensor,
        faces: torch.Tensor,
        face_colors: torch.Tensor,
        lighting: torch.Tensor,
        camera: Camera,
        background: Background = None,
    ) -> RenderOutput:
        """vertices (B, V, 3) camera space (OpenCV, metres), faces (F, 3) long (counter-clockwise seen from
        outside), face_colors (B, F, 3) albedo, lighting (B, 11), camera with batch B, background colour: None
        (black), a float, 3 floats, or a tensor (3,) / (B, 3)."""
        _check_mesh(vertices, faces, face_colors, lighting)
        _check_camera(camera, vertices.shape[0])
        perspective = isinstance(camera, PerspectiveCamera)
        settings = replace(self.settings, near=self.near) if perspective else self.settings
        screen = camera.project(vertices)
        if not self.soft:
            return self._hard(vertices, faces, face_colors, lighting, screen, perspective, background)
        adjacency = None if self.soft_internal_edges else edge_adjacency(faces)
        fragments = rasterize_faces(screen[:, faces], settings, perspective=perspective, adjacency=adjacency)
        lit = shade_faces(face_colors, face_normals(vertices, faces), lighting)
        image = composite(lit, fragments, _background(background, vertices))
        return RenderOutput(image, fragments.silhouette, fragments.face_index, fragments.num_pairs)

    def _hard(self, vertices, faces, face_colors, lighting, screen, perspective: bool, background) -> RenderOutput:
        with torch.no_grad():
            fragments = rasterize_hard(screen[:, faces], self.settings.image_size, perspective=perspective,
                                       near=self.near if perspective else None,
                                       max_pairs_per_chunk=self.settings.max_pairs_per_chunk)
        lit = shade_faces(face_colors, face_normals(vertices, faces), lighting)
        image = composite_hard(lit, fragments.face_index, _background(background, vertices))
        silhouette = (fragments.face_index >= 0).to(vertices.dtype)
        return RenderOutput(image, silhouette, fragments.face_index, fragments.num_pairs)


def render_mesh(
    vertices: torch.Tensor,
    faces: torch.Tensor,
    face_colors: torch.Tensor,
    lighting: torch.Tensor,
    camera: Camera,
    image_size: int | tuple[int, int],
    *,
    background: Background = None,
    **settings,
) -> RenderOutput:
    """Functional form of MeshRenderer(image_size, **settings)(vertices, faces, face_colors, lighting, camera)."""
    return MeshRenderer(image_size, **settings)(vertices, faces, face_colors, lighting, camera, background)


def composite(lit_colors: torch.Tensor, fragments: Fragments, background: torch.Tensor) -> torch.Tensor:
    """image = S · C_vis + (1 − S) · background, C_vis the lit colour of each pixel's colour face.

    lit_colors (B, F, 3), background (B or 1, 3) -> (B, 3, H, W).
    """
    batch, height, width = fragments.silhouette.shape
    index = fragments.color_face_index.view(batch, 1, -1).clamp_min(0).expand(batch, 3, -1)
    visible = torch.gather(lit_colors.transpose(1, 2), 2, index)  # (B, 3, H·W); where S = 0 the value is unused
    background = background[:, :, None]
    image = torch.addcmul(background, fragments.silhouette.view(batch, 1, -1), visible - background)
    return image.view(batch, 3, height, width)


def composite_hard(lit_colors: torch.Tensor, face_index: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """image = lit colour of the face at each pixel, background where face_index is −1.

    lit_colors (B, F, 3), face_index (B, H, W), background (B or 1, 3) -> (B, 3, H, W).
    """
    batch, height, width = face_index.shape
    flat = face_index.view(batch, 1, -1)
    visible = torch.gather(lit_colors.transpose(1, 2), 2, flat.clamp_min(0).expand(batch, 3, -1))
    image = torch.where(flat >= 0, visible, background[:, :, None].to(visible.dtype))
    return image.view(batch, 3, height, width)


def _background(background: Background, like: torch.Tensor) -> torch.Tensor:
    batch = like.shape[0]
    if background is None:
        return like.new_zeros(1, 3)
    value = torch.as_tensor(background, dtype=like.dtype, device=like.device)
    if value.dim() == 0:
        value = value.expand(3)
    if value.shape not in ((3,), (batch, 3)):
        raise ValueError(f"background must be a float, (3,) or (B, 3) with B = {batch}, got {tuple(value.shape)}")
    return value.reshape(-1, 3)


def _check_mesh(
    vertices: torch.Tensor, faces: torch.Tensor, face_colors: torch.Tensor, lighting: torch.Tensor
) -> None:
    if vertices.dim() != 3 or vertices.shape[-1] != 3 or not vertices.is_floating_point():
        raise ValueError(f"vertices must be a float (B, V, 3) tensor, got {vertices.dtype} {tuple(vertices.shape)}")
    batch, num_vertices = vertices.shape[:2]
    if faces.dim() != 2 or faces.shape[-1] != 3 or faces.is_floating_point() or faces.dtype == torch.bool:
        raise ValueError(f"faces must be an integer (F, 3) tensor, got {faces.dtype} {tuple(faces.shape)}")
    low, high = (int(x) for x in faces.aminmax()) if faces.numel() else (0, 0)
    if low < 0 or high >= num_vertices:
        raise ValueError(
            f"faces {tuple(faces.shape)} index vertices outside [0, {num_vertices}): min {low}, max {high}"
        )
    if not bool(torch.isfinite(vertices).all()):
        raise ValueError(f"vertices {tuple(vertices.shape)} contain NaN or inf")
    for name, tensor in (("faces", faces), ("face_colors", face_colors), ("lighting", lighting)):
        if tensor.device != vertices.device:
            raise ValueError(f"{name} is on {tensor.device}, vertices on {vertices.device}")
    for name, tensor in (("face_colors", face_colors), ("lighting", lighting)):
        if tensor.dtype != vertices.dtype:
            raise ValueError(f"{name} must have the vertices' dtype {vertices.dtype}, got {tensor.dtype}")
    if face_colors.shape != (batch, faces.shape[0], 3):
        expected = (batch, faces.shape[0], 3)
        raise ValueError(f"face_colors must be (B, F, 3) = {expected}, got {tuple(face_colors.shape)}")
    if lighting.shape != (batch, LIGHTING_DIM):
        raise ValueError(f"lighting must be (B, 11) = {(batch, LIGHTING_DIM)}, got {tuple(lighting.shape)}")


def _check_camera(camera: Camera, batch: int) -> None:
    if isinstance(camera, PerspectiveCamera):
        if camera.K.shape != (batch, 3, 3):
            raise ValueError(f"camera.K must be (B, 3, 3) = {(batch, 3, 3)}, got {tuple(camera.K.shape)}")
    elif isinstance(camera, WeakPerspectiveCamera):
        if camera.scale.numel() not in (1, batch) or camera.offset.numel() not in (2, 2 * batch):
            raise ValueError(
                f"camera scale/offset must be (B,)/(B, 2) with B = {batch}, got "
                f"{tuple(camera.scale.shape)}/{tuple(camera.offset.shape)}"
            )
    else:
        raise ValueError(f"camera must be a PerspectiveCamera or WeakPerspectiveCamera, got {type(camera).__name__}")
