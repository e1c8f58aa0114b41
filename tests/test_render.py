"""The differentiable renderer: coverage, visibility, shading, gradients, memory bound, cameras, devices."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from s2hand.geometry.camera import PerspectiveCamera, WeakPerspectiveCamera
from s2hand.render import (
    MeshRenderer,
    RasterSettings,
    edge_adjacency,
    face_normals,
    rasterize_faces,
    rasterize_hard,
    render_mesh,
    shade_faces,
)

H, W = 10, 12
SIGMA = 0.5
# Ambient white light of intensity 1 and no directional part: the lit colour equals the albedo.
FLAT_LIGHT = [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]


def pixel_camera(batch: int = 1, dtype=torch.float32) -> WeakPerspectiveCamera:
    """Orthographic camera whose screen coordinates are the camera x, y (pixels)."""
    return WeakPerspectiveCamera(torch.ones(batch, dtype=dtype), torch.zeros(batch, 2, dtype=dtype))


def pinhole(batch: int = 1, focal: float = 20.0, dtype=torch.float32) -> PerspectiveCamera:
    K = torch.tensor([[focal, 0.0, W / 2], [0.0, focal, H / 2], [0.0, 0.0, 1.0]], dtype=dtype)
    return PerspectiveCamera(K.expand(batch, 3, 3).clone())


def unproject(uv, depth, focal: float = 20.0, dtype=torch.float32) -> torch.Tensor:
    """Camera-space points (N, 3) that `pinhole` projects to pixel points uv at the given depths."""
    uv, depth = torch.as_tensor(uv, dtype=dtype), torch.as_tensor(depth, dtype=dtype).expand(len(uv))
    x = (uv[:, 0] - W / 2) / focal * depth
    y = (uv[:, 1] - H / 2) / focal * depth
    return torch.stack([x, y, depth], dim=1)


def render(vertices, faces, colors=None, lighting=None, camera=None, size=(H, W), background=None, **settings):
    vertices = torch.as_tensor(vertices, dtype=torch.float32)
    vertices = vertices[None] if vertices.dim() == 2 else vertices
    batch, dtype = vertices.shape[0], vertices.dtype
    faces = torch.as_tensor(faces, dtype=torch.long)
    if colors is None:
        colors = torch.ones(batch, len(faces), 3, dtype=dtype)
    if lighting is None:
        lighting = torch.tensor([FLAT_LIGHT], dtype=dtype).expand(batch, -1)
    camera = camera if camera is not None else pixel_camera(batch, dtype)
    return render_mesh(
        vertices, faces, colors, lighting, camera, size, background=background, sigma=SIGMA, **settings
    )


def point_in_triangle(p, a, b, c) -> bool:
    def cross(o, u, v):
        return (u[0] - o[0]) * (v[1] - o[1]) - (u[1] - o[1]) * (v[0] - o[0])

    s = [cross(a, b, p), cross(b, c, p), cross(c, a, p)]
    return all(x >= 0 for x in s) or all(x <= 0 for x in s)


def segment_distance(p, a, b) -> float:
    ab = (b[0] - a[0], b[1] - a[1])
    t = ((p[0] - a[0]) * ab[0] + (p[1] - a[1]) * ab[1]) / (ab[0] ** 2 + ab[1] ** 2)
    t = min(1.0, max(0.0, t))
    return math.hypot(p[0] - a[0] - t * ab[0], p[1] - a[1] - t * ab[1])


TRIANGLE = [(1.3, 0.7), (10.6, 4.2), (3.9, 8.8)]


# ---------------------------------------------------------------------------------------------------------------
# Coverage


def test_pixel_centre_convention():
    # A tiny triangle around the point (3.5, 2.5) covers exactly pixel row 2, column 3.
    out = render([[3.3, 2.3, 1.0], [3.8, 2.4, 1.0], [3.4, 2.8, 1.0]], [[0, 1, 2]])
    expected = torch.full((H, W), -1)
    expected[2, 3] = 0
    assert torch.equal(out.face_index[0], expected)
    # Shifted by 0.3 px to the right it contains no pixel centre at all.
    out = render([[3.6, 2.3, 1.0], [4.1, 2.4, 1.0], [3.7, 2.8, 1.0]], [[0, 1, 2]])
    assert (out.face_index == -1).all()


@pytest.mark.parametrize("order", [[0, 1, 2], [0, 2, 1]], ids=["ccw", "cw"])
def test_coverage_and_soft_silhouette_match_hand_computation(order):
    vertices = [[x, y, 1.0] for x, y in TRIANGLE]
    out = render(vertices, [order])
    cutoff = math.sqrt(SIGMA * math.log((1 - 1e-4) / 1e-4))
    for i in range(H):
        for j in range(W):
            p = (j + 0.5, i + 0.5)
            inside = point_in_triangle(p, *TRIANGLE)
            assert out.face_index[0, i, j].item() == (0 if inside else -1), (i, j)
            d = min(segment_distance(p, TRIANGLE[k], TRIANGLE[(k + 1) % 3]) for k in range(3))
            expected = 1 / (1 + math.exp(-(d * d if inside else -d * d) / SIGMA))
            expected = expected if inside or d <= cutoff else 0.0
            assert out.silhouette[0, i, j].item() == pytest.approx(expected, abs=1e-5), (i, j)


def test_pair_count_is_the_margin_grown_box():
    out = render([[x, y, 1.0] for x, y in TRIANGLE], [[0, 1, 2]], size=(40, 40))
    margin = math.sqrt(SIGMA * math.log((1 - 1e-4) / 1e-4))
    xs, ys = [p[0] for p in TRIANGLE], [p[1] for p in TRIANGLE]

    def count(lo, hi, size):  # pixels j with centre j + 0.5 in [lo - m, hi + m], clipped
        first = max(0, math.ceil(lo - margin - 0.5))
        last = min(size - 1, math.floor(hi + margin - 0.5))
        return last - first + 1

    assert out.num_pairs == count(min(xs), max(xs), 40) * count(min(ys), max(ys), 40)


# ---------------------------------------------------------------------------------------------------------------
# Visibility


@pytest.mark.parametrize("perspective", [True, False], ids=["pinhole", "orthographic"])
@pytest.mark.parametrize("near_first", [True, False])
def test_nearest_face_wins_regardless_of_order(perspective, near_first):
    near_uv, far_uv = [(0.5, 0.5), (9.5, 1.0), (2.0, 9.5)], [(2.5, 1.5), (11.5, 4.0), (6.0, 9.8)]
    if perspective:
        near, far, camera = unproject(near_uv, 1.0), unproject(far_uv, 2.0), pinhole()
    else:
        near = torch.tensor([[u, v, 1.0] for u, v in near_uv])
        far = torch.tensor([[u, v, 2.0] for u, v in far_uv])
        camera = pixel_camera()
    red, green = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]
    if near_first:
        vertices, colors, near_index = torch.cat([near, far]), [red, green], 0
    else:
        vertices, colors, near_index = torch.cat([far, near]), [green, red], 1
    out = render(vertices, [[0, 1, 2], [3, 4, 5]], torch.tensor([colors]), camera=camera)
    both = [(i, j) for i in range(H) for j in range(W)
            if point_in_triangle((j + 0.5, i + 0.5), *near_uv) and point_in_triangle((j + 0.5, i + 0.5), *far_uv)]
    assert len(both) > 5
    for i in range(H):
        for j in range(W):
            in_near = point_in_triangle((j + 0.5, i + 0.5), *near_uv)
            in_far = point_in_triangle((j + 0.5, i + 0.5), *far_uv)
            expected = near_index if in_near else (1 - near_index) if in_far else -1
            assert out.face_index[0, i, j] == expected, (i, j)
    i, j = 4, 5  # well inside both: the colour is the near face's (on a black background)
    assert (i, j) in both and out.silhouette[0, i, j] > 0.99
    torch.testing.assert_close(out.image[0, :, i, j], out.silhouette[0, i, j] * torch.tensor(red))


def test_perspective_depth_test_is_exact_for_slanted_faces():
    # A fronto-parallel face at z = 1 and a steeply slanted one crossing it: per pixel the visible face must
    # follow the true ray intersection (screen-linear z interpolation would move the crossing line).
    flat = unproject([(-5.0, -5.0), (30.0, -5.0), (-5.0, 30.0)], 1.0, dtype=torch.float64)
    slanted = torch.cat([unproject([(0.2, 0.3)], 0.4, dtype=torch.float64),
                         unproject([(11.9, 0.1)], 3.0, dtype=torch.float64),
                         unproject([(0.1, 9.9)], 0.4, dtype=torch.float64)])
    out = render(torch.cat([flat, slanted]).float(), [[0, 1, 2], [3, 4, 5]], camera=pinhole())
    a, b, c = slanted
    normal = torch.linalg.cross(b - a, c - a)
    slanted_uv = [((p[0] / p[2] * 20 + W / 2).item(), (p[1] / p[2] * 20 + H / 2).item()) for p in slanted]
    checked = 0
    for i in range(H):
        for j in range(W):
            if not point_in_triangle((j + 0.5, i + 0.5), *slanted_uv):
                continue
            ray = torch.tensor([(j + 0.5 - W / 2) / 20, (i + 0.5 - H / 2) / 20, 1.0], dtype=torch.float64)
            depth = (normal @ a) / (normal @ ray)  # z of the slanted plane along the pixel's ray
            if abs(depth - 1.0) < 1e-3:
                continue
            assert out.face_index[0, i, j].item() == (1 if depth < 1.0 else 0), (i, j, depth.item())
            checked += 1
    assert checked > 20


# ---------------------------------------------------------------------------------------------------------------
# Shading (Eq. 22)


def test_shading_matches_eq22_by_hand():
    vertices = torch.tensor([[[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0], [0.0, 0.0, 2.0]]])
    faces = torch.tensor([[0, 1, 2], [0, 2, 1]])  # normals +z and -z
    normals = face_normals(vertices, faces)
    torch.testing.assert_close(normals, torch.tensor([[[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]]]))
    albedo = torch.tensor([[[0.5, 0.6, 0.7], [0.2, 0.4, 0.8]]])
    # l_a = 0.3, c_a = (1, .5, .2), l_d = 0.8, c_d = (.9, 1, .4), d = (0, 3, 4): d̂ = (0, .6, .8).
    lighting = torch.tensor([[0.3, 1.0, 0.5, 0.2, 0.8, 0.9, 1.0, 0.4, 0.0, 3.0, 4.0]])
    lit = shade_faces(albedo, normals, lighting)
    # Face 0: n·d̂ = 0.8 -> (0.3·c_a + 0.8·0.8·c_d)·C = ((.3, .15, .06) + (.576, .64, .256))·C.
    expected0 = torch.tensor([0.876 * 0.5, 0.79 * 0.6, 0.316 * 0.7])
    # Face 1: n·d̂ = −0.8 -> clamped to 0, ambient only.
    expected1 = torch.tensor([0.3 * 0.2, 0.15 * 0.4, 0.06 * 0.8])
    torch.testing.assert_close(lit[0], torch.stack([expected0, expected1]))
    # Canonical (shared) normals broadcast over the batch.
    torch.testing.assert_close(shade_faces(albedo, normals[0], lighting), lit)


def test_rendered_pixels_show_the_shaded_colour():
    # Counter-clockwise seen from the camera at the origin (looking along +z): normal toward the camera (−z).
    vertices = unproject([(-4.0, -4.0), (-4.0, 30.0), (30.0, -4.0)], 1.0)
    faces = torch.tensor([[0, 1, 2]])
    albedo = torch.tensor([[[0.5, 0.6, 0.7]]])
    lighting = torch.tensor([[0.3, 1.0, 0.5, 0.2, 0.8, 0.9, 1.0, 0.4, 0.0, 0.0, -2.0]])
    out = render(vertices, faces, albedo, lighting, camera=pinhole())
    normal = face_normals(vertices[None], faces)[0, 0]
    assert normal[2] < 0
    expected = shade_faces(albedo, normal[None], lighting)[0, 0]
    torch.testing.assert_close(out.image[0, :, 5, 5], expected)


# ---------------------------------------------------------------------------------------------------------------
# Gradients


def _gradcheck_scene():
    """Two faces sharing an edge (a bent quad) plus a triangle partly in front of them, float64, pinhole."""
    uv = [(1.3, 1.2), (9.7, 0.9), (10.4, 8.6), (1.9, 8.3), (5.2, 3.3), (11.3, 6.1), (6.1, 9.4)]
    depth = [1.0, 1.1, 1.3, 0.9, 0.8, 0.8, 0.85]
    vertices = torch.cat([unproject([p], d, dtype=torch.float64) for p, d in zip(uv, depth)])[None]
    faces = torch.tensor([[0, 3, 2], [0, 2, 1], [4, 6, 5]])
    colors = torch.tensor([[[0.9, 0.2, 0.1], [0.3, 0.8, 0.2], [0.1, 0.3, 0.9]]], dtype=torch.float64)
    lighting = torch.tensor([[0.4, 1.0, 0.9, 0.8, 0.7, 1.0, 0.9, 1.0, 0.3, -0.2, -1.0]], dtype=torch.float64)
    return vertices, faces, colors, lighting, pinhole(dtype=torch.float64)


@pytest.mark.parametrize("soft_internal_edges", [False, True])
def test_gradients_match_finite_differences(soft_internal_edges):
    vertices, faces, colors, lighting, camera = _gradcheck_scene()
    renderer = MeshRenderer((H, W), sigma=0.7, soft_internal_edges=soft_internal_edges)
    background = torch.tensor([0.2, 0.3, 0.1], dtype=torch.float64)

    def fn(vertices, colors, lighting):
        out = renderer(vertices, faces, colors, lighting, camera, background)
        return out.silhouette, out.image

    inputs = tuple(t.clone().requires_grad_() for t in (vertices, colors, lighting))
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_silhouette_gradient_flows_on_both_sides_of_the_outline():
    vertices = torch.tensor([[x, y, 1.0] for x, y in TRIANGLE], requires_grad=True)
    out = render(vertices, [[0, 1, 2]])
    inside, outside = (2, 4), (0, 4)  # centres (4.5, 2.5) and (4.5, 0.5): 0.6 px in and 1.3 px out of edge 0-1
    assert point_in_triangle((4.5, 2.5), *TRIANGLE) and not point_in_triangle((4.5, 0.5), *TRIANGLE)
    for i, j in (inside, outside):
        (grad,) = torch.autograd.grad(out.silhouette[0, i, j], vertices, retain_graph=True)
        assert grad[:2, :2].abs().sum() > 1e-3 and grad[2].abs().sum() == 0  # the near edge's corners only


@pytest.mark.parametrize("mixed_winding", [False, True])
def test_no_seams_along_internal_edges(mixed_winding):
    # A fan of 8 triangles (a disc of radius 7 px): with outline-only distances the silhouette is 1 at interior
    # pixels, including those on and next to the internal edges; plain SoftRas leaves seams there. Faces wound
    # inconsistently with their neighbours must not turn internal edges into outline edges.
    angles = torch.arange(8) * 2 * math.pi / 8
    centre = (8.03, 8.02)
    rim = torch.stack([centre[0] + 7 * angles.cos(), centre[1] + 7 * angles.sin(), torch.ones(8)], 1)
    vertices = torch.cat([torch.tensor([[*centre, 1.0]]), rim])
    faces = torch.stack([torch.zeros(8, dtype=torch.long), 1 + torch.arange(8), 1 + (torch.arange(8) + 1) % 8], 1)
    if mixed_winding:
        faces[::3] = faces[::3].flip(1)
    hard = render(vertices, faces, size=(16, 16))
    soft = render(vertices, faces, size=(16, 16), soft_internal_edges=True)
    pixels = [(i, j) for i in range(16) for j in range(16)]
    interior = [(i, j) for i, j in pixels if math.hypot(j + 0.5 - centre[0], i + 0.5 - centre[1]) < 3]
    assert len(interior) >= 20
    assert all(hard.silhouette[0, i, j] > 1 - 1e-6 for i, j in interior)
    assert min(soft.silhouette[0, i, j].item() for i, j in interior) < 0.9


def test_edge_adjacency():
    # 0: (0,1,2) and 1: (0,2,3) share edge 0-2, consistently wound; 2: (3,0,4) shares edge 3-0 with face 1 but
    # runs along it the same way (inconsistent winding); faces 3, 4 and 5 all share edge 5-6: non-manifold.
    faces = torch.tensor([[0, 1, 2], [0, 2, 3], [3, 0, 4], [5, 6, 7], [5, 6, 8], [6, 5, 9]])
    adjacency = edge_adjacency(faces)
    assert adjacency.neighbor[0].tolist() == [-1, -1, 1]  # edges 0-1, 1-2, 2-0
    assert adjacency.neighbor[1].tolist() == [0, -1, 2]  # edges 0-2, 2-3, 3-0
    assert adjacency.opposite[1].tolist() == [True, False, False]
    assert adjacency.neighbor[2].tolist() == [1, -1, -1] and not adjacency.opposite[2, 0]
    assert (adjacency.neighbor[3:, 0] == -1).all()


# ---------------------------------------------------------------------------------------------------------------
# Memory bound and chunking


def _confetti(batch: int, num_faces: int, size: tuple[int, int], seed: int = 0) -> torch.Tensor:
    """Many tiny (~0.5 px) triangles scattered over the image, as (B, 3F, 3) vertices of faces (F, 3)."""
    gen = torch.Generator().manual_seed(seed)
    centre = torch.rand(batch, num_faces, 1, 2, generator=gen) * torch.tensor([size[1], size[0]])
    corners = centre + 0.5 * torch.randn(batch, num_faces, 3, 2, generator=gen)
    depth = 1.0 + torch.rand(batch, num_faces, 3, 1, generator=gen)
    return torch.cat([corners, depth], -1).reshape(batch, 3 * num_faces, 3)


def test_pairs_scale_with_face_area_not_image_times_faces():
    batch, num_faces, size = 2, 8000, (96, 128)
    vertices = _confetti(batch, num_faces, size)
    faces = torch.arange(3 * num_faces).view(num_faces, 3)
    out = render(vertices, faces, size=size)
    dense = batch * size[0] * size[1] * num_faces  # what a B×H×W×F formulation would allocate
    assert 0 < out.num_pairs < dense / 200
    assert out.num_pairs < batch * num_faces * 50  # about a 6×6 box per tiny face, margin included


def test_chunking_and_backward_recompute_change_nothing():
    batch, num_faces, size = 3, 300, (24, 32)
    vertices = _confetti(batch, num_faces, size, seed=1).requires_grad_()
    faces = torch.arange(3 * num_faces).view(num_faces, 3)
    colors = torch.rand(batch, num_faces, 3, generator=torch.Generator().manual_seed(2))
    weights = torch.rand(batch, 3, *size, generator=torch.Generator().manual_seed(3))

    def run(**settings):
        out = render(vertices, faces, colors, size=size, **settings)
        (grad,) = torch.autograd.grad((out.image * weights).sum() + out.silhouette.sum(), vertices)
        return out, grad

    ref, ref_grad = run()
    small, small_grad = run(max_pairs_per_chunk=1, max_cached_pairs=0)  # one sample per chunk, recompute
    assert ref.num_pairs == small.num_pairs
    assert torch.equal(ref.face_index, small.face_index)
    torch.testing.assert_close(small.silhouette, ref.silhouette)
    torch.testing.assert_close(small.image, ref.image)
    torch.testing.assert_close(small_grad, ref_grad)


# ---------------------------------------------------------------------------------------------------------------
# Cameras, background, batch


def test_orthographic_camera_renders():
    # u = 50·x + 6, v = 50·y + 5: a triangle given in metres lands on TRIANGLE in pixels.
    camera = WeakPerspectiveCamera(torch.tensor([50.0]), torch.tensor([[6.0, 5.0]]))
    vertices = [[(x - 6.0) / 50, (y - 5.0) / 50, -0.3] for x, y in TRIANGLE]  # depth sign is irrelevant here
    out = render(vertices, [[0, 1, 2]], camera=camera)
    ref = render([[x, y, 1.0] for x, y in TRIANGLE], [[0, 1, 2]])
    assert torch.equal(out.face_index, ref.face_index) and (out.face_index >= 0).sum() > 20
    torch.testing.assert_close(out.silhouette, ref.silhouette, atol=1e-5, rtol=0)


def test_background_colour_is_honoured():
    vertices = [[x, y, 1.0] for x, y in TRIANGLE]
    empty = (9, 11)  # far from the triangle: silhouette exactly 0
    default = render(vertices, [[0, 1, 2]])
    assert default.silhouette[0, empty[0], empty[1]] == 0
    assert (default.image[0, :, empty[0], empty[1]] == 0).all()
    grey = render(vertices, [[0, 1, 2]], background=0.5)
    assert (grey.image[0, :, empty[0], empty[1]] == 0.5).all()
    per_sample = torch.tensor([[0.1, 0.2, 0.3], [0.7, 0.8, 0.9]])
    two = render(torch.tensor([vertices] * 2), [[0, 1, 2]], background=per_sample)
    torch.testing.assert_close(two.image[:, :, empty[0], empty[1]], per_sample)
    # At the outline the image blends the face colour (white) and the background by the silhouette.
    i, j = 0, 3
    s = grey.silhouette[0, i, j]
    assert 0 < s < 1
    torch.testing.assert_close(grey.image[0, :, i, j], (s * 1.0 + (1 - s) * 0.5).expand(3))


def test_batch_elements_are_independent():
    gen = torch.Generator().manual_seed(0)
    batch = 3
    base = torch.tensor([[x, y, 1.0] for x, y in TRIANGLE] + [[2.0, 9.0, 1.5], [11.0, 9.5, 1.5], [6.0, 0.5, 1.5]])
    vertices = base + 0.8 * torch.randn(batch, 6, 3, generator=gen) * torch.tensor([1.0, 1.0, 0.1])
    faces = [[0, 1, 2], [3, 4, 5]]
    colors = torch.rand(batch, 2, 3, generator=gen)
    lighting = torch.tensor(FLAT_LIGHT).repeat(batch, 1) + 0.2 * torch.rand(batch, 11, generator=gen)
    background = torch.rand(batch, 3, generator=gen)
    full = render(vertices, faces, colors, lighting, background=background)
    for b in range(batch):
        one = render(vertices[b : b + 1], faces, colors[b : b + 1], lighting[b : b + 1], background=background[b])
        assert torch.equal(one.face_index[0], full.face_index[b])
        torch.testing.assert_close(one.silhouette[0], full.silhouette[b])
        torch.testing.assert_close(one.image[0], full.image[b])


def test_near_plane_and_degenerate_faces_are_culled():
    behind = unproject([(1.0, 1.0), (11.0, 1.0), (1.0, 9.0)], 1.0)
    behind[0, 2] = 0.005  # one corner in front of the 1 cm near plane
    flat = unproject([(1.0, 1.0), (6.0, 5.0), (11.0, 9.0)], 1.0)  # collinear on screen: zero area
    out = render(torch.cat([behind, flat]), [[0, 1, 2], [3, 4, 5]], camera=pinhole())
    assert out.num_pairs == 0 and (out.face_index == -1).all() and (out.silhouette == 0).all()


# ---------------------------------------------------------------------------------------------------------------
# A closed, hand-sized mesh (the benchmark's ellipsoid)


def _bench_module():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_render.py"
    spec = importlib.util.spec_from_file_location("bench_render", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_closed_mesh_silhouette_is_solid_and_hand_sized():
    bench = _bench_module()
    vertices, faces = bench.ellipsoid_mesh()
    adjacency = edge_adjacency(faces)
    assert (adjacency.neighbor >= 0).all() and adjacency.opposite.all()  # closed, consistently oriented
    inputs = bench.make_inputs((vertices, faces), batch=2, device=torch.device("cpu"))
    out = MeshRenderer(bench.IMAGE_SIZE)(**inputs)
    covered = out.face_index >= 0
    interior = covered.clone()
    for di in (-2, -1, 0, 1, 2):  # erode by 2 px: away from the outline
        for dj in (-2, -1, 0, 1, 2):
            interior &= covered.roll((di, dj), dims=(1, 2))
    assert (out.silhouette[interior] == 1).all()
    # The soft area stays within ~1 px of the hard outline (perimeter of such a view < 400 px).
    assert (out.silhouette.sum((1, 2)) - covered.sum((1, 2))).abs().max() < 400
    assert out.num_pairs < 2 * 200_000


# ---------------------------------------------------------------------------------------------------------------
# The hard, forward-only path (soft=False / rasterize_hard)


def _random_faces(seed: int, batch: int, num_faces: int, size: tuple[int, int], scale: float, snap: float | None,
                  flat_depth: bool) -> torch.Tensor:
    """(B, F, 3, 3) screen-space triangles around the image (some off it), of about `scale` px; snap: round the
    corners to multiples of it (edges through pixel centres and corners, axis-aligned edges); flat_depth: one
    depth per face (z-ties between faces)."""
    gen = torch.Generator().manual_seed(seed)
    height, width = size
    centre = torch.rand(batch, num_faces, 1, 2, generator=gen) * torch.tensor([1.4 * width, 1.4 * height])
    corners = centre - torch.tensor([0.2 * width, 0.2 * height]) + scale * torch.randn(batch, num_faces, 3, 2,
                                                                                         generator=gen)
    if snap is not None:
        corners = (corners / snap).round() * snap
    depth = 1.0 + torch.rand(batch, num_faces, 3, 1, generator=gen)
    if flat_depth:
        depth = depth.mean(2, keepdim=True).expand(batch, num_faces, 3, 1)
    return torch.cat([corners, depth], -1)


@pytest.mark.parametrize("scale", [0.7, 4.0, 25.0, 300.0], ids=lambda s: f"{s}px")
@pytest.mark.parametrize("snap", [None, 1.0, 0.5], ids=["float", "integer", "half"])
@pytest.mark.parametrize("perspective", [True, False], ids=["pinhole", "orthographic"])
def test_hard_rasterizer_gives_the_soft_z_buffer_exactly(scale, snap, perspective):
    size = (23, 37)
    face_screen = _random_faces(int(scale * 10 + (snap or 0) * 7), 3, 150, size, scale, snap,
                                flat_depth=not perspective)
    near = 1.2 if perspective else None  # culls some faces
    soft = rasterize_faces(face_screen, RasterSettings(size, near=near), perspective=perspective)
    hard = rasterize_hard(face_screen, size, perspective=perspective, near=near)
    assert hard.face_index.dtype == torch.long and hard.face_index.shape == (3, *size)
    assert torch.equal(hard.face_index, soft.face_index)
    assert (hard.face_index >= 0).sum() <= hard.num_pairs < soft.num_pairs


@pytest.mark.parametrize("order", [[0, 1, 2], [0, 2, 1]], ids=["ccw", "cw"])
def test_hard_coverage_matches_hand_computation(order):
    # TRIANGLE plus a triangle whose edges pass exactly through pixel centres (edges count as inside) and one
    # behind both, partly covered.
    on_centres = [(2.5, 1.5), (8.5, 1.5), (2.5, 7.5)]
    behind = [(0.2, 0.2), (11.8, 0.4), (6.0, 9.8)]
    triangles = [TRIANGLE, on_centres, behind]
    vertices = torch.tensor([[x, y, z] for tri, z in zip(triangles, (1.0, 2.0, 3.0)) for x, y in tri])
    faces = torch.tensor([[3 * f + k for k in order] for f in range(3)])
    out = render(vertices, faces, soft=False)
    for i in range(H):
        for j in range(W):
            p = (j + 0.5, i + 0.5)
            expected = next((f for f, tri in enumerate(triangles) if point_in_triangle(p, *tri)), -1)
            assert out.face_index[0, i, j].item() == expected, (i, j)
    assert point_in_triangle((8.5, 1.5), *on_centres) and out.face_index[0, 1, 8] == 1  # a corner on a centre
    torch.testing.assert_close(out.silhouette, (out.face_index >= 0).float(), atol=0, rtol=0)


def test_hard_renderer_matches_soft_on_the_hand():
    bench = _bench_module()
    inputs = bench.make_inputs(bench.open_hand_mesh(), batch=3, device=torch.device("cpu"), seed=4)
    background = torch.tensor([0.2, 0.5, 0.7])
    soft = MeshRenderer(bench.IMAGE_SIZE)(**inputs, background=background)
    hard = MeshRenderer(bench.IMAGE_SIZE, soft=False)(**inputs, background=background)
    covered = hard.face_index >= 0
    assert torch.equal(hard.face_index, soft.face_index) and covered.sum() > 3000
    assert torch.equal(hard.silhouette, covered.float())
    solid = (soft.silhouette == 1) & covered
    assert solid.sum() > 0.8 * covered.sum()
    torch.testing.assert_close(hard.image.permute(0, 2, 3, 1)[solid], soft.image.permute(0, 2, 3, 1)[solid])
    torch.testing.assert_close(hard.image.permute(0, 2, 3, 1)[~covered], background.expand(int((~covered).sum()), 3))
    assert hard.num_pairs < soft.num_pairs / 3
    # Forward only for the z-buffer, but colours and lighting still get gradients through the image.
    (grad,) = torch.autograd.grad(hard.image.sum(), inputs["face_colors"])
    assert grad.abs().sum() > 0


def test_hard_rasterizer_in_float64():
    size = (23, 37)
    face_screen = _random_faces(11, 2, 150, size, 5.0, 0.5, flat_depth=False).double()
    soft = rasterize_faces(face_screen, RasterSettings(size), perspective=True)
    assert torch.equal(rasterize_hard(face_screen, size, perspective=True).face_index, soft.face_index)


def test_hard_chunking_and_batching_change_nothing():
    size = (24, 32)
    face_screen = _random_faces(5, 4, 200, size, 3.0, None, flat_depth=False)
    ref = rasterize_hard(face_screen, size, perspective=True)
    for budget in (1, 7, 100):  # one face per chunk; several samples per chunk split anywhere
        small = rasterize_hard(face_screen, size, perspective=True, max_pairs_per_chunk=budget)
        assert torch.equal(small.face_index, ref.face_index) and small.num_pairs == ref.num_pairs
    for b in range(4):
        one = rasterize_hard(face_screen[b : b + 1], size, perspective=True)
        assert torch.equal(one.face_index[0], ref.face_index[b])


def test_hard_path_culls_and_handles_empty_input():
    behind = unproject([(1.0, 1.0), (11.0, 1.0), (1.0, 9.0)], 1.0)
    behind[0, 2] = 0.005
    flat = unproject([(1.0, 1.0), (6.0, 5.0), (11.0, 9.0)], 1.0)
    out = render(torch.cat([behind, flat]), [[0, 1, 2], [3, 4, 5]], camera=pinhole(), soft=False)
    assert out.num_pairs == 0 and (out.face_index == -1).all() and (out.silhouette == 0).all()
    off_screen = torch.tensor([[[[-9.0, -9.0, 1.0], [-5.0, -9.0, 1.0], [-9.0, -5.0, 1.0]]]])
    assert (rasterize_hard(off_screen, (H, W), perspective=False).face_index == -1).all()
    with pytest.raises(ValueError, match="face_screen"):
        rasterize_hard(torch.zeros(1, 2, 3), (H, W), perspective=False)


# ---------------------------------------------------------------------------------------------------------------
# Input checks


@pytest.mark.parametrize(
    "change, name",
    [
        (lambda a: {**a, "vertices": a["vertices"][0]}, "vertices"),
        (lambda a: {**a, "vertices": a["vertices"].masked_fill(torch.rand(1, 3, 3) > 0.5, math.nan)}, "vertices"),
        (lambda a: {**a, "faces": torch.tensor([[0, 1, 3]])}, "faces"),
        (lambda a: {**a, "faces": torch.tensor([[0.0, 1.0, 2.0]])}, "faces"),
        (lambda a: {**a, "face_colors": torch.ones(1, 2, 3)}, "face_colors"),
        (lambda a: {**a, "lighting": torch.ones(1, 10)}, "lighting"),
        (lambda a: {**a, "camera": PerspectiveCamera(torch.eye(3).expand(2, 3, 3))}, "K"),
    ],
)
def test_bad_inputs_raise_value_error_naming_the_argument(change, name):
    args = {
        "vertices": torch.tensor([[[x, y, 1.0] for x, y in TRIANGLE]]),
        "faces": torch.tensor([[0, 1, 2]]),
        "face_colors": torch.ones(1, 1, 3),
        "lighting": torch.tensor([FLAT_LIGHT]),
        "camera": pixel_camera(),
    }
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=name):
        MeshRenderer((H, W))(**change(args))


def test_rasterizer_and_settings_validate():
    with pytest.raises(ValueError, match="face_screen"):
        rasterize_faces(torch.zeros(1, 2, 3), RasterSettings((H, W)), perspective=False)
    with pytest.raises(ValueError, match="image_size"):
        RasterSettings((0, W))
    with pytest.raises(ValueError, match="sigma"):
        RasterSettings((H, W), sigma=0.0)


# ---------------------------------------------------------------------------------------------------------------
# Devices


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_and_cuda_agree():
    bench = _bench_module()
    results = {}
    for device in ("cpu", "cuda"):
        inputs = bench.make_inputs(bench.ellipsoid_mesh(), batch=4, device=torch.device(device))
        out = MeshRenderer(bench.IMAGE_SIZE)(**inputs)
        (out.image.square().sum() + out.silhouette.sum()).backward()
        results[device] = (out, inputs["vertices"].grad, inputs["face_colors"].grad, inputs["lighting"].grad)
    cpu, gpu = results["cpu"], results["cuda"]
    assert cpu[0].num_pairs == gpu[0].num_pairs
    assert (cpu[0].face_index != gpu[0].face_index.cpu()).float().mean() < 1e-3  # float ties may differ
    torch.testing.assert_close(gpu[0].silhouette.cpu(), cpu[0].silhouette, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(gpu[0].image.cpu(), cpu[0].image, atol=1e-3, rtol=1e-3)
    for c, g in zip(cpu[1:], gpu[1:]):
        torch.testing.assert_close(g.cpu(), c, atol=1e-3 * c.abs().max().item(), rtol=1e-3)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_hard_path_on_cuda():
    bench = _bench_module()
    results = {}
    for device in ("cpu", "cuda"):
        inputs = bench.make_inputs(bench.open_hand_mesh(), batch=4, device=torch.device(device))
        with torch.no_grad():
            soft = MeshRenderer(bench.IMAGE_SIZE)(**inputs)
            hard = MeshRenderer(bench.IMAGE_SIZE, soft=False)(**inputs)
        assert torch.equal(hard.face_index, soft.face_index), device  # exact on each device
        results[device] = hard
    cpu, gpu = results["cpu"], results["cuda"]
    assert (cpu.face_index != gpu.face_index.cpu()).float().mean() < 1e-3  # float ties may differ
    torch.testing.assert_close(gpu.image.cpu(), cpu.image, atol=1e-3, rtol=1e-3)
