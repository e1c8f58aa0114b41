"""One full training step against the forward+backward of its networks alone, same batch, same run (issue 4 §5).

Full step: encoder, heads, hand model, renderer, 2D branch when on, every loss of the stage, backward, Adam step.
Networks alone: the encoder (plus the hourglass when the 2D branch is on) forward + backward on the same images.
Variants: S2HAND (finetune, no 2D branch), S2HAND with the 2D branch, S2HAND(V) (video finetune, m × n frames).
Prints one JSON object; the target on CPU is full/networks ≤ 1.5.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from s2hand.config import load_spec
from s2hand.geometry.camera import default_intrinsics
from s2hand.train.factory import set_train_mode
from s2hand.train.loop import Trainer

VARIANTS = {
    "s2hand": ("s2hand/finetune", ["model.use_2d_branch=false"]),
    "s2hand_2d": ("s2hand/finetune", ["model.use_2d_branch=true"]),
    "s2hand_v": ("s2hand_v/video_finetune", ["model.use_2d_branch=false"]),
}


def _batch(batch: int, size: int, device: torch.device, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "image": torch.rand(batch, 3, size, size, generator=g).to(device),
        "K": default_intrinsics(batch, image_size=size, focal=2.1 * size).to(device),
        "keypoints2d": (size / 2 + 0.1 * size * torch.randn(batch, 21, 2, generator=g)).to(device),
        "confidence": (0.5 + 0.5 * torch.rand(batch, 21, generator=g)).to(device),
    }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(variant: str, batch: int, size: int, repeats: int, device: torch.device, amp: str) -> dict:
    name, overrides = VARIANTS[variant]
    spec = load_spec(name, [*overrides, f"data.image_size={size}", f"train.batch_size={batch}", f"train.amp={amp}",
                            "tracking.enabled=false"])
    trainer = Trainer(spec, "/tmp/s2hand-bench-step", lambda epoch: [], device=device)
    model = trainer.model
    data = _batch(batch, size, device)

    def full() -> None:
        trainer.train_step(data)

    networks = [model.encoder] + ([model.keypoints2d] if model.keypoints2d is not None else [])

    def networks_alone() -> None:
        with trainer._autocast():
            low, feature = model.encoder(data["image"])
            loss = feature.float().square().mean() + low.float().square().mean()
            if model.keypoints2d is not None:
                keypoints, _ = model.keypoints2d(data["image"])
                loss = loss + sum(k.float().square().mean() for k in keypoints)
        loss.backward()
        for module in networks:
            module.zero_grad(set_to_none=True)

    set_train_mode(model, spec.stage)
    times = {"full": [], "networks": []}
    for fn in (full, networks_alone):  # warm-up
        fn()
    for _ in range(repeats):  # interleaved, so load changes hit both alike
        for key, fn in (("full", full), ("networks", networks_alone)):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            times[key].append(time.perf_counter() - start)
    full_s, net_s = statistics.median(times["full"]), statistics.median(times["networks"])
    return {"full_step_s": round(full_s, 4), "networks_s": round(net_s, 4), "ratio": round(full_s / net_s, 3),
            "images_per_s": round(batch / full_s, 1), "terms": sorted(spec.loss_weights())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=None, help="default: 64 on CUDA, 12 on CPU")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--amp", default=None, help="none|bf16|fp16 (default: bf16 on CUDA, none on CPU)")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    device = torch.device(args.device)
    batch = args.batch or (64 if device.type == "cuda" else 12)
    amp = args.amp or ("bf16" if device.type == "cuda" else "none")
    results = {v: measure(v, batch, args.size, args.repeats, device, amp) for v in args.variants.split(",")}
    print(json.dumps({"benchmark": "train_step_vs_networks", "device": str(device), "batch": batch,
                      "image_size": args.size, "amp": amp, "threads": torch.get_num_threads(), "variants": results}))


if __name__ == "__main__":
    main()
