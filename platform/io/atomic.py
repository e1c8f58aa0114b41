"""Atomic file writes: a temporary file in the target directory, then rename, so readers never see half a file."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


def _plain_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", *, durable: bool = True, **kwargs) -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on success rename it over ``path``, else remove it.

    durable: fsync before the rename (checkpoints, indexes); bulk outputs such as images may skip it for speed —
    a crash can then lose the file but never leave half of it under its name.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, **kwargs) as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, _plain_file_mode())  # mkstemp makes it private; give it a plain new file's permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
