"""Renderer forward+backward vs. an EfficientNet-b0 encoder step, and the hard forward-only path vs. the soft
forward (both under no_grad, as data synthesis renders), same batch, same run, same machine.

Prints one JSON object: median seconds of each (repetitions interleaved), the ratio renderer/encoder (target
<= 1.0 on CPU, <= 0.25 on GPU), the ratio soft/hard forward, and the rasteriser's (face, pixel) pair counts.

    python benchmarks/bench_render.py [--batch 64] [--repeats 3] [--device cpu|cuda] [--only hard]

The default mesh is the open hand (778 vertices, 1538 faces); `--mesh ellipsoid` uses a hand-sized UV ellipsoid.
`--only hard` skips the training comparison (renderer backward, encoder).
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch

from s2hand.geometry.camera import PerspectiveCamera, default_intrinsics
from s2hand.geometry.rotations import quaternion_to_matrix
from s2hand.render import LIGHTING_DIM, MeshRenderer

IMAGE_SIZE = 224
FOCAL = 480.0
DEPTH = 0.6  # metres


def ellipsoid_mesh(
    semi_axes: tuple[float, float, float] = (0.09, 0.04, 0.02), rings: int = 24, segments: int = 32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed UV ellipsoid centred at the origin: (rings·segments + 2, 3) vertices, (2·rings·segments, 3) faces,
    counter-clockwise seen from outside. Defaults: 0.18 × 0.08 × 0.04 m, 770 vertices, 1536 faces."""
    polar = torch.arange(1, rings + 1, dtype=torch.float64) * math.pi / (rings + 1)
    azimuth = torch.arange(segments, dtype=torch.float64) * 2 * math.pi / segments
    p, a = torch.meshgrid(polar, azimuth, indexing="ij")
    ring_points = torch.stack([p.sin() * a.cos(), p.sin() * a.sin(), p.cos()], -1).reshape(-1, 3)
    poles = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0]], dtype=torch.float64)
    unit = torch.cat([poles[:1], ring_points, poles[1:]])
    vertices = (unit * torch.tensor(semi_axes, dtype=torch.float64)).float()

    def ring(r: int) -> torch.Tensor:  # vertex ids of ring r, and of the same ring shifted by one segment
        return 1 + r * segments + torch.arange(segments), 1 + r * segments + (torch.arange(segments) + 1) % segments

    top, bottom = 0, rings * segments + 1
    first, first_next = ring(0)
    last, last_next = ring(rings - 1)
    faces = [torch.stack([torch.full_like(first, top), first, first_next], 1)]
    for r in range(rings - 1):
        upper, upper_next = ring(r)
        lower, lower_next = ring(r + 1)
        faces += [torch.stack([upper, lower, lower_next], 1), torch.stack([upper, lower_next, upper_next], 1)]
    faces.append(torch.stack([last, torch.full_like(last, bottom), last_next], 1))
    return vertices, torch.cat(faces)


def random_rotations(batch: int, generator: torch.Generator) -> torch.Tensor:
    return quaternion_to_matrix(torch.randn(batch, 4, generator=generator))


def make_inputs(mesh: tuple[torch.Tensor, torch.Tensor], batch: int, device: torch.device, seed: int = 0) -> dict:
    """A batch of randomly rotated copies of the mesh at DEPTH in front of a 224-px camera, with random albedo
    and lighting; vertices, colours and lighting require grad."""
    gen = torch.Generator().manual_seed(seed)
    vertices, faces = mesh
    rotated = vertices[None] @ random_rotations(batch, gen).transpose(1, 2)
    rotated = rotated + torch.tensor([0.0, 0.0, DEPTH]) + 0.01 * torch.randn(batch, 1, 3, generator=gen)
    colors = 0.5 + 0.3 * torch.rand(batch, faces.shape[0], 3, generator=gen)
    lighting = torch.cat(
        [
            torch.full((batch, 1), 0.6), torch.ones(batch, 3), torch.full((batch, 1), 0.5), torch.ones(batch, 3),
            torch.tensor([0.0, 0.0, -1.0]) + 0.3 * torch.randn(batch, 3, generator=gen),
        ],
        dim=1,
    )
    assert lighting.shape[1] == LIGHTING_DIM
    leaf = lambda t: t.to(device).requires_grad_()  # noqa: E731
    return {
        "vertices": leaf(rotated),
        "faces": faces.to(device),
        "face_colors": leaf(colors),
        "lighting": leaf(lighting),
        "camera": PerspectiveCamera(default_intrinsics(batch, IMAGE_SIZE, FOCAL, device=device)),
    }


