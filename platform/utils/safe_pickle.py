"""Restricted unpickling for pickles from outside (the MANO model file, HO-3D meta files).

Only an explicit allow-list of globals may be resolved; anything else (``os.system``, ``builtins.eval``, ...)
raises UnsafePickleError before it can be called, so nothing from a hostile file executes. Python 2 pickles are
read with ``encoding="latin1"`` (numpy arrays pickled by Python 2 hold byte strings).
"""
from __future__ import annotations

import codecs
import copyreg
import io
import pickle
from pathlib import Path
from typing import Any, Callable

import numpy as np

from s2hand.errors import DataError, UnsafePickleError

def _numpy_globals() -> dict[tuple[str, str], Any]:
    """(module, name) -> object. Python 2 spellings are included because a custom find_class sees raw names, and
    numpy arrays may be pickled under numpy.core (numpy 1) or numpy._core (numpy 2)."""
    from numpy._core import multiarray, numeric

    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("copy_reg", "_reconstructor"): copyreg._reconstructor,
        ("copyreg", "_reconstructor"): copyreg._reconstructor,
        ("__builtin__", "object"): object,
        ("builtins", "object"): object,
        # chumpy objects keep sets in their state; building a set runs no code from the file
        ("__builtin__", "set"): set,
        ("builtins", "set"): set,
        ("__builtin__", "frozenset"): frozenset,
        ("builtins", "frozenset"): frozenset,
        # Python 3 writes bytes as _codecs.encode(text, "latin1") at protocols < 3 (no code runs beyond encoding)
        ("_codecs", "encode"): codecs.encode,
    }
    for package in ("numpy.core", "numpy._core"):
        table[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        table[(f"{package}.multiarray", "scalar")] = multiarray.scalar
        table[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return table


Resolver = Callable[[str, str], Any]


class RestrictedUnpickler(pickle.Unpickler):
    """An Unpickler whose find_class consults an allow-list and optional extra resolvers."""

    def __init__(self, file, *, resolvers: tuple[Resolver, ...] = (), source: str = "<pickle>"):
        super().__init__(file, encoding="latin1")
        self._allowed = _numpy_globals()
        self._resolvers = resolvers
        self._source = source

    def find_class(self, module: str, name: str) -> Any:
        found = self._allowed.get((module, name))
        if found is not None:
            return found
        for resolve in self._resolvers:
            found = resolve(module, name)
            if found is not None:
                return found
        raise UnsafePickleError(
            f"{self._source}: refused to load global '{module}.{name}' (not on the allow-list of array types); "
            "nothing from the file was executed"
        )


def scipy_sparse_resolver(module: str, name: str) -> Any:
    """scipy.sparse matrix classes under any of their historical module paths (scipy.sparse.csc, ._csc, ...)."""
    if module.startswith("scipy.sparse") and name in {"csc_matrix", "csr_matrix", "coo_matrix"}:
        import scipy.sparse

        return getattr(scipy.sparse, name)
    return None


def restricted_load(path: str | Path, *, resolvers: tuple[Resolver, ...] = ()) -> Any:
    """Load a pickle file through the allow-list. Errors name the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(f"cannot read {path}: {error.strerror or error}") from error
    try:
        return RestrictedUnpickler(io.BytesIO(data), resolvers=resolvers, source=str(path)).load()
    except UnsafePickleError:
        raise
    except Exception as error:  # truncated or corrupt pickles raise many types
        raise DataError(f"{path}: not a readable pickle ({type(error).__name__}: {error})") from error
