"""Mesh files people already use: Wavefront OBJ (with vertex colours) and binary PLY (with face colours)."""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from s2hand.io.atomic import atomic_write


def _as_uint8(colors: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(colors, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


def face_to_vertex_colors(num_vertices: int, faces: np.ndarray, face_colors: np.ndarray) -> np.ndarray:
    """Average the colours of the faces around each vertex (OBJ has no per-face colours)."""
    sums = np.zeros((num_vertices, 3))
    counts = np.zeros(num_vertices)
    for corner in range(3):
        np.add.at(sums, faces[:, corner], face_colors)
        np.add.at(counts, faces[:, corner], 1.0)
    return sums / np.maximum(counts, 1.0)[:, None]


def write_obj(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, vertex_colors: np.ndarray | None = None) -> Path:
    """OBJ with optional per-vertex RGB in [0, 1] (the widely read `v x y z r g b` extension)."""
    vertices, faces = np.asarray(vertices, dtype=np.float64), np.asarray(faces, dtype=np.int64)
    lines = []
    if vertex_colors is None:
        lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in vertices]
    else:
        lines += [f"v {x:.6f} {y:.6f} {z:.6f} {r:.4f} {g:.4f} {b:.4f}" for (x, y, z), (r, g, b) in zip(vertices, vertex_colors)]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    with atomic_write(path) as handle:
        handle.write("# s2hand mesh\n" + "\n".join(lines) + "\n")
    return Path(path)


def write_ply(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, face_colors: np.ndarray | None = None) -> Path:
    """Binary little-endian PLY; face colours (RGB in [0, 1]) as uchar red/green/blue face properties."""
    vertices = np.asarray(vertices, dtype="<f4")
    faces = np.asarray(faces, dtype="<i4")
    header = ["ply", "format binary_little_endian 1.0", "comment s2hand mesh", f"element vertex {len(vertices)}",
              "property float x", "property float y", "property float z", f"element face {len(faces)}",
              "property list uchar int vertex_indices"]
    face_dtype = [("n", "u1"), ("idx", "<i4", (3,))]
    if face_colors is not None:
        header += ["property uchar red", "property uchar green", "property uchar blue"]
        face_dtype += [("rgb", "u1", (3,))]
    header.append("end_header")
    records = np.zeros(len(faces), dtype=face_dtype)
    records["n"] = 3
    records["idx"] = faces
    if face_colors is not None:
        records["rgb"] = _as_uint8(face_colors)
    with atomic_write(path, "wb") as handle:
        handle.write(("\n".join(header) + "\n").encode("ascii"))
        handle.write(vertices.tobytes())
        handle.write(records.tobytes())
    return Path(path)


def read_ply(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read back what write_ply writes (used by tests and tools): vertices, faces, face colours or None."""
    data = Path(path).read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    num_v = int(next(h for h in header if h.startswith("element vertex")).split()[-1])
    num_f = int(next(h for h in header if h.startswith("element face")).split()[-1])
    has_color = "property uchar red" in header
    vertices = np.frombuffer(data, dtype="<f4", count=num_v * 3, offset=end).reshape(num_v, 3)
    face_dtype = [("n", "u1"), ("idx", "<i4", (3,))] + ([("rgb", "u1", (3,))] if has_color else [])
    records = np.frombuffer(data, dtype=np.dtype(face_dtype), count=num_f, offset=end + vertices.nbytes)
    return vertices.copy(), records["idx"].astype(np.int64), (records["rgb"] / 255.0 if has_color else None)


def write_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, face_colors: np.ndarray | None = None) -> Path:
    """Pick the format from the suffix (.obj or .ply)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".ply":
        return write_ply(path, vertices, faces, face_colors)
    if suffix == ".obj":
        colors = None if face_colors is None else face_to_vertex_colors(len(vertices), np.asarray(faces), face_colors)
        return write_obj(path, vertices, faces, colors)
    raise ValueError(f"unsupported mesh format '{suffix}' for {path}: use .obj or .ply")
