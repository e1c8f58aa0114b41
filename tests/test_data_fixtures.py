"""Shared builders for the data tests: tiny datasets in the official layouts, generated once per test session
(cached here, not as pytest fixtures, so every test_data_* module reuses the same files)."""
from __future__ import annotations

import atexit
import functools
import json
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from s2hand.data.synth import SynthConfig, synthesize
from s2hand.hand.joints import freihand_to_ho3d, opencv_to_opengl

SIZE = 96  # small renders keep the tests fast; the pipeline is size-agnostic
FREIHAND = SynthConfig("freihand", seed=3, train=12, evaluation=4, image_size=SIZE, chunk=8)
HO3D = SynthConfig("ho3d", seed=5, sequences=2, eval_sequences=1, frames=10, image_size=SIZE, chunk=8)


_SCRATCH: list[Path] = []


def scratch(name: str) -> Path:
    """A fresh directory, removed when the test session ends (the machine is shared)."""
    path = Path(tempfile.mkdtemp(prefix=f"s2hand-data-{name}-"))
    _SCRATCH.append(path)
    return path


@atexit.register
def _clean() -> None:
    for path in _SCRATCH:
        shutil.rmtree(path, ignore_errors=True)


@functools.lru_cache(maxsize=None)
def synthetic_freihand() -> Path:
    root = scratch("frei") / "data"
    synthesize(FREIHAND, root, progress=False)
    return root


@functools.lru_cache(maxsize=None)
def synthetic_ho3d() -> Path:
    root = scratch("ho3d") / "data"
    synthesize(HO3D, root, progress=False)
    return root


def tree(root: Path) -> dict[str, bytes]:
    """Relative path -> bytes of every file (the generator's bookkeeping included)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_ho3d_v2_fixture(root: Path, frames: int = 3, size: tuple[int, int] = (160, 120)) -> dict:
    """A hand-written HO-3D v2 split pair (PNG, protocol-2 meta pickles) with a known hand: returns the truth."""
    rng = np.random.default_rng(0)
    K = np.array([[200.0, 0.0, 80.0], [0.0, 200.0, 60.0], [0.0, 0.0, 1.0]])
    truth = {"train": [], "evaluation": []}
    for split, seq in (("train", "ABF10"), ("evaluation", "SM1")):
        names = []
        for f in range(frames):
            cv = np.array([0.0, 0.0, 0.5]) + rng.normal(0, 0.03, (21, 3))  # a joint cloud half a metre ahead
            gl = opencv_to_opengl(freihand_to_ho3d(cv))  # HO-3D stores its joint order, OpenGL frame
            (root / split / seq / "rgb").mkdir(parents=True, exist_ok=True)
            (root / split / seq / "meta").mkdir(parents=True, exist_ok=True)
            Image.new("RGB", size, (40 * f, 90, 120)).save(root / split / seq / "rgb" / f"{f:04d}.png")
            uv = cv @ K.T
            uv = uv[:, :2] / uv[:, 2:]
            if split == "train":
                meta = {"handJoints3D": gl.astype(np.float32), "handPose": np.zeros(48, np.float32),
                        "handBeta": np.zeros(10, np.float32), "handTrans": gl[0].astype(np.float32), "camMat": K,
                        "objName": "003_cracker_box"}
            else:
                meta = {"handJoints3D": gl[0].astype(np.float32), "camMat": K,
                        "handBoundingBox": np.array([*uv.min(0), *uv.max(0)])}
            with open(root / split / seq / "meta" / f"{f:04d}.pkl", "wb") as handle:
                pickle.dump(meta, handle, protocol=2)
            names.append(f"{seq}/{f:04d}")
            truth[split].append((cv, uv))
        (root / f"{split}.txt").write_text("".join(f"{n}\n" for n in names))
    gt = np.stack([opencv_to_opengl(freihand_to_ho3d(cv)) for cv, _ in truth["evaluation"]])
    (root / "evaluation_xyz.json").write_text(json.dumps(gt.tolist()))
    return {"K": K, **truth}
