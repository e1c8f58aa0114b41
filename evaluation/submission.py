"""Benchmark files: CodaLab submissions (``pred.json`` / ``pred.zip``) and the public evaluation ground truth.

``pred.json`` = [xyz_list, verts_list]: N × 21 × 3 joints and N × 778 × 3 vertices in metres, zipped with
``pred.json`` at the archive root. FreiHAND: N = 3,960, FreiHAND joint order, OpenCV camera frame (hand at +z),
order of evaluation/rgb. HO-3D: N = 11,524 (v2) or 20,137 (v3), HO-3D joint order, OpenGL (hand at −z) for joints
AND vertices (the reference code flipped only the joints), order of evaluation.txt. Our models predict FreiHAND
order in the OpenCV frame; ``to_benchmark_frame`` converts, ``export_submission`` converts, validates and writes.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2hand.errors import DataError, S2HandError
from s2hand.hand.joints import freihand_to_ho3d, opencv_to_opengl
from s2hand.io.atomic import atomic_write as _atomic_file

PRED_JSON = "pred.json"
GT_XYZ, GT_VERTS = "evaluation_xyz.json", "evaluation_verts.json"
NUM_JOINTS, NUM_VERTS = 21, 778
SPAN_RANGE_M = (0.05, 0.40)  # plausible hand span (max joint-to-joint distance); outside it: wrong units


@dataclass(frozen=True)
class Benchmark:
    name: str
    count: int  # samples in the evaluation split
    convention: str  # camera convention: "opencv" (hand at +z) or "opengl" (hand at −z)
    joint_order: str  # "freihand" or "ho3d"


BENCHMARKS = {
    "freihand": Benchmark("freihand", 3960, "opencv", "freihand"),
    "ho3d-v2": Benchmark("ho3d-v2", 11524, "opengl", "ho3d"),
    "ho3d-v3": Benchmark("ho3d-v3", 20137, "opengl", "ho3d"),
}


@dataclass(frozen=True)
class SubmissionReport:
    """What a valid submission holds: sample count, hand-span range (m), mean depth range of the joints (m)."""

    benchmark: str
    count: int
    span_m: tuple[float, float]
    depth_m: tuple[float, float]


def get_benchmark(name: str) -> Benchmark:
    if name not in BENCHMARKS:
        raise S2HandError(f"unknown benchmark {name!r}: expected one of {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]


def to_benchmark_frame(xyz: np.ndarray, verts: np.ndarray, benchmark: str) -> tuple[np.ndarray, np.ndarray]:
    """Our predictions (FreiHAND order, OpenCV frame, metres) -> the benchmark's joint order and convention."""
    spec = get_benchmark(benchmark)
    xyz, verts = np.asarray(xyz, dtype=np.float64), np.asarray(verts, dtype=np.float64)
    if spec.joint_order == "ho3d":
        xyz = freihand_to_ho3d(xyz)
    if spec.convention == "opengl":
        xyz, verts = opencv_to_opengl(xyz), opencv_to_opengl(verts)
    return xyz, verts


def validate_submission(
    xyz: np.ndarray, verts: np.ndarray, benchmark: str, count: int | None = None, source: str = "submission"
) -> SubmissionReport:
    """Refuse, with the first offending sample's index, anything the benchmark server would misread.

    Checks, in order: sample count (the split's, or ``count`` for other data), shapes, NaN/inf, units (hand span
    outside 5-40 cm: not metres), and the camera convention of joints and of vertices (sign of the mean depth).
    """
    spec = get_benchmark(benchmark)
    xyz, verts = np.asarray(xyz, dtype=np.float64), np.asarray(verts, dtype=np.float64)
    expected = spec.count if count is None else count
    if len(xyz) != len(verts):
        raise DataError(f"{source}: {len(xyz)} joint sets but {len(verts)} vertex sets")
    if len(xyz) != expected:
        hint = "" if count is not None else " (pass the expected count, e.g. --count N, for other data)"
        raise DataError(f"{source}: {len(xyz)} samples, {spec.name} expects {expected}{hint}")
    for name, array, points in (("joints", xyz, NUM_JOINTS), ("vertices", verts, NUM_VERTS)):
        if array.ndim != 3 or array.shape[1:] != (points, 3):
            raise DataError(f"{source}: sample 0: {name} of shape {array.shape[1:]}, expected ({points}, 3)")
        bad = ~np.isfinite(array).all(axis=(1, 2))
        if bad.any():
            raise DataError(f"{source}: sample {int(bad.argmax())}: {name} contain NaN or inf")
    span = np.linalg.norm(xyz[:, :, None] - xyz[:, None], axis=-1).max(axis=(1, 2))
    extent = np.linalg.norm(verts.max(1) - verts.min(1), axis=-1)  # bounding-box diagonal, >= span, <= √3 span
    low, high = SPAN_RANGE_M
    for name, size, upper in (("hand span", span, high), ("vertex extent", extent, high * np.sqrt(3))):
        bad = (size < low) | (size > upper)
        if bad.any():
            i = int(bad.argmax())
            raise DataError(
                f"{source}: sample {i}: {name} {size[i] * 100:.1f} cm is outside {low * 100:.0f}-{upper * 100:.0f} cm:"
                " coordinates must be in metres"
            )
    sign, where = (1.0, "+z (OpenCV)") if spec.convention == "opencv" else (-1.0, "−z (OpenGL)")
    for name, array in (("joints", xyz), ("vertices", verts)):
        depth = array[..., 2].mean(1)
        bad = depth * sign <= 0
        if bad.any():
            i = int(bad.argmax())
            raise DataError(
                f"{source}: sample {i}: {name} at mean z = {depth[i]:+.3f} m; {spec.name} expects the hand at {where}"
                + (" for joints AND vertices" if spec.convention == "opengl" else "")
            )
    depth = xyz[..., 2].mean(1)
    return SubmissionReport(spec.name, len(xyz), (float(span.min()), float(span.max())),
                            (float(depth.min()), float(depth.max())))


