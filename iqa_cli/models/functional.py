"""Pure tensor maths shared by the baselines and the causal model: colour transforms, box means, gradient and Haar
magnitudes, (dis)similarity ratios and smooth stand-ins for ``abs``, ``sqrt`` and ``max(x, 0)``.

Every function is stateless and differentiable; tensors are (N, C, H, W) unless said otherwise. Several are written
as sums of shifted slices or separable convolutions instead of the textbook pooling / convolution call: same values to
float rounding, but much cheaper on CPU, where these small filters dominate the fixed branches' cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GREY = (0.2989, 0.5870, 0.1140)
"""MATLAB ``rgb2gray`` weights (the SSIM reference code's grey)."""

YIQ = ((0.299, 0.587, 0.114), (0.5959, -0.2746, -0.3213), (0.2115, -0.5227, 0.3112))
"""RGB -> YIQ (HaarPSI's colour space); the first row is luminance."""

OPPONENT = (YIQ[0], (0.5, -0.5, 0.0), (0.25, 0.25, -0.5))
"""RGB -> luminance, red-green, yellow-blue."""


def rgb_to_grey255(img: torch.Tensor) -> torch.Tensor:
    """Grey as MATLAB's ``rgb2gray``, on the 0-255 scale: (B, C, H, W) in [0, 1] -> (B, 1, H, W); C = 1 is taken
    as grey already."""
    if img.shape[1] == 1:
        return img * 255.0
    w = img.new_tensor(GREY).view(1, 3, 1, 1)
    return (img * w).sum(dim=1, keepdim=True) * 255.0


def pad_even(x: torch.Tensor) -> torch.Tensor:
    """Replicate one row / column where the size is odd (a 2x2 mean then equals ``avg_pool2d(ceil_mode=True)``)."""
    h, w = x.shape[-2:]
    return F.pad(x, (0, w % 2, 0, h % 2), mode="replicate") if h % 2 or w % 2 else x


def half_mean(x: torch.Tensor) -> torch.Tensor:
    """2x2 means at stride 2, as ``avg_pool2d(x, 2, ceil_mode=True)``: pairs of rows summed, then pairs of columns
    (two strided passes, not three). Where no gradient is recorded, float32 on the CPU: OpenCV's area resize of each
    plane by exactly 1/2 (the same means to float rounding, about three times cheaper)."""
    x = pad_even(x)
    if fast_half_mean_applies(x):
        return _half_mean_cv2(x)
    rows = x[..., ::2, :] + x[..., 1::2, :]
    return 0.25 * (rows[..., ::2] + rows[..., 1::2])


def fast_half_mean_applies(x: torch.Tensor) -> bool:
    """Whether :func:`half_mean` takes OpenCV's path for ``x``: no gradient recorded, float32 on the CPU."""
    return not torch.is_grad_enabled() and x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() >= 2


def _half_mean_cv2(*images: torch.Tensor) -> torch.Tensor:
    """:func:`half_mean` of even-sized float32 CPU tensors of one shape (bar the first axis), concatenated along the
    first axis: ``cv2.resize(INTER_AREA)`` by exactly 1/2 per plane, into one buffer."""
    import cv2
    import numpy as np

    h, w = images[0].shape[-2:]
    planes = [x.detach().contiguous().numpy().reshape(-1, h, w) for x in images]
    out = np.empty((sum(p.shape[0] for p in planes), h // 2, w // 2), np.float32)
    for plane, dst in zip((p for group in planes for p in group), out):
        cv2.resize(plane, (w // 2, h // 2), dst=dst, interpolation=cv2.INTER_AREA)
    lead = sum(x.shape[0] for x in images) if images[0].dim() > 2 else None
    shape = (lead, *images[0].shape[1:-2]) if lead is not None else ()
    return torch.from_numpy(out).view(*shape, h // 2, w // 2)


def half_means(*images: torch.Tensor) -> torch.Tensor:
    """``cat([half_mean(x) for x in images])`` for images of one shape (bar the first axis); on OpenCV's path (see
    :func:`half_mean`) written into one buffer, without the concatenation."""
    padded = [pad_even(x) for x in images]
    if all(fast_half_mean_applies(x) for x in padded) and padded[0].dim() > 2:
        return _half_mean_cv2(*padded)
    out = [half_mean(x) for x in padded]
    return torch.cat(out) if len(out) > 1 else out[0]


def mean_2x2(x: torch.Tensor) -> torch.Tensor:
    """2x2 means at stride 1 (the window's top-left corner at each position), last row / column replicated."""
    p = F.pad(x, (0, 1, 0, 1), mode="replicate")
    return 0.25 * (p[..., :-1, :-1] + p[..., 1:, :-1] + p[..., :-1, 1:] + p[..., 1:, 1:])


def window_sums(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Sums of ``k`` consecutive entries along ``dim`` (length ``n - k + 1``): shifted slices summed by repeated
    doubling (sums 2m long = two sums m long), then the powers of two that make up ``k``."""
    n = x.shape[dim]
    length = n - k + 1
    total: torch.Tensor | None = None
    span, m, offset = x, 1, 0
    while m <= k:
        if k & m:
            part = span.narrow(dim, offset, length)
            total = part if total is None else total + part
            offset += m
        if 2 * m <= k:
            size = span.shape[dim] - m
            span = span.narrow(dim, 0, size) + span.narrow(dim, m, size)
        m *= 2
    assert total is not None
    return total


def box_mean(x: torch.Tensor, k: int) -> torch.Tensor:
    """k x k box mean of every channel, replicated borders: separable :func:`window_sums` (the depthwise
    convolutions' values to float rounding, several times cheaper on CPU for these small windows)."""
    x = F.pad(x, (k // 2,) * 4, mode="replicate")
    return window_sums(window_sums(x, k, -1), k, -2) / float(k * k)


def gradient_magnitude(x: torch.Tensor) -> torch.Tensor:
    """Prewitt gradient magnitude of every channel (filters ``[1, 0, -1] / 3`` across 3-pixel sums along the edge),
    replicated borders: the 3x3 convolutions as separable sums of shifted slices."""
    h, w = x.shape[-2:]
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    tall = p[..., :-2, :] + p[..., 1:-1, :] + p[..., 2:, :]  # 3-pixel sums down each column
    wide = p[..., :, :-2] + p[..., :, 1:-1] + p[..., :, 2:]  # 3-pixel sums along each row
    gx = (tall[..., :, :w] - tall[..., :, 2:]) / 3.0
    gy = (wide[..., :h, :] - wide[..., 2:, :]) / 3.0
    return torch.sqrt(gx * gx + gy * gy + 1e-12)


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
    convolutions with :func:`haar_kernels`, zero-padded and aligned as MATLAB's ``conv2(A, B, 'same')``. Views of
    :func:`haar_magnitude_stack`'s channels."""
    return list(haar_magnitude_stack(lum, scales).split(2, dim=1))


def haar_magnitude_stack(lum: torch.Tensor, scales: int = 3) -> torch.Tensor:
    """:func:`haar_magnitudes` in one tensor (N, 2 * scales, H, W): sizes 2, 4, ... in turn, vertical then horizontal
    difference at each.

    Each filter is a +-1 step in one direction times a box in the other, so a coefficient is the difference of two
    box sums, and the box sums of all sizes come from repeated doubling (a sum 2m wide = two sums m wide): the
    convolutions' values to float rounding (closer to float64), without the large im2col buffer of the 8x8 one.
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
        mags += [vertical, horizontal]
    # 1 / n is a power of two, so multiplying by it rounds exactly as dividing by n
    scale = lum.new_tensor([2.0**-k for k in range(1, scales + 1) for _ in range(2)]).view(1, -1, 1, 1)
    return torch.cat(mags, dim=1).abs() * scale


def similarity(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """``(2ab + c) / (a^2 + b^2 + c)``: 1 where ``a == b`` (SSIM / GMSD / HaarPSI's comparison)."""
    return (2.0 * a * b + c) / (a * a + b * b + c)


def dissimilarity(a: torch.Tensor, b: torch.Tensor, c: float) -> torch.Tensor:
    """``1 - similarity(a, b, c)`` written as ``(a - b)^2 / (a^2 + b^2 + c)``: exactly 0 where ``a == b``."""
    return (a - b).pow(2) / (a * a + b * b + c)


def smooth_abs(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """``sqrt(x^2 + eps^2) - eps``: zero at zero, |x| far from it, finite gradient everywhere (no NaN at x = 0)."""
    return torch.sqrt(x * x + eps * eps) - eps


def smooth_sqrt(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """``sqrt(x + eps^2) - eps`` written as ``x / (sqrt(x + eps^2) + eps)``: exactly 0 at 0, finite gradient."""
    return x / (torch.sqrt(x + eps * eps) + eps)


def soft_floor(x: torch.Tensor, eps: float = 0.05) -> torch.Tensor:
    """Identity above ``eps``, an exponential tail below: positive, monotone, never a zero gradient."""
    tail = eps * torch.exp((x.clamp(max=eps) - eps) / eps)
    return torch.where(x >= eps, x, tail)
