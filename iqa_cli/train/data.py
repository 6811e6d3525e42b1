"""Loading pristine training images (the fixed split: Kodak24 held out, BSDS500 + Urban100 for training)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from iqa_cli.errors import TrainingError


def load_rgb_uint8(path: Path, max_side: int | None = None) -> np.ndarray:
    """Read an 8-bit image as RGB uint8, optionally shrunk so its longer side is at most ``max_side``."""
    buf = np.fromfile(str(path), dtype=np.uint8)
    img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if img is None:
        raise TrainingError(f"cannot read training image {path}")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if max_side is not None and max(img.shape[:2]) > max_side:
        f = max_side / max(img.shape[:2])
        img = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
    return img


def load_images(paths: list[Path], max_side: int | None = None) -> list[np.ndarray]:
    """Read many images (RGB uint8)."""
    return [load_rgb_uint8(p, max_side) for p in paths]