def write_submission(path: str | Path, xyz: np.ndarray, verts: np.ndarray, decimals: int | None = 6) -> Path:
    """Write [xyz_list, verts_list] as ``pred.json`` or as a zip with ``pred.json`` at its root (by the suffix).

    Values are rounded to ``decimals`` places (6: 1 µm, far below any threshold; None keeps full precision), which
    keeps the file about three times smaller. Atomic: a temporary file in the same folder, then a rename.
    """
    path = Path(path)
    if path.suffix not in (".zip", ".json"):
        raise S2HandError(f"{path}: a submission is written as .zip or .json")
    payload = [
        (np.round(a, decimals) if decimals is not None else np.asarray(a, dtype=np.float64)).tolist()
        for a in (np.asarray(xyz, dtype=np.float64), np.asarray(verts, dtype=np.float64))
    ]
    data = json.dumps(payload, separators=(",", ":")).encode()
    if path.suffix == ".json":
        atomic_write(path, lambda f: f.write(data))
    else:
        atomic_write(path, lambda f: _zip_into(f, data))
    return path


def _zip_into(file, data: bytes) -> None:
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(PRED_JSON, data)


def atomic_write(path: str | Path, write) -> None:
    """Call ``write(binary_file)`` on a temporary file next to ``path``, then rename it to ``path``."""
    with _atomic_file(path, "wb") as handle:
        write(handle)


def export_submission(
    path: str | Path, xyz: np.ndarray, verts: np.ndarray, benchmark: str, count: int | None = None
) -> SubmissionReport:
    """Our predictions (FreiHAND order, OpenCV, metres) -> validated submission file for ``benchmark``."""
    xyz, verts = to_benchmark_frame(xyz, verts, benchmark)
    report = validate_submission(xyz, verts, benchmark, count, source=str(path))
    write_submission(path, xyz, verts)
    return report


def read_submission(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``pred.json`` or a zip holding it at its root -> joints (N, 21, 3), vertices (N, 778, 3), float64."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix == ".zip" or zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                if PRED_JSON not in names:
                    nested = [n for n in names if n.endswith("/" + PRED_JSON)]
                    where = f" (found {nested[0]}: it must be at the root)" if nested else ""
                    raise DataError(f"{path}: no {PRED_JSON} at the archive root{where}")
                text = archive.read(PRED_JSON)
        except zipfile.BadZipFile as error:
            raise DataError(f"{path}: not a valid zip archive ({error})") from None
        source = f"{path}:{PRED_JSON}"
    else:
        text, source = path.read_bytes(), str(path)
    content = _parse_json(text, source)
    if not (isinstance(content, list) and len(content) == 2):
        raise DataError(f"{source}: expected [xyz_list, verts_list]")
    xyz, verts = content
    if not isinstance(xyz, list) or not isinstance(verts, list) or len(xyz) != len(verts):
        sizes = [len(x) if isinstance(x, list) else type(x).__name__ for x in content]
        raise DataError(f"{source}: xyz_list and verts_list must be lists of equal length, got {sizes}")
    return _points(xyz, NUM_JOINTS, "joints", source), _points(verts, NUM_VERTS, "vertices", source)


def read_ground_truth(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``evaluation_xyz.json`` and ``evaluation_verts.json`` of ``folder`` -> (N, 21, 3), (N, 778, 3) float64."""
    folder = Path(folder)
    arrays = []
    for name, points, what in ((GT_XYZ, NUM_JOINTS, "joints"), (GT_VERTS, NUM_VERTS, "vertices")):
        file = folder / name
        if not file.is_file():
            raise DataError(f"{file}: ground-truth file not found")
        content = _parse_json(file.read_bytes(), str(file))
        if not isinstance(content, list):
            raise DataError(f"{file}: expected a list of samples")
        arrays.append(_points(content, points, what, str(file)))
    if len(arrays[0]) != len(arrays[1]):
        raise DataError(f"{folder / GT_XYZ} holds {len(arrays[0])} samples but {folder / GT_VERTS} {len(arrays[1])}")
    return arrays[0], arrays[1]


def _parse_json(text: bytes, source: str):
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"{source}: corrupt JSON ({error})") from None


def _points(samples: list, points: int, what: str, source: str) -> np.ndarray:
    """List of samples -> (N, points, 3) float64; DataError naming the first sample of another shape."""
    try:
        array = np.asarray(samples, dtype=np.float64)
        if array.ndim == 3 and array.shape[1:] == (points, 3):
            return array
    except (ValueError, TypeError):
        pass  # ragged or not numeric: find the culprit below
    for i, sample in enumerate(samples):
        try:
            shape = np.asarray(sample, dtype=np.float64).shape
        except (ValueError, TypeError):
            raise DataError(f"{source}: sample {i}: {what} are not a {points}×3 list of numbers") from None
        if shape != (points, 3):
            raise DataError(f"{source}: sample {i}: {what} of shape {shape}, expected ({points}, 3)")
    raise DataError(f"{source}: expected a list of samples of {points}×3 {what}")  # e.g. an empty list