def _timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def benchmark(
    batch: int = 64,
    repeats: int = 3,
    device: str = "cpu",
    mesh: tuple[torch.Tensor, torch.Tensor] | None = None,
    training: bool = True,
) -> dict:
    """Runs the comparisons and returns the result dict (what main() prints). training=False: only the soft vs
    hard forward comparison."""
    dev = torch.device(device)
    mesh = mesh if mesh is not None else ellipsoid_mesh()
    inputs = make_inputs(mesh, batch, dev)
    renderer = MeshRenderer(IMAGE_SIZE)
    hard_renderer = MeshRenderer(IMAGE_SIZE, soft=False)
    gen = torch.Generator().manual_seed(1)
    image_weight = torch.rand(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=gen).to(dev)
    mask_weight = torch.rand(batch, IMAGE_SIZE, IMAGE_SIZE, generator=gen).to(dev)
    pairs: dict[str, int] = {}
    outputs: dict[str, torch.Tensor] = {}

    def render_step() -> None:
        out = renderer(**inputs)
        ((out.image * image_weight).sum() + (out.silhouette * mask_weight).sum()).backward()
        pairs["soft"] = out.num_pairs

    def soft_forward() -> None:
        with torch.no_grad():
            out = renderer(**inputs)
        pairs["soft"], outputs["soft"] = out.num_pairs, out.face_index

    def hard_forward() -> None:
        with torch.no_grad():
            out = hard_renderer(**inputs)
        pairs["hard"], outputs["hard"] = out.num_pairs, out.face_index

    steps = {"soft_forward": soft_forward, "hard_forward": hard_forward}
    if training:
        import torchvision  # only the benchmark needs it

        encoder = torchvision.models.efficientnet_b0(weights=None).to(dev)
        images = torch.rand(batch, 3, IMAGE_SIZE, IMAGE_SIZE, generator=gen).to(dev)

        def encoder_step() -> None:
            encoder(images).sum().backward()

        steps = {"renderer_fwd_bwd": render_step, "encoder_fwd_bwd": encoder_step, **steps}
    for step in steps.values():  # warm-up (allocator, kernels, lazy init)
        step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):  # interleaved, so all see the same machine state
        for name, step in steps.items():
            times[name].append(_timed(step, dev))
    median = {name: statistics.median(t) for name, t in times.items()}
    result = {
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "batch": batch,
        "image_size": IMAGE_SIZE,
        "num_vertices": mesh[0].shape[0],
        "num_faces": mesh[1].shape[0],
        "repeats": repeats,
    }
    if training:
        render_s, encoder_s = median["renderer_fwd_bwd"], median["encoder_fwd_bwd"]
        result.update({
            "renderer_fwd_bwd_s": round(render_s, 4),
            "encoder_fwd_bwd_s": round(encoder_s, 4),
            "ratio_renderer_over_encoder": round(render_s / encoder_s, 4),
            "renderer_times_s": [round(t, 4) for t in times["renderer_fwd_bwd"]],
            "encoder_times_s": [round(t, 4) for t in times["encoder_fwd_bwd"]],
        })
    soft_s, hard_s = median["soft_forward"], median["hard_forward"]
    num_pairs = pairs["soft"]
    result.update({
        "soft_forward_s": round(soft_s, 4),
        "hard_forward_s": round(hard_s, 4),
        "ratio_soft_over_hard_forward": round(soft_s / hard_s, 2),
        "hard_forward_ms_per_image": round(hard_s / batch * 1e3, 3),
        "soft_forward_times_s": [round(t, 4) for t in times["soft_forward"]],
        "hard_forward_times_s": [round(t, 4) for t in times["hard_forward"]],
        "hard_face_index_equal": bool(torch.equal(outputs["soft"], outputs["hard"])),
        "num_pairs": num_pairs,
        "pairs_per_sample": round(num_pairs / batch, 1),
        "pairs_fraction_of_BHWF": num_pairs / (batch * IMAGE_SIZE * IMAGE_SIZE * mesh[1].shape[0]),
        "hard_num_pairs": pairs["hard"],
        "hard_pairs_per_sample": round(pairs["hard"] / batch, 1),
    })
    return result


def open_hand_mesh() -> tuple[torch.Tensor, torch.Tensor]:
    """The bundled open hand (778 vertices, 1538 faces) in its mean pose, centred on the origin."""
    from s2hand.hand.model import HandModel

    hand = HandModel("open")
    with torch.no_grad():
        vertices = hand(torch.zeros(1, hand.pose_pca)).vertices[0]
    return vertices - vertices.mean(0), hand.faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--mesh", choices=["hand", "ellipsoid"], default="hand", help="default: the open hand")
    parser.add_argument("--only", choices=["all", "hard"], default="all",
                        help="hard: only the soft vs hard forward comparison")
    args = parser.parse_args()
    mesh = open_hand_mesh() if args.mesh == "hand" else ellipsoid_mesh()
    print(json.dumps(benchmark(args.batch, args.repeats, args.device, mesh=mesh, training=args.only == "all")))


if __name__ == "__main__":
    main()
