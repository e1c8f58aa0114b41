"""The embedded default data: `synthetic-freihand` / `synthetic-ho3d` with `root: null` generate a small synthetic
dataset (and its synthetic detections) once, under the cache directory, and reuse it. Sizes are parameters;
the defaults keep a CPU demo short. A file lock keeps parallel workers (Ray trials) from generating it twice."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import asdict, replace
from pathlib import Path

from s2hand.data.synth.generate import SYNTH_VERSION, SynthConfig, is_complete, synthesize

DEFAULT_SIZES = {
    "synthetic-freihand": SynthConfig("freihand", train=256, evaluation=64),
    "synthetic-ho3d": SynthConfig("ho3d", sequences=8, eval_sequences=2, frames=48),
}


def default_cache_dir() -> Path:
    from s2hand.hand.model_files import cache_dir

    return cache_dir() / "synthetic"


def embedded_root(layout: str, cache_dir: str | os.PathLike | None = None, config: SynthConfig | None = None,
                  progress: bool = True, **sizes: int) -> Path:
    """Directory of the (generated on first use) embedded dataset for a synthetic-* layout. ``sizes`` override
    fields of the default SynthConfig (train, evaluation, sequences, eval_sequences, frames, seed, ...)."""
    if layout not in DEFAULT_SIZES:
        raise ValueError(f"no embedded data for layout {layout!r} (use one of {', '.join(DEFAULT_SIZES)})")
    config = config or replace(DEFAULT_SIZES[layout], **sizes)
    digest = hashlib.sha1(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:10]
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    root = root / f"{layout}-v{SYNTH_VERSION}-{digest}"
    if is_complete(root):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be generating it: wait, then reuse
        if not is_complete(root):
            synthesize(config, root, progress=progress)
    return root

