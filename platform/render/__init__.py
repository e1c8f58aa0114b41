"""Differentiable mesh rendering in pure PyTorch (CPU and CUDA): soft silhouette, flat-shaded image, face map.

    from s2hand.render import MeshRenderer
    out = MeshRenderer(224)(vertices, faces, face_colors, lighting, PerspectiveCamera(K))
    out.image (B, 3, H, W), out.silhouette (B, H, W), out.face_index (B, H, W)

MeshRenderer(224, soft=False) renders the hard image only (forward, no soft coverage; same face_index).
"""
from .hard import HardFragments, rasterize_hard
from .rasterize import Fragments, RasterSettings, rasterize_faces
from .topology import EdgeAdjacency, edge_adjacency
from .renderer import MeshRenderer, RenderOutput, composite, composite_hard, render_mesh
from .shading import LIGHTING_DIM, Lighting, face_normals, shade_faces

__all__ = [
    "LIGHTING_DIM",
    "EdgeAdjacency",
    "Fragments",
    "HardFragments",
    "Lighting",
    "MeshRenderer",
    "RasterSettings",
    "RenderOutput",
    "composite",
    "composite_hard",
    "edge_adjacency",
    "face_normals",
    "rasterize_faces",
    "rasterize_hard",
    "render_mesh",
    "shade_faces",
]
