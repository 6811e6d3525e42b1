"""A small learned denoiser standing in for the DnCNN with which KADID-10k made its "denoise" type (15).

KADID added white noise and removed it with a DnCNN (Zhang et al. 2017). OpenCV's non-local means, the obvious
stand-in, leaves images about 4-5 dB below what a DnCNN reaches at the same noise (bench/RESULTS.md, "Type 15
(denoise)"), so type-15 images re-created with it are far more degraded than the ones people rated. This is a
DnCNN of our own, smaller (7 layers, 32 channels, residual), trained here on the training split of the pristine
images (``python -m iqa_cli.train.denoiser``; Kodak is never used) for blind colour denoising of 8-bit images with
noise sigma up to 100.

Shape: (B, 3, H, W) noisy in [0, 1] -> (B, 3, H, W) denoised (not clipped).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    from pathlib import Path

WEIGHTS = "kadid-denoiser.safetensors"
NAME = "kadid-denoiser"


class SmallDnCNN(nn.Module):
    """DnCNN without batch normalisation: ``depth`` 3x3 convolutions, ReLUs between, predicting the noise."""

    def __init__(self, depth: int = 7, width: int = 32) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, width, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(width, 3, 3, padding=1))
        self.net = nn.Sequential(*layers)
        self.depth, self.width = depth, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.net(x)


@lru_cache(maxsize=1)
def load_denoiser(path: Path | None = None) -> SmallDnCNN:
    """The shipped denoiser (strict, hash-checked against ``manifest.json``), or the file at ``path``."""
    from iqa_cli.weights import load_state_strict, read_weights, shipped_path

    if path is None:
        shipped, expected = shipped_path(WEIGHTS)
        tensors, meta = read_weights(shipped, expected_sha256=expected)
    else:
        tensors, meta = read_weights(path)
    arch = meta.get("config") or {}
    model = SmallDnCNN(int(arch.get("depth", 7)), int(arch.get("width", 32)))
    load_state_strict(model, tensors, str(path or WEIGHTS))
    return model.eval()


@torch.inference_mode()
def denoise(img: np.ndarray, model: SmallDnCNN | None = None) -> np.ndarray:
    """Denoise an ``(H, W, 3)`` float image in [0, 1] on the CPU, the whole image in one pass; returns float32
    clipped to [0, 1]."""
    model = model or load_denoiser()
    x = torch.from_numpy(np.ascontiguousarray(img, dtype=np.float32)).permute(2, 0, 1)[None]
    out = model(x)[0].permute(1, 2, 0).clamp(0.0, 1.0)
    return out.numpy().astype(np.float32)
