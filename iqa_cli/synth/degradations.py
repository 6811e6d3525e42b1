"""Parametric degradations: each takes its physical parameter (a sigma, a quality, a density, ...).

The strength registry (:mod:`iqa_cli.synth.distortions`) and the KADID re-creation (:mod:`iqa_cli.synth.kadid`)
both map their own scale onto these. Images are ``(H, W, C)`` float32 in [0, 1]; results are not clipped (the
callers clip). All randomness comes from the ``numpy.random.Generator`` passed in.

JPEG 2000 uses OpenCV's OpenJPEG encoder (``cv2.imencode('.jp2')``), so it needs an OpenCV built with JPEG 2000
support.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from scipy.interpolate import CubicSpline  # type: ignore[import-untyped]

from iqa_cli.errors import ImageError
from iqa_cli.synth.kernels import gaussian_blur, gaussian_kernel1d, hsv_to_rgb, luma, remap, rgb_to_hsv, to_u8

_JP2_HEADER_BYTES = 250.0  # size of an OpenCV/OpenJPEG .jp2 file with (almost) no coded data


def saturation(img: np.ndarray, multiplier: float) -> np.ndarray:
    """Multiply HSV saturation; S is capped at 1 but a negative product is kept (complementary hue)."""
    hsv = rgb_to_hsv(img)
    hsv[..., 1] = np.minimum(hsv[..., 1] * multiplier, 1.0)
    return hsv_to_rgb(hsv)


def colour_shift(img: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Shift green by ``amount`` px towards a random first-quadrant direction, blended by an edge map."""
    theta = rng.uniform(0.0, math.pi / 2.0)
    dx, dy = amount * math.cos(theta), amount * math.sin(theta)
    h, w, _ = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    shifted = remap(img[..., 1:2], yy - dy, xx - dx, order=1)[..., 0]
    grey = luma(img)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    edges = gaussian_blur(np.sqrt(gx**2 + gy**2)[..., None], 4.0)[..., 0]
    lo, hi = np.percentile(edges, [1.0, 99.0])
    edges = (edges - lo) / (hi - lo) if hi > lo else np.ones_like(edges)
    edges = np.clip(edges, 0.1, 1.0)
    out = img.copy()
    out[..., 1] = edges * shifted + (1.0 - edges) * img[..., 1]
    return out


def _parabola(x: np.ndarray, a: float) -> np.ndarray:
    """Parabola through (0,0), (0.5, 0.5 + a/2), (1,1), clipped to [0, 1]."""
    return np.clip((1.0 + 2.0 * a) * x - 2.0 * a * x * x, 0.0, 1.0)


def brighten(img: np.ndarray, a: float) -> np.ndarray:
    """KADID brighten/darken: ``(2 * curve(RGB) + lab2rgb(curve(L))) / 3``; ``a < 0`` darkens."""
    rgb = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
    lab = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)
    lab[..., 0] = _parabola(lab[..., 0] / 100.0, a) * 100.0
    via_lab = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)
    if img.shape[2] == 1:
        via_lab = via_lab.mean(axis=2, keepdims=True)
    return (2.0 * _parabola(img, a) + via_lab) / 3.0


def contrast(img: np.ndarray, c: float) -> np.ndarray:
    """Not-a-knot cubic spline through (0,0),(0.3,0.3-c),(0.5,0.5),(0.7,0.7+c),(1,1); c=0 is identity."""
    spline = CubicSpline([0.0, 0.3, 0.5, 0.7, 1.0], [0.0, 0.3 - c, 0.5, 0.7 + c, 1.0])
    return spline(img).astype(np.float32)


def jitter(img: np.ndarray, sigma: float, rng: np.random.Generator, iterations: int = 5) -> np.ndarray:
    """Resample ``iterations`` times at per-pixel gaussian-displaced positions, Keys cubic."""
    h, w, _ = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = img.astype(np.float32)
    for _ in range(iterations):
        dx = rng.normal(0.0, sigma, size=(h, w))
        dy = rng.normal(0.0, sigma, size=(h, w))
        out = remap(out, yy + dy, xx + dx, order=3)
    return out


