"""Quality-map rendering: a heatmap of where quality was lost, blended over the distorted image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from iqa_cli.io import read_image, to_rgb, write_image


def heatmap_overlay(quality_map: np.ndarray, dist_rgb: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Blend a colour-mapped (inferno) map over the distorted image; the map is scaled by its 99th percentile."""
    m = np.asarray(quality_map, dtype=np.float32)
    hi = float(np.percentile(m, 99)) if m.size else 0.0
    norm = np.clip(m / hi, 0.0, 1.0) if hi > 0 else np.zeros_like(m)
    colour = cv2.applyColorMap((norm * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0
    if colour.shape[:2] != dist_rgb.shape[:2]:
        colour = cv2.resize(colour, (dist_rgb.shape[1], dist_rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
    return np.clip((1 - alpha) * dist_rgb + alpha * colour, 0.0, 1.0)


def save_heatmap(path: str | Path, quality_map: np.ndarray, dist_path: str | Path) -> None:
    """Write the heatmap PNG over the distorted image at ``path``."""
    dist = to_rgb(read_image(dist_path).pixels)
    write_image(path, heatmap_overlay(quality_map, dist), bit_depth=8)
