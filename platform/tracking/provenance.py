"""Where a run came from: code (git commit), data (fingerprint), hand model and library versions, as MLflow tags.

Everything here is best effort and cheap enough for the driver to run once per run; a missing git or model file
gives "unknown" rather than an error, because provenance must never stop training.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from s2hand import __version__
from s2hand.config.spec import DataSpec, ExperimentSpec, HandSpec

UNKNOWN = "unknown"
# Annotation files are hashed by content; images only by name and size (hashing 100k images takes minutes).
CONTENT_SUFFIXES = frozenset({".json", ".txt", ".pkl", ".npy", ".npz", ".csv", ".yaml", ".yml", ".mat"})
CONTENT_MAX_BYTES = 64 * 2**20
VERSIONED_PACKAGES = ("torch", "mlflow", "ray", "numpy")


def git_commit(path: str | os.PathLike | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git checkout holding ``path`` (default: the s2hand source), or (None, None)."""
    where = str(path or Path(__file__).resolve().parent)
    commit = _git(where, "rev-parse", "HEAD")
    if commit is None:
        return None, None
    # --no-optional-locks: read-only, so it never takes index.lock from under someone working in the tree.
    status = _git(where, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    return commit, (bool(status) if status is not None else None)


def dataset_fingerprint(data: DataSpec) -> str:
    """A short digest identifying the dataset on disk: layout, every file's relative path and size, the content
    of annotation files (<= 64 MiB) and of the detections file. Embedded synthetic data is named, not read."""
    if data.root is None:
        return f"embedded:{data.layout}@s2hand-{__version__}"
    digest = hashlib.sha256(data.layout.encode())
    files = _hash_tree(digest, Path(data.root))
    if data.detections is not None:
        files += _hash_tree(digest, Path(data.detections))
    return f"sha256:{digest.hexdigest()[:16]} ({files} files)"


def hand_model_name(hand: HandSpec) -> str:
    """'open-v1' for the bundled open hand, else '<file name>@sha256:<digest>' of the converted MANO npz."""
    from s2hand.errors import DataError
    from s2hand.hand.model_files import OPEN_HAND, OPEN_HAND_VERSION, resolve_model_file

    if str(hand.model) == OPEN_HAND:
        return f"open-{OPEN_HAND_VERSION}"
    try:
        path = resolve_model_file(hand.model)
    except DataError:
        return f"{hand.model} (not found)"
    return f"{path.name}@sha256:{_file_sha256(path)[:12]}"


def versions() -> dict[str, str]:
    """Versions of s2hand, Python and the libraries a result depends on (read from metadata, nothing imported)."""
    found = {"s2hand": __version__, "python": ".".join(map(str, sys.version_info[:3]))}
    for name in VERSIONED_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = UNKNOWN
    return found


def provenance_tags(spec: ExperimentSpec) -> dict[str, str]:
    """The run tags: stage, variant, dataset, hand model, git commit and versions (all strings)."""
    commit, dirty = git_commit()
    tags = {
        "stage": spec.stage,
        "variant": spec.model.variant,
        "dataset": spec.data.layout,
        "dataset_fingerprint": dataset_fingerprint(spec.data),
        "hand_model": hand_model_name(spec.hand),
        "git_commit": commit or UNKNOWN,
        "git_dirty": UNKNOWN if dirty is None else str(dirty).lower(),
    }
    if commit:
        tags["mlflow.source.git.commit"] = commit  # the MLflow UI shows this one on the run page
    tags.update({f"{name}_version": value for name, value in versions().items()})
    return tags


def _git(cwd: str, *args: str) -> str | None:
    try:
        result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def _hash_tree(digest: "hashlib._Hash", root: Path) -> int:
    if root.is_file():
        _hash_file_entry(digest, root, root.name)
        return 1
    count = 0
    for directory, subdirs, names in os.walk(root, followlinks=True):  # datasets are often symlinked in
        subdirs.sort()
        for name in sorted(names):
            path = Path(directory, name)
            _hash_file_entry(digest, path, path.relative_to(root).as_posix())
            count += 1
    return count


def _hash_file_entry(digest: "hashlib._Hash", path: Path, name: str) -> None:
    try:
        size = path.stat().st_size
    except OSError:  # a dangling link: its name still counts
        size = -1
    digest.update(f"{name}\0{size}\n".encode())
    if path.suffix.lower() in CONTENT_SUFFIXES and 0 <= size <= CONTENT_MAX_BYTES:
        digest.update(_file_sha256(path).encode())


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(2**20):
                digest.update(chunk)
    except OSError:
        return UNKNOWN
    return digest.hexdigest()


__all__ = ["git_commit", "dataset_fingerprint", "hand_model_name", "versions", "provenance_tags"]
