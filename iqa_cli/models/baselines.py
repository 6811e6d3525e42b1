"""Training-free baselines: PSNR, SSIM and MS-SSIM (by torchmetrics, the way the reference code does) and HaarPSI.

The reference implementations (Wang et al.'s MATLAB ``ssim_index.m`` / ``msssim.m``) work on a grey image
(MATLAB's ``rgb2gray`` weights) in the 0-255 range with an 11x11 gaussian window (sigma 1.5), K1 = 0.01, K2 = 0.03.
We follow them so our numbers match the published ones on the TID2013 calibration pairs (tests pin the
tolerance: 0.005 for SSIM, 0.01 for MS-SSIM, 0.01 dB for PSNR). Grey is not rounded to 8 bits, so 16-bit inputs
keep their precision and gradients flow (``iqa attack``).

References:
    Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli. Image quality assessment: from error visibility to
    structural similarity. IEEE TIP 2004.
    Z. Wang, E. P. Simoncelli, A. C. Bovik. Multiscale structural similarity for image quality assessment. 2003.
    R. Reisenhofer, S. Bosse, G. Kutyniok, T. Wiegand. A Haar wavelet-based perceptual similarity index for image
    quality assessment. Signal Processing: Image Communication 2018.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from iqa_cli.models.functional import YIQ, haar_magnitudes, rgb_to_grey255, similarity
from iqa_cli.models.registry import ModelSpec, register


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
        assert isinstance(scores, torch.Tensor)  # a tuple only with return_full_image / return_contrast_sensitivity
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


class HaarPSI(nn.Module):
    """HaarPSI (Reisenhofer et al. 2018) as the authors' reference code computes it, on the 0-255 scale.

    YIQ colour; both images 2x2-averaged and subsampled (viewing distance); Haar wavelet magnitudes of luminance at
    scales 1-2 compared per orientation (``(2ab + C) / (a^2 + b^2 + C)``, C = 30), weighted by the larger
    scale-3 magnitude; I and Q compared after a 2x2 mean; ``logit(weighted mean of sigmoid(4.2 s)) ^ 2``.
    Score in [0, 1], 1 = identical. Grey input (1 channel) uses the luminance terms only.

    Shape: ref, dist (B, C, H, W) in [0, 1], C in {1, 3}, H and W >= 16 -> (B,).
    """

    C, ALPHA, SCALES = 30.0, 4.2, 3
    yiq: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("yiq", torch.tensor(YIQ).view(3, 3, 1, 1), persistent=False)

    def forward(self, ref: torch.Tensor, dist: torch.Tensor) -> torch.Tensor:
        colour = ref.shape[1] == 3
        x = F.conv2d(ref * 255.0, self.yiq) if colour else ref * 255.0
        y = F.conv2d(dist * 255.0, self.yiq) if colour else dist * 255.0
        pad = max(x.shape[2] % 2, x.shape[3] % 2)
        x = F.avg_pool2d(F.pad(x, (0, pad, 0, pad)), 2)
        y = F.avg_pool2d(F.pad(y, (0, pad, 0, pad)), 2)
        both = torch.cat([x[:, :1], y[:, :1]])  # one convolution per scale for the two images
        mags = haar_magnitudes(both, self.SCALES)
        b = ref.shape[0]
        weights = torch.maximum(mags[2][:b], mags[2][b:])  # (B, 2 orientations, H, W)
        sims = [(similarity(mags[0][:b], mags[0][b:], self.C) + similarity(mags[1][:b], mags[1][b:], self.C)) / 2.0]
        if colour:
            iq_x = F.avg_pool2d(F.pad(x[:, 1:], (0, 1, 0, 1)), 2, stride=1).abs()
            iq_y = F.avg_pool2d(F.pad(y[:, 1:], (0, 1, 0, 1)), 2, stride=1).abs()
            weights = torch.cat([weights, weights.mean(dim=1, keepdim=True)], dim=1)
            sims.append(similarity(iq_x, iq_y, self.C).mean(dim=1, keepdim=True))
        sim = torch.cat(sims, dim=1)
        eps = torch.finfo(sim.dtype).eps
        num = (torch.sigmoid(self.ALPHA * sim) * weights).sum(dim=(1, 2, 3)) + eps
        score = num / (weights.sum(dim=(1, 2, 3)) + eps)
        return (torch.log(score / (1.0 - score)) / self.ALPHA) ** 2


def _baseline(
    name: str,
    factory: type[nn.Module],
    description: str,
    scale: tuple[float, float] | None,
    unit: str,
    min_size: int = 1,
) -> None:
    """Register a training-free baseline (higher is better)."""
    spec = ModelSpec(
        name=name,
        description=f"{description} (training-free baseline)",
        higher_is_better=True,
        scale=scale,
        unit=unit,
        factory=factory,
        min_size=min_size,
        tags=("baseline",),
    )
    register(spec)


_SIMILARITY = ((0.0, 1.0), "similarity 0-1")
_baseline("psnr", PSNR, "Peak signal-to-noise ratio on RGB", None, "dB (100 = identical)")
_baseline("ssim", SSIM, "SSIM on grey, as the reference code", *_SIMILARITY, min_size=11)
# torchmetrics needs side // 16 > kernel_size - 1 = 10 for 5 scales, i.e. at least 176 px (not 161)
_baseline("ms-ssim", MSSSIM, "Multi-scale SSIM on grey, 5 scales", *_SIMILARITY, min_size=176)
_baseline("haarpsi", HaarPSI, "HaarPSI, Haar wavelet-based perceptual similarity on YIQ", *_SIMILARITY, min_size=16)
