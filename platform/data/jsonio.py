"""JSON annotation files: read with errors that name the file, validate array shapes naming the bad entry,
write deterministically (same data -> same bytes) and atomically."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from s2hand.errors import DataError
from s2hand.io.atomic import atomic_write


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise DataError(f"missing annotation file {path}") from None
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        hint = " (truncated?)" if error.pos >= len(text.rstrip()) - 1 else ""
        raise DataError(f"{path}: invalid JSON at line {error.lineno} column {error.colno}{hint}: {error.msg}") from error


def read_array_json(path: str | os.PathLike, item_shape: tuple[int, ...], count: int | None = None,
                    dtype: type = np.float32) -> np.ndarray:
    """A JSON list of equally shaped numeric items -> (N, *item_shape). Errors name the file and the first bad
    item index; ``count`` (if given) must match N."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of {item_shape} arrays, got {type(data).__name__}")
    try:
        array = np.asarray(data, dtype=dtype)
        ok = array.shape[1:] == item_shape
    except (ValueError, TypeError):
        ok = False
    if not ok:
        for index, item in enumerate(data):
            try:
                shape = np.asarray(item, dtype=dtype).shape
            except (ValueError, TypeError):
                shape = None
            if shape != item_shape:
                got = "a non-numeric or ragged entry" if shape is None else f"shape {shape}"
                raise DataError(f"{path}: entry {index} has {got}, expected {item_shape}")
        raise DataError(f"{path}: expected a list of {item_shape} arrays")
    if count is not None and len(array) != count:
        raise DataError(f"{path}: {len(array)} entries, expected {count} (one per sample; "
                        f"first sample without an entry: {min(len(array), count)})")
    if not np.isfinite(array).all():
        bad = int(np.nonzero(~np.isfinite(array.reshape(len(array), -1)).all(1))[0][0])
        raise DataError(f"{path}: entry {bad} holds NaN or inf")
    return array


def _rounded(value: Any, decimals: int | None) -> Any:
    if isinstance(value, np.ndarray):
        value = value.astype(np.float64) if value.dtype.kind == "f" else value
        if decimals is not None and value.dtype.kind == "f":
            value = np.round(value, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0: stable bytes
        return value.tolist()
    return value


def write_json(path: str | os.PathLike, data: Any, decimals: int | None = None) -> Path:
    """Compact JSON, numpy arrays as nested lists (optionally rounded), atomically; byte-identical for equal data."""
    path = Path(path)
    payload = {k: _rounded(v, decimals) for k, v in data.items()} if isinstance(data, dict) else _rounded(data, decimals)
    with atomic_write(path, "w") as handle:
        json.dump(payload, handle, separators=(",", ":"))
    return path