def _nearest_indices(n_out: int, n_in: int, scale: float) -> np.ndarray:
    """Source indices of MATLAB ``imresize(..., 'nearest')`` (pixel-centre aligned)."""
    return np.clip(np.floor((np.arange(n_out) + 0.5) / scale), 0, n_in - 1).astype(np.int64)


def pixelate(img: np.ndarray, z: float) -> np.ndarray:
    """Nearest-neighbour downscale by ``z`` (output ``ceil(z * size)``), then back up to the input size."""
    h, w, _ = img.shape
    sh, sw = max(1, math.ceil(z * h - 1e-9)), max(1, math.ceil(z * w - 1e-9))
    small = img[_nearest_indices(sh, h, z)][:, _nearest_indices(sw, w, z)]
    return small[_nearest_indices(h, sh, h / sh)][:, _nearest_indices(w, sw, w / sw)]


def colour_blocks(img: np.ndarray, count: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """Paste ``count`` blocks of ``side`` px filled with a uniform random colour at random positions."""
    h, w, c = img.shape
    bh, bw = min(side, h), min(side, w)
    out = img.copy()
    for _ in range(count):
        y = int(rng.integers(0, h - bh + 1))
        x = int(rng.integers(0, w - bw + 1))
        out[y : y + bh, x : x + bw] = rng.random(c, dtype=np.float32)
    return out


def colour_noise(img: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise of ``variance`` on Cr and Cb and of a quarter of it on Y (YCrCb, OpenCV's conversion)."""
    sigma = math.sqrt(variance)
    ycc = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2YCrCb)
    scale = np.array([0.5 * sigma, sigma, sigma], dtype=np.float32)
    noisy = (ycc + rng.standard_normal(img.shape, dtype=np.float32) * scale).astype(np.float32)
    return cv2.cvtColor(noisy, cv2.COLOR_YCrCb2RGB)


def speckle(img: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative gaussian noise: ``img * (1 + N(0, variance))``."""
    sigma = np.float32(math.sqrt(variance))
    return img * (1.0 + sigma * rng.standard_normal(img.shape, dtype=np.float32))


def correlated_noise(img: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise blurred by a sigma-1 gaussian, scaled back to standard deviation ``std``."""
    k = gaussian_kernel1d(1.0)
    gain = 1.0 / float(np.sum(k.astype(np.float64) ** 2))  # unit output std for white input
    field = gaussian_blur(rng.standard_normal(img.shape, dtype=np.float32), 1.0)
    return img + field * np.float32(std * gain)


def colour_diffusion(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``sigma`` on the Lab chroma planes a*, b* only."""
    lab = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2Lab)
    lab[..., 1:] = gaussian_blur(np.ascontiguousarray(lab[..., 1:]), sigma)
    return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)


def quantise_levels(img: np.ndarray, levels: int) -> np.ndarray:
    """Round every channel to ``levels`` evenly spaced values (at least 2)."""
    steps = np.float32(max(2, levels) - 1)
    return np.rint(img * steps) / steps


def mean_shift(img: np.ndarray, offset: float, rng: np.random.Generator) -> np.ndarray:
    """Add ``offset`` to every sample, with a sign drawn at random."""
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return img + np.float32(sign * offset)


def patch_displacement(img: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """Copy square patches (side ~ min(H, W)/10) covering ``fraction`` of the area to positions up to one side away
    ("non-eccentricity")."""
    h, w, _ = img.shape
    side = max(2, min(h, w) // 10)
    count = max(1, round(fraction * h * w / side**2))
    out = img.copy()
    for _ in range(count):  # one patch per draw: a higher count adds patches to the same first ones
        y = int(rng.integers(0, h - side + 1))
        x = int(rng.integers(0, w - side + 1))
        dy = int(rng.integers(-side, side + 1))
        dx = int(rng.integers(-side, side + 1))
        sy = min(max(y + dy, 0), h - side)
        sx = min(max(x + dx, 0), w - side)
        out[y : y + side, x : x + side] = img[sy : sy + side, sx : sx + side]
    return out


def unsharp(img: np.ndarray, amount: float) -> np.ndarray:
    """Unsharp mask: ``img + amount * (img - gaussian_blur(img, 1))``."""
    return img + np.float32(amount) * (img - gaussian_blur(img, 1.0))


def white_noise(img: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(math.sqrt(variance))
    return img + noise


def impulse(img: np.ndarray, density: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper per sample (MATLAB ``imnoise(..., 'salt & pepper', d)``)."""
    u = rng.random(img.shape, dtype=np.float32)
    out = img.copy()
    out[u < density / 2.0] = 0.0
    out[(u >= density / 2.0) & (u < density)] = 1.0
    return out


def nlm_denoise(img: np.ndarray, variance: float, rng: np.random.Generator, search: int = 21) -> np.ndarray:
    """Gaussian noise, clipped, then per-channel non-local means (h = noise sigma in 8-bit units).

    ``search`` is the NLM search window (the training registry uses 11). The KADID re-creation uses the learned
    denoiser instead (:func:`learned_denoise`).
    """
    noisy = to_u8(np.clip(white_noise(img, variance, rng), 0.0, 1.0))
    h = float(math.sqrt(variance) * 255.0)
    out = np.empty(img.shape, dtype=np.float32)
    for ch in range(img.shape[2]):
        den = cv2.fastNlMeansDenoising(np.ascontiguousarray(noisy[..., ch]), None, h, 7, search)
        out[..., ch] = den.astype(np.float32) / 255.0
    return out


def learned_denoise(img: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise, clipped, 8-bit, then the shipped learned denoiser (:mod:`iqa_cli.synth.denoiser`, our
    stand-in for the DnCNN KADID used). Grey images go through it replicated to RGB and come back as their mean."""
    from iqa_cli.synth.denoiser import denoise

    noisy = to_u8(np.clip(white_noise(img, variance, rng), 0.0, 1.0)).astype(np.float32) / 255.0
    if noisy.shape[2] == 1:
        return denoise(np.repeat(noisy, 3, axis=2)).mean(axis=2, keepdims=True)
    return denoise(noisy)


def _decode(ok: bool, buf: np.ndarray, like: np.ndarray, what: str) -> np.ndarray:
    """Decode an OpenCV-encoded buffer back to a float image shaped like ``like`` (RGB order)."""
    dec = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else None
    if dec is None:
        raise ImageError(f"OpenCV failed to round-trip a {like.shape} image through {what}")
    dec = dec[..., ::-1] if like.shape[2] == 3 else dec.reshape(like.shape)
    return dec.astype(np.float32) / 255.0


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode/decode with OpenCV's libjpeg at the IJG ``quality``, 4:2:0 chroma subsampling."""
    u8 = to_u8(img)
    src = u8[..., ::-1] if img.shape[2] == 3 else u8[..., 0]
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        int(quality),
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    ]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(src), params)
    return _decode(ok, buf, img, f"JPEG at quality {quality}")


def jpeg2000(img: np.ndarray, bpp: float) -> np.ndarray:
    """Encode/decode with OpenCV's OpenJPEG at about ``bpp`` bits per pixel of coded data.

    OpenJPEG's rate counts the whole file, whose headers take about 250 bytes; that overhead is added to the
    budget so that small crops are not starved (their floor is still the smallest codestream OpenJPEG writes).
    """
    u8 = to_u8(img)
    src = u8[..., ::-1] if img.shape[2] == 3 else u8[..., 0]
    n_pixels = img.shape[0] * img.shape[1]
    budget = _JP2_HEADER_BYTES + bpp * n_pixels / 8.0
    rate = int(min(1000, max(1, round(budget / (n_pixels * img.shape[2]) * 1000.0))))
    ok, buf = cv2.imencode(".jp2", np.ascontiguousarray(src), [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, rate])
    return _decode(ok, buf, img, f"JPEG 2000 at {bpp:.3g} bpp")
