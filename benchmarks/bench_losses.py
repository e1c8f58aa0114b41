"""Every loss term, and the whole objective, forward+backward at B=64 on 224 px images, F=1538 faces, V=778.

"baseline" is the same step with a trivial loss (sum of input means), i.e. the cost of nothing. Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from s2hand.config.spec import LOSS_TERMS, LossSpec, LossTerms
from s2hand.losses import compute_loss_terms, s2hand_objective


def _predictions(batch: int, size: int, device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    rand = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    detections = rand(batch, 21, 2) * size
    p = {
        "joints_2d": detections + 3 * torch.randn(batch, 21, 2, generator=g),
        "detections": detections,
        "confidences": 0.2 + 0.8 * rand(batch, 21),
        "hourglass_keypoints": torch.stack([detections + rand(batch, 21, 2), detections + 8 * rand(batch, 21, 2)]),
        "image": rand(batch, 3, size, size),
        "rendered": rand(batch, 3, size, size),
        "silhouette": rand(batch, size, size),
        "betas": torch.randn(batch, 10, generator=g),
        "face_colors": rand(batch, 1538, 3),
        "lighting": rand(batch, 11),
        "canonical_normals": torch.nn.functional.normalize(torch.randn(1538, 3, generator=g), dim=-1),
        "joints": 0.05 * torch.randn(batch, 21, 3, generator=g),
        "rotations": torch.randn(batch, 16, 3, generator=g),
        "pose": torch.randn(batch, 30, generator=g),
        "rotation": torch.randn(batch, 3, generator=g),
        "vertices": 0.1 * torch.randn(batch, 778, 3, generator=g),
    }
    static = {"detections", "confidences", "image", "canonical_normals"}
    return {k: v.to(device).requires_grad_(k not in static) for k, v in p.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--frames", type=int, default=2, help="frames per sequence for the video terms")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    spec = LossSpec(terms=LossTerms(**{name: True for name in LOSS_TERMS}))
    p = _predictions(args.batch, args.size, device)
    laplacian = torch.randn(778, 778, device=device)
    laplacian = laplacian + laplacian.T

    def timed(loss_fn) -> float:
        def step() -> float:
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            loss_fn().backward()
            if device.type == "cuda":
                torch.cuda.synchronize()
            return time.perf_counter() - start

        step()
        return statistics.median(step() for _ in range(args.repeats))

    kwargs = dict(frames_per_sequence=args.frames, laplacian=laplacian)
    baseline = timed(lambda: sum(v.mean() for v in p.values() if v.requires_grad))
    terms = {name: timed(lambda name=name: compute_loss_terms(p, spec, active={name}, **kwargs)[name])
             for name in LOSS_TERMS}
    total = timed(lambda: s2hand_objective(p, spec, **kwargs).total)
    print(json.dumps({
        "benchmark": "losses_forward_backward",
        "device": str(device),
        "batch": args.batch,
        "image_size": args.size,
        "baseline_s": round(baseline, 5),
        "objective_s": round(total, 5),
        "terms_s": {name: round(value, 5) for name, value in terms.items()},
        "torch_threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
