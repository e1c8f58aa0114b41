"""Image files: decode with errors that name the file and sample index, encode JPEG/PNG atomically and fast."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from s2hand.errors import DataError
from s2hand.io.atomic import atomic_write

JPEG_QUALITY = 90


def _where(path: Path, index: int | None) -> str:
    return f"{path} (sample {index})" if index is not None else str(path)


def read_image(path: str | os.PathLike, index: int | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB. A missing, truncated or undecodable file raises DataError naming it and the index."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            image.load()  # PIL decodes lazily: force it here so truncation surfaces now, not in a worker later
            rgb = image.convert("RGB")
    except FileNotFoundError:
        raise DataError(f"missing image {_where(path, index)}") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"corrupt image {_where(path, index)}: {error}") from error
    return np.array(rgb)  # writable, so torch can take it without a copy warning


def image_size(path: str | os.PathLike, index: int | None = None) -> tuple[int, int]:
    """(width, height) from the header only."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            return image.size
    except FileNotFoundError:
        raise DataError(f"missing image {_where(path, index)}") from None
    except (UnidentifiedImageError, OSError) as error:
        raise DataError(f"corrupt image {_where(path, index)}: {error}") from error


def write_image(path: str | os.PathLike, pixels: np.ndarray, quality: int = JPEG_QUALITY) -> Path:
    """Write (H, W, 3) uint8 as JPEG (.jpg/.jpeg) or PNG (.png) through a temporary sibling and a rename, so an
    interrupted writer never leaves half an image under the final name. No fsync: a lost image is regenerated
    on resume (the chunk marker is written only after its images)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".jpg", ".jpeg"):
        options = {"format": "JPEG", "quality": quality}
    elif suffix == ".png":
        options = {"format": "PNG", "compress_level": 1}
    else:
        raise ValueError(f"unsupported image suffix {suffix!r} for {path}")
    with atomic_write(path, "wb", durable=False) as handle:
        Image.fromarray(np.ascontiguousarray(pixels)).save(handle, **options)
    return path
