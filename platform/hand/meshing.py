"""Small triangle-mesh building blocks: bridge two vertex loops, cap a loop, orient faces consistently.

Used to build the open hand model out of rings of vertices (tubes for the palm, fingers and thumb).
"""
from __future__ import annotations

from collections import defaultdict, deque

import numpy as np


def loop_vector_area(points: np.ndarray) -> np.ndarray:
    """Vector area of a closed polygon (3,): its direction follows the loop's winding (right-hand rule)."""
    centred = points - points.mean(0)
    return 0.5 * np.cross(centred, np.roll(centred, -1, axis=0)).sum(0)


def _arc_fractions(points: np.ndarray) -> np.ndarray:
    """Cumulative arc-length fraction at each loop vertex, starting at 0 for vertex 0."""
    seg = np.linalg.norm(np.roll(points, -1, axis=0) - points, axis=1)
    return np.concatenate([[0.0], np.cumsum(seg)[:-1]]) / seg.sum()


def bridge_loops(loop_a: list[int], loop_b: list[int], vertices: np.ndarray) -> list[tuple[int, int, int]]:
    """Triangulate the band between two closed loops of any sizes m and n: m + n triangles.

    loop_b is re-wound to loop_a's direction and rotated to start at the vertex nearest loop_a[0]; the zip then
    advances on whichever loop is behind in arc-length fraction, so no triangle spans the band twice.
    """
    a = list(loop_a)
    b = list(loop_b)
    if np.dot(loop_vector_area(vertices[a]), loop_vector_area(vertices[b])) < 0:
        b = b[::-1]
    start = int(np.argmin(np.linalg.norm(vertices[b] - vertices[a[0]], axis=1)))
    b = b[start:] + b[:start]
    ta = np.append(_arc_fractions(vertices[a]), 1.0)
    tb = np.append(_arc_fractions(vertices[b]), 1.0)
    m, n = len(a), len(b)
    faces = []
    i = j = 0
    while i < m or j < n:
        advance_a = j == n or (i < m and ta[i + 1] <= tb[j + 1])
        if advance_a:
            faces.append((a[i % m], a[(i + 1) % m], b[j % n]))
            i += 1
        else:
            faces.append((a[i % m], b[(j + 1) % n], b[j % n]))
            j += 1
    return faces


def quad_band(loop_a: list[int], loop_b: list[int], skip: set[int] = frozenset()) -> list[tuple[int, int, int]]:
    """Two triangles per quad between loops of equal size with matching indices; quads whose first index is in
    ``skip`` are left open (a hole for another tube)."""
    if len(loop_a) != len(loop_b):
        raise ValueError("quad_band needs loops of equal size")
    n = len(loop_a)
    faces = []
    for i in range(n):
        if i in skip:
            continue
        a0, a1, b0, b1 = loop_a[i], loop_a[(i + 1) % n], loop_b[i], loop_b[(i + 1) % n]
        faces += [(a0, a1, b1), (a0, b1, b0)]
    return faces


def fan(loop: list[int], apex: int) -> list[tuple[int, int, int]]:
    """Close a loop with triangles to one apex vertex."""
    n = len(loop)
    return [(loop[i], loop[(i + 1) % n], apex) for i in range(n)]


def orient_consistently(faces: np.ndarray) -> np.ndarray:
    """Flip faces so that every interior edge is traversed in opposite directions by its two faces.

    Breadth-first over face adjacency; raises if the surface is non-orientable or non-manifold.
    """
    faces = faces.copy()
    edge_faces: dict[tuple[int, int], list[int]] = defaultdict(list)
    for f, (a, b, c) in enumerate(faces):
        for u, v in ((a, b), (b, c), (c, a)):
            edge_faces[(min(u, v), max(u, v))].append(f)
    if any(len(fs) > 2 for fs in edge_faces.values()):
        raise ValueError("non-manifold edge: more than two faces share it")
    visited = np.zeros(len(faces), dtype=bool)
    for seed in range(len(faces)):
        if visited[seed]:
            continue
        visited[seed] = True
        queue = deque([seed])
        while queue:
            f = queue.popleft()
            a, b, c = faces[f]
            for u, v in ((a, b), (b, c), (c, a)):
                for g in edge_faces[(min(u, v), max(u, v))]:
                    if g == f:
                        continue
                    directed = {(faces[g][k], faces[g][(k + 1) % 3]) for k in range(3)}
                    same_direction = (u, v) in directed
                    if visited[g]:
                        if same_direction:
                            raise ValueError("non-orientable surface")
                        continue
                    if same_direction:
                        faces[g] = faces[g][::-1]
                    visited[g] = True
                    queue.append(g)
    return faces


def boundary_loops(faces: np.ndarray) -> list[list[int]]:
    """Boundary edges (used by one face) chained into loops of vertex ids."""
    directed = {}
    count: dict[tuple[int, int], int] = defaultdict(int)
    for a, b, c in faces:
        for u, v in ((a, b), (b, c), (c, a)):
            count[(min(u, v), max(u, v))] += 1
            directed[(u, v)] = True
    nxt = {u: v for (u, v) in directed if count[(min(u, v), max(u, v))] == 1}
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(loop)
    return loops


def signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Volume enclosed by outward-oriented faces, holes closed by a fan to each hole's centroid."""
    tris = vertices[faces]
    volume = np.einsum("ij,ij->i", tris[:, 0], np.cross(tris[:, 1], tris[:, 2])).sum() / 6.0
    for loop in boundary_loops(faces):
        centre = vertices[loop].mean(0)
        # the cap runs against the boundary's direction so the closed surface is consistently oriented
        for k in range(len(loop)):
            u, v = vertices[loop[(k + 1) % len(loop)]], vertices[loop[k]]
            volume += np.dot(u, np.cross(v, centre)) / 6.0
    return float(volume)
