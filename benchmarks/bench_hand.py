"""Hand model forward+backward at B=64 (PCA pose, β, R, s, T → vertices and joints). Prints one JSON object."""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from s2hand.hand.model import HandModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    hand = HandModel("open").to(device)
    B = args.batch
    inputs = [torch.randn(B, 30), torch.randn(B, 10), torch.randn(B, 3), torch.rand(B) + 0.5, torch.randn(B, 3)]
    inputs = [x.to(device).requires_grad_() for x in inputs]

    def step() -> float:
        if device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        out = hand(*inputs)
        (out.vertices.square().mean() + out.joints.square().mean()).backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for _ in range(3):
        step()
    times = [step() for _ in range(args.repeats)]
    median = statistics.median(times)
    print(json.dumps({
        "benchmark": "hand_model_forward_backward",
        "device": str(device),
        "batch": B,
        "median_s": round(median, 5),
        "samples_per_s": round(B / median, 1),
        "torch_threads": torch.get_num_threads(),
    }))


if __name__ == "__main__":
    main()
