"""Loading pristine training images (the fixed split: Kodak24 held out, BSDS500 + Urban100 for training)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from iqa_cli.errors import ImageError, TrainingError
from iqa_cli.io import downsize_to, read_image, to_rgb


def load_rgb_uint8(path: Path, max_side: int | None = None) -> np.ndarray:
    """Read an 8-bit image as RGB uint8, optionally shrunk so its longer side is at most ``max_side``.

    The shrink runs on the 8-bit levels (as the shipped weights were trained); a 16-bit file is rounded to 8 bits.
    """
    try:
        pixels = to_rgb(read_image(path).pixels)
    except ImageError as exc:
        raise TrainingError(f"cannot read training image {path}: {exc}") from exc
    img = np.rint(pixels * np.float32(255.0)).astype(np.uint8)
    return img if max_side is None else downsize_to(img, max_side)


def load_images(paths: list[Path], max_side: int | None = None) -> list[np.ndarray]:
    """Read many images (RGB uint8)."""
    return [load_rgb_uint8(p, max_side) for p in paths]
