"""File names and annotation records of the two official layouts the generator writes.

FreiHAND (FACTS §6):
    training/rgb/%08d.jpg, training_{K,mano,xyz,verts,scale}.json
    evaluation/rgb/%08d.jpg, evaluation_{K,scale,xyz,verts,mano}.json   (xyz/verts/mano: the public eval GT)
  xyz/verts: metres, OpenCV camera frame, FreiHAND joint order; K per image; scale = ‖xyz[9] − xyz[10]‖.
  mano: one [[61 numbers]] per image, as FreiHAND stores it: pose 48 = global rotation (3, axis-angle, camera
  frame) + 15 local joint rotations (45, axis-angle, absolute: the hand model's mean pose included, i.e. what
  MANO calls flat_hand_mean=True), shape 10 = β of the hand model that rendered it (the bundled open hand unless
  another model was given), trans 3 = T. This project's convention: vertices = R·M(β, θ) + T with R about the
  model origin (HandModel), not about the root joint as in MANO's own layer.

HO-3D v2 / v3 (FACTS §6): train.txt, evaluation.txt ("SEQ/ffff" lines), {train,evaluation}/SEQ/rgb/ffff.png (v2)
  or .jpg (v3), {train,evaluation}/SEQ/meta/ffff.pkl (pickle protocol 2, numpy only), OpenGL camera frame
  (p_gl = p_cv·diag(1, −1, −1)):
    train meta:      handJoints3D (21, 3) HO-3D order, handPose (48,) = [R_gl rotvec, 45 local absolute],
                     handBeta (10,), handTrans (3,) = T_gl, camMat (3, 3)
    evaluation meta: handJoints3D (3,) root joint only, handBoundingBox (4,) [x0, y0, x1, y1] px of the projected
                     hand, camMat (3, 3)
    evaluation_xyz.json (N, 21, 3) and evaluation_verts.json (N, 778, 3): HO-3D order, OpenGL, the order of
    evaluation.txt — the conventions of the official scorer.
  R_gl = diag(1, −1, −1)·R is itself a rotation (by π about x), so handPose/handTrans reproduce handJoints3D with
  the same hand model: joints_gl = R_gl·J(β, θ) + T_gl.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from scipy.spatial.transform import Rotation
from s2hand.hand.joints import freihand_to_ho3d, opencv_to_opengl
from s2hand.io.atomic import atomic_write

FREIHAND_DIRS = {"train": "training", "evaluation": "evaluation"}
HO3D_DIRS = {"train": "train", "evaluation": "evaluation"}
GL_FLIP = np.diag([1.0, -1.0, -1.0])
META_PROTOCOL = 2  # HO-3D's own meta files are Python 2 era pickles


def freihand_image(root: Path, split: str, index: int) -> Path:
    return root / FREIHAND_DIRS[split] / "rgb" / f"{index:08d}.jpg"


def freihand_key(split: str, index: int) -> str:
    return f"{FREIHAND_DIRS[split]}/rgb/{index:08d}.jpg"


def freihand_mano(pose: np.ndarray, rotation: np.ndarray, betas: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """(N, 1, 61): [global rotvec, 45 absolute local rotvecs, β, T]."""
    return np.concatenate([rotation, pose, betas, translation], axis=1)[:, None, :]


def write_freihand_annotations(root: Path, split: str, K: np.ndarray, joints: np.ndarray, vertices: np.ndarray,
                               mano: np.ndarray) -> list[Path]:
    """All annotation files of one FreiHAND split (joints/vertices rounded to µm first; scale from the rounded
    joints, so the files agree with each other exactly)."""
    name = FREIHAND_DIRS[split]
    joints, vertices = np.round(joints.astype(np.float64), 6), np.round(vertices.astype(np.float64), 6)
    scale = np.linalg.norm(joints[:, 9] - joints[:, 10], axis=-1)
    files = {f"{name}_K.json": (K, 4), f"{name}_xyz.json": (joints, 6), f"{name}_verts.json": (vertices, 6),
             f"{name}_scale.json": (scale, 8), f"{name}_mano.json": (mano, 6)}
    return [write_json(root / file, data, decimals) for file, (data, decimals) in files.items()]


def ho3d_frame(root: Path, split: str, sequence: str, frame: int, version: int) -> tuple[Path, Path]:
    """(image path, meta path) of one HO-3D frame."""
    base = root / HO3D_DIRS[split] / sequence
    return base / "rgb" / f"{frame:04d}.{'png' if version == 2 else 'jpg'}", base / "meta" / f"{frame:04d}.pkl"


def ho3d_sequence_name(split: str, index: int) -> str:
    return f"{'S' if split == 'train' else 'E'}{index:04d}"


def ho3d_meta(split: str, joints_cv: np.ndarray, pose: np.ndarray, rotation: np.ndarray, betas: np.ndarray,
              translation: np.ndarray, K: np.ndarray, hand_box: np.ndarray) -> dict[str, np.ndarray]:
    """One frame's meta dict (camera-frame OpenCV inputs, FreiHAND joint order) in HO-3D's fields and frame."""
    joints_gl = opencv_to_opengl(freihand_to_ho3d(joints_cv.astype(np.float64))).astype(np.float32)
    if split != "train":
        return {"handJoints3D": joints_gl[0].copy(), "handBoundingBox": hand_box.astype(np.float64),
                "camMat": K.astype(np.float64)}
    rotation_gl = Rotation.from_matrix(GL_FLIP @ Rotation.from_rotvec(rotation).as_matrix()).as_rotvec()
    return {
        "handJoints3D": joints_gl,
        "handPose": np.concatenate([rotation_gl, pose]).astype(np.float32),
        "handBeta": betas.astype(np.float32),
        "handTrans": (GL_FLIP @ translation).astype(np.float32),
        "camMat": K.astype(np.float64),
    }


def write_jpeg(path: Path, pixels: np.ndarray, quality: int) -> Path:
    """(H, W, 3) uint8 as JPEG (Pillow's defaults otherwise: 4:2:0, no optimisation pass), encoded in memory, then
    written to a fixed temporary sibling and renamed: an interrupted writer never leaves half an image under
    the final name. No fsync and no random temporary name (each image has one writer; the chunk marker, written
    after, is what makes a chunk count as done)."""
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(buffer.getbuffer())
    os.replace(tmp, path)
    return path


def write_json(path: str | os.PathLike, data: Any, decimals: int | None = None) -> Path:
    """Byte for byte `s2hand.data.jsonio.write_json` (compact, arrays rounded, -0.0 as 0.0, atomic), several
    times faster on the million numbers of a vertex file: float arrays go through `encode_float_array`, the rest
    through one `json.dumps` call (`json.dump` to a file runs the pure-Python encoder)."""
    path = Path(path)
    if isinstance(data, np.ndarray):
        text = _encode(data, decimals)
    elif isinstance(data, dict):
        text = "{" + ",".join(f"{json.dumps(k)}:{_encode(v, decimals)}" for k, v in data.items()) + "}"
    else:
        text = json.dumps(data, separators=(",", ":"))
    with atomic_write(path, "w") as handle:
        handle.write(text)
    return path


def _encode(value: Any, decimals: int | None) -> str:
    if isinstance(value, np.ndarray) and value.dtype.kind == "f" and decimals is not None:
        text = encode_float_array(np.round(value.astype(np.float64), decimals) + 0.0, decimals)
        if text is not None:
            return text
    return json.dumps(_rounded(value, decimals), separators=(",", ":"))


def _rounded(value: Any, decimals: int | None) -> Any:
    if isinstance(value, np.ndarray):
        value = value.astype(np.float64) if value.dtype.kind == "f" else value
        if decimals is not None and value.dtype.kind == "f":
            value = np.round(value, decimals) + 0.0  # + 0.0 turns -0.0 into 0.0: stable bytes
        return value.tolist()
    return value


def encode_float_array(values: np.ndarray, decimals: int) -> str | None:
    """json.dumps(values.tolist(), separators=(",", ":")) for float64 values already rounded to `decimals`
    places (np.round), built with array operations; None where that shortcut does not apply (then use json).

    Why it is exact: such a value v is the double nearest to M/10^d, M = rint(v·10^d) an integer, and for
    |M| < 2^49 no other decimal of at most d places rounds to v, so Python's shortest repr of v has the digits of
    M/10^d without trailing zeros: fixed notation (at least one fractional digit) from 1e-4 up, scientific
    below it (rare in these files: those few go through repr itself).

    How: every number gets a fixed-width row of ASCII (brackets, sign, digits, '.', commas), the characters it
    does not use blanked to spaces (never part of compact JSON), and the rows are joined and the spaces dropped.
    """
    if values.ndim == 0 or values.size == 0 or not 0 <= decimals <= 15:
        return None
    flat = values.reshape(-1)
    scaled = flat * 10.0**decimals
    if not np.isfinite(scaled).all() or np.abs(scaled).max() >= 2.0**49:
        return None
    mantissa = np.rint(scaled).astype(np.int64)
    magnitude = np.abs(mantissa)
    whole, fraction = np.divmod(magnitude, 10**decimals)
    if decimals <= 9:
        fraction = fraction.astype(np.int32)  # faster digit arithmetic
    int_digits = len(str(int(whole.max())))
    frac_digits = max(decimals, 1)
    depth, count = values.ndim, flat.size
    space, digit0 = np.uint8(ord(" ")), np.uint8(ord("0"))
    bracket, close, comma, dash = (np.uint8(ord(c)) for c in "[],-")
    rows = np.empty((count, 2 * depth + 3 + int_digits + frac_digits), dtype=np.uint8)
    col = 0
    # Opening brackets: one per nesting level at whose start the number stands.
    sizes = np.cumprod(values.shape[::-1])[::-1]  # elements per list at each level, outermost first
    position = np.arange(count)
    opens = sum((position % size == 0).astype(np.int8) for size in sizes)
    closes = sum(((position + 1) % size == 0).astype(np.int8) for size in sizes)
    rows[:, col:col + depth] = np.where(np.arange(depth) >= depth - opens[:, None], bracket, space)
    col += depth
    rows[:, col] = np.where(mantissa < 0, dash, space)
    col += 1
    for k in range(int_digits):  # most significant first; leading zeros blanked, the units digit kept
        power = 10 ** (int_digits - 1 - k)
        digit = whole // power % 10 + digit0
        rows[:, col] = digit if k == int_digits - 1 else np.where(whole >= power, digit, space)
        col += 1
    rows[:, col] = ord(".")
    col += 1
    if decimals == 0:
        rows[:, col] = digit0
    else:
        trailing = np.ones(count, dtype=bool)  # still inside the trailing zeros, scanning from the end
        for k in reversed(range(decimals)):
            digit = fraction // 10 ** (decimals - 1 - k) % 10
            if k > 0:
                trailing &= digit == 0
                rows[:, col + k] = np.where(trailing, space, digit + digit0)
            else:
                rows[:, col] = digit + digit0  # the first fractional digit always stays
    col += frac_digits
    # Closing brackets, then a comma unless this is the very last number.
    suffix = np.where(np.arange(depth + 1) < closes[:, None], close, space)
    suffix[np.arange(count), closes] = np.where(closes < depth, comma, space)
    rows[:, col:] = suffix
    small = (magnitude > 0) & (magnitude < 10 ** max(decimals - 4, 0))  # below 1e-4: scientific notation
    if small.any():  # a marker in place of the number, replaced by repr below
        number = slice(depth, depth + 2 + int_digits + frac_digits)
        rows[small, number] = space
        rows[small, depth] = ord("#")
    text = rows.tobytes().translate(None, b" ").decode("ascii")
    if not small.any():
        return text
    pieces = text.split("#")
    numbers = [repr(float(v)) for v in flat[small]]
    return "".join(p + n for p, n in zip(pieces, numbers)) + pieces[-1]


def write_pickle(path: str | os.PathLike, obj: object) -> Path:
    """Protocol-2 pickle via a temporary sibling and a rename (no fsync: the chunk marker, written after, is what
    makes a chunk count as done)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            pickle.dump(obj, handle, protocol=META_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_ho3d_lists(root: Path, split: str, names: list[str]) -> Path:
    with atomic_write(root / f"{HO3D_DIRS[split]}.txt", "w") as handle:
        handle.write("".join(f"{name}\n" for name in names))
    return root / f"{HO3D_DIRS[split]}.txt"


def write_ho3d_evaluation_gt(root: Path, joints_cv: np.ndarray, vertices_cv: np.ndarray) -> list[Path]:
    """evaluation_xyz.json / evaluation_verts.json in the official scorer's conventions (HO-3D order, OpenGL)."""
    joints = opencv_to_opengl(freihand_to_ho3d(joints_cv.astype(np.float64)))
    vertices = opencv_to_opengl(vertices_cv.astype(np.float64))
    return [write_json(root / "evaluation_xyz.json", joints, 6), write_json(root / "evaluation_verts.json", vertices, 6)]
