"""Hand model files in MANO's npz layout: locate, validate, load, save, and the cached open hand.

A model directory holds ``MANO_RIGHT.npz`` either directly or under ``mano/`` (smplx's ``create`` layout). The
value ``"open"`` names the bundled open hand, built once by this project's code and cached.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from s2hand.errors import DataError
from s2hand.io.atomic import atomic_write

OPEN_HAND = "open"
MODEL_FILENAME = "MANO_RIGHT.npz"
OPEN_HAND_VERSION = "v1"

# key -> expected shape (None = any size on that axis)
REQUIRED_KEYS: dict[str, tuple[int | None, ...]] = {
    "v_template": (778, 3),
    "f": (1538, 3),
    "weights": (778, 16),
    "J_regressor": (16, 778),
    "shapedirs": (778, 3, None),
    "posedirs": (778, 3, 135),
    "kintree_table": (2, 16),
    "hands_components": (45, 45),
    "hands_mean": (45,),
}
# S2HAND's fingertip vertex ids on the official MANO mesh (thumb, index, middle, ring, pinky).
S2HAND_MANO_FINGERTIPS = (744, 320, 443, 555, 672)


def cache_dir() -> Path:
    return Path(os.environ.get("S2HAND_CACHE", Path.home() / ".cache" / "s2hand"))


def open_hand_dir() -> Path:
    """Directory of the cached open hand model; built on first use (a few seconds)."""
    directory = cache_dir() / f"open_hand_{OPEN_HAND_VERSION}"
    if not (directory / MODEL_FILENAME).exists():
        from s2hand.hand.open_hand import build_open_hand_model

        save_model(build_open_hand_model(), directory / MODEL_FILENAME)
    return directory


def resolve_model_file(model: str | os.PathLike) -> Path:
    """"open", a directory (holding MANO_RIGHT.npz or mano/MANO_RIGHT.npz) or an npz path -> the npz path."""
    if str(model) == OPEN_HAND:
        return open_hand_dir() / MODEL_FILENAME
    path = Path(model).expanduser()
    candidates = [path] if path.suffix == ".npz" else [path / MODEL_FILENAME, path / "mano" / MODEL_FILENAME]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    hint = " (a .pkl from the MANO website must be converted first: `s2hand mano convert`)" if path.suffix == ".pkl" else ""
    raise DataError(f"hand model not found: looked for {', '.join(str(c) for c in candidates)}{hint}")


def validate_model(arrays: dict[str, np.ndarray], source: str) -> None:
    for key, shape in REQUIRED_KEYS.items():
        if key not in arrays:
            raise DataError(f"{source}: missing key '{key}' (a MANO-layout model needs {sorted(REQUIRED_KEYS)})")
        actual = arrays[key].shape
        if len(actual) != len(shape) or any(e is not None and e != a for e, a in zip(shape, actual)):
            raise DataError(f"{source}: '{key}' has shape {actual}, expected {tuple('*' if e is None else e for e in shape)}")
        if arrays[key].dtype.kind == "f" and not np.isfinite(arrays[key]).all():
            raise DataError(f"{source}: '{key}' holds NaN or inf")
    faces = arrays["f"]
    if faces.min() < 0 or faces.max() >= arrays["v_template"].shape[0]:
        raise DataError(f"{source}: face indices out of range [0, {arrays['v_template'].shape[0]})")


def load_model(model: str | os.PathLike) -> dict[str, np.ndarray]:
    """Load and validate a MANO-layout npz (no pickled objects are allowed in it)."""
    path = resolve_model_file(model)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: not a readable npz hand model ({error})") from error
    validate_model(arrays, str(path))
    if "fingertip_ids" not in arrays:
        arrays["fingertip_ids"] = np.array(S2HAND_MANO_FINGERTIPS, dtype=np.int64)
    return arrays


def save_model(arrays: dict[str, np.ndarray], path: str | os.PathLike) -> Path:
    """Validate and write atomically (temporary file in the same directory, then rename)."""
    path = Path(path)
    validate_model(arrays, str(path))
    with atomic_write(path, "wb") as handle:
        np.savez(handle, **arrays)
    return path
