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


YIQ = ((0.299, 0.587, 0.114), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))


def haar_kernels(scales: int = 3) -> list[torch.Tensor]:
    """HaarPSI's Haar filters at sizes 2, 4, ..., 2**scales: each (2, 1, n, n), vertical then horizontal
    difference, entries +-1/n as in the reference code."""
    kernels = []
    for k in range(1, scales + 1):
        n = 2**k
        h = torch.full((n, n), 1.0 / n)
        h[: n // 2] *= -1.0
        kernels.append(torch.stack([h, h.t()]).unsqueeze(1))
    return kernels


def haar_magnitudes(lum: torch.Tensor, scales: int = 3) -> list[torch.Tensor]:
    """|Haar coefficients| (N, 2, H, W) of a 1-channel image (N, 1, H, W) at sizes 2, 4, ..., 2**scales: the
    convolutions with :func:`haar_kernels`, zero-padded and aligned as MATLAB's ``conv2(A, B, 'same')``.

    Each filter is a +-1 step in one direction times a box in the other, so a coefficient is the difference of two
    box sums, and the box sums of all sizes come from repeated doubling (a sum 2m wide = two sums m wide). Same
    values as the convolutions to float rounding (closer to float64), several times faster on CPU, where the 8x8
    convolution went through a large im2col buffer.
    """
    big = 2**scales
    h, w = lum.shape[-2:]
    p = F.pad(lum, (big // 2 - 1, big // 2) * 2)  # the largest filter's padding; smaller ones use a window of it
    wide, tall = [p], [p]  # box sums 1, 2, 4, ... wide (along x) and tall (along y)
    for k in range(scales):
        m = 2**k
        wide.append(wide[-1][..., :, :-m] + wide[-1][..., :, m:])
        tall.append(tall[-1][..., :-m, :] + tall[-1][..., m:, :])
    mags = []
    for k in range(1, scales + 1):
        n, top = 2**k, big // 2 - 2 ** (k - 1)  # filter size, offset of its padded window in p
        rows = wide[k][..., top : top + h + n - 1, top : top + w]  # n wide, to be summed n/2 tall
        cols = tall[k][..., top : top + h, top : top + w + n - 1]  # n tall, to be summed n/2 wide
        for j in range(k - 1):
            m = 2**j
            rows = rows[..., :-m, :] + rows[..., m:, :]
            cols = cols[..., :, :-m] + cols[..., :, m:]
        half = n // 2
        vertical = rows[..., half : half + h, :] - rows[..., :h, :]  # lower half minus upper half
        horizontal = cols[..., :, half : half + w] - cols[..., :, :w]  # right half minus left half
        mags.append(torch.cat([vertical, horizontal], dim=1).abs() / n)
    return mags


class HaarPSI(nn.Module):
    """HaarPSI (Reisenhofer et al. 2018) as the authors' reference code computes it, on the 0-255 scale.

    YIQ colour; both images 2x2-averaged and subsampled (viewing distance); Haar wavelet magnitudes of luminance at
    scales 1-2 compared per orientation (``(2ab + C) / (a^2 + b^2 + C)``, C = 30), weighted by the larger
    scale-3 magnitude; I and Q compared after a 2x2 mean; ``logit(weighted mean of sigmoid(4.2 s)) ^ 2``.
    Score in [0, 1], 1 = identical. Grey input (1 channel) uses the luminance terms only.

    Shape: ref, dist (B, C, H, W) in [0, 1], C in {1, 3}, H and W >= 16 -> (B,).
    """

    C, ALPHA, SCALES = 30.0, 4.2, 3

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("yiq", torch.tensor(YIQ).view(3, 3, 1, 1), persistent=False)

    def _sim(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (2.0 * a * b + self.C) / (a * a + b * b + self.C)

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
        sims = [(self._sim(mags[0][:b], mags[0][b:]) + self._sim(mags[1][:b], mags[1][b:])) / 2.0]
        if colour:
            iq_x = F.avg_pool2d(F.pad(x[:, 1:], (0, 1, 0, 1)), 2, stride=1).abs()
            iq_y = F.avg_pool2d(F.pad(y[:, 1:], (0, 1, 0, 1)), 2, stride=1).abs()
            weights = torch.cat([weights, weights.mean(dim=1, keepdim=True)], dim=1)
            sims.append(self._sim(iq_x, iq_y).mean(dim=1, keepdim=True))
        sim = torch.cat(sims, dim=1)
        eps = torch.finfo(sim.dtype).eps
        num = (torch.sigmoid(self.ALPHA * sim) * weights).sum(dim=(1, 2, 3)) + eps
        score = num / (weights.sum(dim=(1, 2, 3)) + eps)
        return (torch.log(score / (1.0 - score)) / self.ALPHA) ** 2


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
register(
    ModelSpec(
        name="haarpsi",
        description="HaarPSI, Haar wavelet-based perceptual similarity on YIQ (training-free baseline)",
        higher_is_better=True,
        scale=(0.0, 1.0),
        unit="similarity 0-1",
        factory=HaarPSI,
        min_size=16,
        tags=("baseline",),
    )
)
