"""Mesh export: PLY round trip with face colours, OBJ with vertex colours, atomic writes."""
from __future__ import annotations

import numpy as np
import pytest

from s2hand.io.atomic import atomic_write
from s2hand.io.mesh import face_to_vertex_colors, read_ply, write_mesh


def _tetra():
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float64)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    c = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5]])
    return v, f, c


def test_ply_round_trip(tmp_path):
    v, f, c = _tetra()
    write_mesh(tmp_path / "m.ply", v, f, c)
    v2, f2, c2 = read_ply(tmp_path / "m.ply")
    assert np.allclose(v2, v) and np.array_equal(f2, f)
    assert np.allclose(c2, np.round(c * 255) / 255)


def test_obj_has_vertices_faces_and_averaged_colours(tmp_path):
    v, f, c = _tetra()
    write_mesh(tmp_path / "m.obj", v, f, c)
    lines = (tmp_path / "m.obj").read_text().splitlines()
    vs = [list(map(float, l.split()[1:])) for l in lines if l.startswith("v ")]
    fs = [list(map(int, l.split()[1:])) for l in lines if l.startswith("f ")]
    assert np.allclose(np.array(vs)[:, :3], v) and np.array_equal(np.array(fs) - 1, f)
    # vertex 3 touches faces 1, 2, 3
    assert np.allclose(np.array(vs)[3, 3:], c[[1, 2, 3]].mean(0), atol=1e-4)
    assert np.allclose(face_to_vertex_colors(4, f, c)[0], c[:3].mean(0))


def test_unknown_format_and_failed_write_leave_nothing(tmp_path):
    v, f, _ = _tetra()
    with pytest.raises(ValueError, match=r"\.stl"):
        write_mesh(tmp_path / "m.stl", v, f)
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "half.txt") as handle:
            handle.write("partial")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_atomic_writes_get_plain_file_permissions(tmp_path):
    import os

    umask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "out.txt") as handle:
            handle.write("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644
