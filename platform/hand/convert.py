"""Convert the official MANO_RIGHT.pkl (a Python 2 pickle of numpy, scipy.sparse and chumpy objects) to the npz
layout smplx loads, without chumpy and without executing anything from the file.

chumpy ``Ch`` objects are read as inert stand-ins that keep their pickled state; a leaf ``Ch`` stores its value
in ``x``. Any other global is refused by the restricted unpickler.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from s2hand.errors import DataError
from s2hand.hand.model_files import MODEL_FILENAME, REQUIRED_KEYS, S2HAND_MANO_FINGERTIPS, save_model
from s2hand.utils.safe_pickle import restricted_load, scipy_sparse_resolver


class ChumpyStandIn:
    """Inert placeholder for a pickled chumpy object: holds the pickled state, runs no chumpy code."""

    def __init__(self, *args, **kwargs):
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _chumpy_resolver(module: str, name: str) -> Any:
    if module == "chumpy" or module.startswith("chumpy."):
        return ChumpyStandIn
    return None


def _to_array(value: Any, key: str, source: str) -> np.ndarray:
    if isinstance(value, ChumpyStandIn):
        state = value.state if isinstance(value.state, dict) else {}
        if "x" not in state:
            raise DataError(f"{source}: '{key}' is a chumpy expression, not a stored array; cannot convert it")
        return _to_array(state["x"], key, source)
    if hasattr(value, "toarray"):  # scipy.sparse
        return np.asarray(value.toarray())
    return np.asarray(value)


def convert_mano_pickle(pkl_path: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Read MANO_RIGHT.pkl through the restricted unpickler and write out_dir/MANO_RIGHT.npz."""
    pkl_path = Path(pkl_path)
    raw = restricted_load(pkl_path, resolvers=(scipy_sparse_resolver, _chumpy_resolver))
    if not isinstance(raw, dict):
        raise DataError(f"{pkl_path}: expected a dict of model arrays, got {type(raw).__name__}")
    arrays = {}
    for key in REQUIRED_KEYS:
        if key not in raw:
            raise DataError(f"{pkl_path}: missing key '{key}'")
        arrays[key] = _to_array(raw[key], key, str(pkl_path))
    for key in ("v_template", "weights", "J_regressor", "shapedirs", "posedirs", "hands_components", "hands_mean"):
        arrays[key] = arrays[key].astype(np.float64)
    arrays["f"] = arrays["f"].astype(np.int64)
    # MANO stores the root's parent as uint32 max; smplx overrides it with -1 anyway
    kintree = arrays["kintree_table"].astype(np.int64)
    kintree[0, 0] = -1
    arrays["kintree_table"] = kintree
    arrays["fingertip_ids"] = np.array(S2HAND_MANO_FINGERTIPS, dtype=np.int64)
    arrays["model_name"] = np.array(f"converted from {pkl_path.name}")
    return save_model(arrays, Path(out_dir) / MODEL_FILENAME)
