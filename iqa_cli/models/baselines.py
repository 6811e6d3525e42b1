"""Training-free baselines: PSNR, SSIM and MS-SSIM, computed by torchmetrics the way the reference code does.

The reference implementations (Wang et al.'s MATLAB ``ssim_index.m`` / ``msssim.m``) work on a grey image
(MATLAB's ``rgb2gray`` weights) in the 0-255 range with an 11x11 gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03.
We follow them so our numbers match the published ones on the TID2013 calibration pairs (tests pin the
tolerance: 0.005 for SSIM, 0.01 for MS-SSIM, 0.01 dB for PSNR). Grey is not rounded to 8 bits, so 16-bit inputs
keep their precision and gradients flow (``iqa attack``).

References:
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli. Image quality assessment: from error visibility to
    structural similarity. IEEE TIP 2004.
    Z. Wang, E. P. Simoncelli, A. C. Bovik. Multiscale structural similarity for image quality assessment. 2003.
"""

from __future__ import annotations

import torch
from torch import nn

from iqa_cli.models.registry import ModelSpec, register

_GREY_WEIGHTS = (0.2989, 0.5870, 0.1140)


def rgb_to_grey255(img: torch.Tensor) -> torch.Tensor:
    """Grey as MATLAB's ``rgb2gray``, on the 0-255 scale.

    Args:
        img: (B, C, H, W) in [0, 1]; C = 1 is taken as grey already.

    Returns:
        (B, 1, H, W) grey on the 0-255 scale.
    """
    if img.shape[1] == 1:
        return img * 255.0
    w = img.new_tensor(_GREY_WEIGHTS).view(1, 3, 1, 1)
    return (img * w).sum(dim=1, keepdim=True) * 255.0


class PSNR(nn.Module):
    """Peak signal-to-noise ratio on RGB in [0, 1] (dB; identical images are capped at 100 dB)."""

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        mse = ((ref - dist) ** 2).flatten(1).mean(dim=1)
        return (10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))).clamp(max=100.0)


class SSIM(nn.Module):
    """SSIM on grey, as the reference code (score in [0, 1], 1 = identical)."""

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        from torchmetrics.functional.image import structural_similarity_index_measure as ssim

        r, d = rgb_to_grey255(ref), rgb_to_grey255(dist)
        scores = ssim(d, r, gaussian_kernel=True, sigma=1.5, kernel_size=11, data_range=255.0, reduction="none")
        return scores.reshape(-1)


class MSSSIM(nn.Module):
    """Multi-scale SSIM on grey, five scales with the published weights (score in [0, 1], 1 = identical)."""

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as msssim

        r, d = rgb_to_grey255(ref), rgb_to_grey255(dist)
        scores = msssim(
            d,
            r,
            gaussian_kernel=True,
            sigma=1.5,
            kernel_size=11,
            data_range=255.0,
            reduction="none",
            normalize=None,
        )
        return scores.reshape(-1)


register(
    ModelSpec(
        name="psnr",
        description="Peak signal-to-noise ratio on RGB (training-free baseline)",
        higher_is_better=True,
        scale=None,
        unit="dB (100 = identical)",
        factory=PSNR,
        tags=("baseline",),
    )
)
register(
    ModelSpec(
        name="ssim",
        description="SSIM on grey, as the reference code (training-free baseline)",
        higher_is_better=True,
        scale=(0.0, 1.0),
        unit="similarity 0-1",
        factory=SSIM,
        min_size=11,
        tags=("baseline",),
    )
)
register(
    ModelSpec(
        name="ms-ssim",
        description="Multi-scale SSIM on grey, 5 scales (training-free baseline)",
        higher_is_better=True,
        scale=(0.0, 1.0),
        unit="similarity 0-1",
        factory=MSSSIM,
        # torchmetrics needs side // 16 > kernel_size - 1 = 10 for 5 scales, i.e. at least 176 px (not 161)
        min_size=176,
        tags=("baseline",),
    )
)
