"""FreiHAND scoring speed: the batched scorer against the naive per-sample reference scorer, in one run.

Scores 3,960 plausible synthetic hands (21 joints, 778 vertices; ``s2hand.evaluation.synthetic``) with every
FreiHAND metric (raw and Procrustes-aligned MPJPE / MPVPE, PCK curves and AUC, F@5 mm and F@15 mm) twice: with
``score_freihand`` and with ``reference_score`` (the loop of the official eval.py: per-sample Procrustes, per-sample
KD-tree F-score). Prints one JSON object: seconds (wall and CPU), samples/s, speedup, and the largest absolute
difference of every score and curve. Both are warmed up on a few samples first (lazy initialisation).

    .venv/bin/python benchmarks/bench_eval.py [--samples 3960]

On a CPU the scorer runs single-threaded by design (``tensors.single_thread``), like the reference.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from s2hand.evaluation.reference import reference_score
from s2hand.evaluation.scoring import scalar_scores, score_freihand
from s2hand.evaluation.synthetic import synthetic_hands, synthetic_predictions
from s2hand.evaluation.tensors import scoring_device


def _timed(fn, *args) -> tuple[dict, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=3960)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    gt_xyz, gt_verts, params = synthetic_hands(args.samples, seed=args.seed)
    pred_xyz, pred_verts = synthetic_predictions(params, seed=args.seed + 1)
    data = (pred_xyz, pred_verts, gt_xyz, gt_verts)
    warm = tuple(a[:16] for a in data)
    score_freihand(*warm)
    reference_score(*warm)

    load_before = os.getloadavg()[0]
    ours, ours_wall, ours_cpu = _timed(score_freihand, *data)
    reference, ref_wall, ref_cpu = _timed(reference_score, *data)

    diffs = {k: abs(v - reference[k]) for k, v in scalar_scores(ours).items()}
    diffs.update({
        f"curve_{k}": float(np.abs(np.asarray(v) - np.asarray(reference["curves"][k])).max())
        for k, v in ours["curves"].items()
    })
    worst = max(diffs.values())
    print(json.dumps({
        "samples": args.samples,
        "device": str(scoring_device()),
        "cpu_count": os.cpu_count(),
        "load_average_1min": round(max(load_before, os.getloadavg()[0]), 2),
        "ours": {"seconds": round(ours_wall, 3), "cpu_seconds": round(ours_cpu, 3),
                 "samples_per_s": round(args.samples / ours_wall, 1)},
        "reference": {"seconds": round(ref_wall, 3), "cpu_seconds": round(ref_cpu, 3),
                      "samples_per_s": round(args.samples / ref_wall, 1)},
        "speedup": round(ref_wall / ours_wall, 2),
        "max_abs_diff": {k: float(f"{v:.3g}") for k, v in diffs.items()},
        "max_abs_diff_all": float(f"{worst:.3g}"),
        "identical_to_1e-6": worst <= 1e-6,
        "scores": {k: round(v, 4) for k, v in scalar_scores(ours).items()},
    }, indent=1))


if __name__ == "__main__":
    main()
