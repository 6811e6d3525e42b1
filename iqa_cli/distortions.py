"""Synthetic image degradations: a registry of ``f(img, strength, rng) -> img`` and KADID-10k re-creations.

Images are ``np.ndarray`` of shape ``(H, W, C)``, float in [0, 1], RGB order, ``C`` = 3 or 1 (grey). Every
function returns an array of the input's shape and dtype, clipped to [0, 1]. ``strength`` is continuous in
[0, 1]: 0 returns the input unchanged, 1 is severe (at least as bad as KADID-10k level 5), and each
distortion maps strength to its parameter through a fixed, monotone table (:data:`ANCHORS`, interpolated
piecewise-linearly between ``strength`` = 0, 0.2, 0.4, 0.6, 0.8, 1.0). Where a KADID type exists in the
development conditions, the table puts KADID level ``k`` at ``strength = 0.2 * k`` (contrast change is split
into ``contrast_increase``/``contrast_decrease``; pixelate's table is in KADID's zoom z). All randomness (noise,
angles, positions) comes from the ``numpy.random.Generator`` passed in, so a result is a pure function of
``(img, strength, rng state)``.

Grey input: ``colour_noise``, ``desaturate``, ``oversaturate``, ``colour_shift`` and ``colour_diffusion`` have
no meaning without chroma and are flagged ``grey_ok=False`` (``apply`` raises :class:`UsageError`).
``colour_quantisation`` quantises the grey levels, ``colour_blocks`` pastes blocks of random grey, and
``brighten``/``darken`` apply their luminance curve (the Lab branch of a grey image is grey).

JPEG 2000 uses OpenCV's OpenJPEG encoder (``cv2.imencode('.jp2')`` works on this build).

:func:`kadid_distort` re-creates the 13 conditions of ``kadid_dev_conditions.csv`` exactly as described there
(reference min-max stretched, distorted, stretched again and rounded to 8 bits).

References:
    H. Lin, V. Hosu, D. Saupe, "KADID-10k: A Large-scale Artificially Distorted IQA Database", QoMEX 2019.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from scipy.interpolate import CubicSpline

from iqa_cli.errors import ImageError, UsageError

__all__ = [
    "ANCHORS",
    "DISTORTIONS",
    "FAMILIES",
    "KADID_TYPES",
    "DistortionSpec",
    "apply",
    "kadid_distort",
    "kadid_reference",
    "names",
    "random_distortion",
]

FAMILIES: tuple[str, ...] = ("blur", "noise", "compression", "colour", "luminance", "geometry", "sharpness")

DistortionFn = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

_STRENGTH_GRID = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
_KADID_SIZE = 512 * 384  # KADID-10k image area; block/patch sizes scale with sqrt(area / this)
_JP2_HEADER_BYTES = 250.0  # size of an OpenCV/OpenJPEG .jp2 file with (almost) no coded data


@dataclass(frozen=True)
class DistortionSpec:
    """One registered degradation.

    Attributes:
        name: Registry key, e.g. ``"gaussian_blur"``.
        family: One of :data:`FAMILIES`.
        grey_ok: Whether single-channel input is supported.
        fn: ``fn(img, strength, rng) -> img``; called by :func:`apply` only for ``strength > 0``.
    """

    name: str
    family: str
    grey_ok: bool
    fn: DistortionFn


# ----------------------------------------------------------------------------------------------- helpers


def _param(name: str, strength: float) -> float:
    """Interpolate the parameter of ``name`` at ``strength`` from its anchor table."""
    return float(np.interp(strength, _STRENGTH_GRID, ANCHORS[name]))


def _channels_last(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Restore the trailing channel axis that OpenCV drops for single-channel images."""
    return out.reshape(like.shape) if out.ndim == 2 else out


def _to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def _luma(img: np.ndarray) -> np.ndarray:
    """Rec.601 luma (MATLAB ``rgb2gray`` weights) as ``(H, W)``."""
    if img.shape[2] == 1:
        return img[..., 0]
    return (0.2989 * img[..., 0] + 0.5870 * img[..., 1] + 0.1140 * img[..., 2]).astype(np.float32)


def _gaussian_kernel1d(sigma: float) -> np.ndarray:
    """Normalised 1-D gaussian of MATLAB ``imgaussfilt``'s default size ``2*ceil(2*sigma)+1``."""
    half = max(1, math.ceil(2.0 * sigma))
    x = np.arange(-half, half + 1, dtype=np.float64)
    k = np.exp(-(x**2) / (2.0 * sigma**2))
    return (k / k.sum()).astype(np.float32)


def _gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with replicated borders (MATLAB ``imgaussfilt`` defaults)."""
    if sigma <= 0:
        return img.copy()
    k = _gaussian_kernel1d(sigma)
    out = cv2.sepFilter2D(np.ascontiguousarray(img), -1, k, k, borderType=cv2.BORDER_REPLICATE)
    return _channels_last(out, img)


def _filter(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate with an odd-sized kernel, replicated borders (MATLAB ``imfilter(..., 'replicate')``)."""
    out = cv2.filter2D(np.ascontiguousarray(img), -1, kernel.astype(np.float32), borderType=cv2.BORDER_REPLICATE)
    return _channels_last(out, img)


def _motion_kernel(length: float, angle_deg: float) -> np.ndarray:
    """Line kernel of MATLAB ``fspecial('motion', length, angle)`` (anti-aliased, odd size)."""
    eps = float(np.finfo(np.float64).eps)
    length = max(1.0, float(length))
    half = (length - 1.0) / 2.0
    phi = (angle_deg % 180.0) / 180.0 * math.pi
    cosphi, sinphi = math.cos(phi), math.sin(phi)
    xsign = 1.0 if cosphi >= 0 else -1.0
    linewdt = 1.0
    sx = math.trunc(half * cosphi + linewdt * xsign - length * eps)
    sy = math.trunc(half * sinphi + linewdt - length * eps)
    x, y = np.meshgrid(xsign * np.arange(abs(sx) + 1), np.arange(sy + 1))
    dist2line = y * cosphi - x * sinphi
    rad = np.sqrt(x**2 + y**2)
    last = (rad >= half) & (np.abs(dist2line) <= linewdt)
    with np.errstate(divide="ignore", invalid="ignore"):
        x2last = half - np.abs((x[last] + dist2line[last] * sinphi) / cosphi)
    dist2line[last] = np.sqrt(dist2line[last] ** 2 + x2last**2)
    dist2line = linewdt + eps - np.abs(dist2line)
    dist2line[~(dist2line >= 0)] = 0.0
    rows, cols = dist2line.shape
    h = np.zeros((2 * rows - 1, 2 * cols - 1))
    h[:rows, :cols] = np.rot90(dist2line, 2)
    h[rows - 1 :, cols - 1 :] = dist2line
    h = h / (h.sum() + eps * length * length)
    if cosphi > 0:
        h = np.flipud(h)
    return h


def _disk_kernel(radius: float) -> np.ndarray:
    """Pillbox of the given radius with anti-aliased edge (pixel coverage, 16x16 supersampling)."""
    half = max(1, math.ceil(radius - 0.5))
    sub = (np.arange(16) + 0.5) / 16.0 - 0.5
    grid = np.arange(-half, half + 1, dtype=np.float64)
    fine = (grid[:, None] + sub[None, :]).ravel()
    inside = (fine[:, None] ** 2 + fine[None, :] ** 2) <= radius**2
    n = 2 * half + 1
    k = inside.reshape(n, 16, n, 16).mean(axis=(1, 3))
    if k.sum() <= 0:
        k[half, half] = 1.0
    return k / k.sum()


def _remap(img: np.ndarray, ys: np.ndarray, xs: np.ndarray, order: int) -> np.ndarray:
    """Sample ``img`` at float coordinates (0-based pixel centres); borders replicate.

    ``order`` 1 is bilinear, 3 is Keys cubic convolution with a = -0.5 (MATLAB ``interp2(..., 'cubic')``).
    Implemented in NumPy so that sub-pixel shifts are exact (OpenCV's remap quantises to 1/32 px).
    """
    h, w, c = img.shape
    flat = img.reshape(-1, c)
    y0 = np.floor(ys)
    x0 = np.floor(xs)
    ty = (ys - y0).astype(np.float32)[..., None]
    tx = (xs - x0).astype(np.float32)[..., None]
    y0i = y0.astype(np.int64)
    x0i = x0.astype(np.int64)
    offsets: tuple[int, ...]
    wy: tuple[np.ndarray, ...]
    wx: tuple[np.ndarray, ...]
    if order == 1:
        offsets = (0, 1)
        wy = (1.0 - ty, ty)
        wx = (1.0 - tx, tx)
    else:
        a = -0.5

        def near(t: np.ndarray) -> np.ndarray:  # |t| <= 1
            return (a + 2.0) * t**3 - (a + 3.0) * t**2 + 1.0

        def far(t: np.ndarray) -> np.ndarray:  # 1 < |t| < 2
            return a * t**3 - 5.0 * a * t**2 + 8.0 * a * t - 4.0 * a

        offsets = (-1, 0, 1, 2)
        wy = (far(ty + 1.0), near(ty), near(1.0 - ty), far(2.0 - ty))
        wx = (far(tx + 1.0), near(tx), near(1.0 - tx), far(2.0 - tx))
    rows = [np.clip(y0i + o, 0, h - 1) * w for o in offsets]
    cols = [np.clip(x0i + o, 0, w - 1) for o in offsets]
    out = np.zeros((h, w, c), dtype=np.float32)
    for r, wr in zip(rows, wy, strict=True):
        acc = np.zeros((h, w, c), dtype=np.float32)
        for col, wc in zip(cols, wx, strict=True):
            acc += wc * np.take(flat, r + col, axis=0)  # np.take: ~4x faster than fancy indexing
        out += wr * acc
    return out


def _rgb_to_hsv(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2HSV)


def _hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """HSV (H in degrees) to RGB by the textbook sextant formula; S outside [0, 1] extrapolates, unclipped."""
    h6 = np.mod(hsv[..., 0] / 60.0, 6.0)
    k = np.minimum(np.floor(h6), 5).astype(np.int64)
    f = h6 - k
    s, v = hsv[..., 1], hsv[..., 2]
    p = v * (1.0 - s)
    q = v * (1.0 - s * f)
    t = v * (1.0 - s * (1.0 - f))
    r = np.choose(k, [v, q, p, p, t, v])
    g = np.choose(k, [t, v, v, q, p, p])
    b = np.choose(k, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1).astype(np.float32)


# ------------------------------------------------------------------------- parametric degradations
# Each takes the physical parameter; the registry wrappers map strength -> parameter.


def _saturation(img: np.ndarray, multiplier: float) -> np.ndarray:
    """Multiply HSV saturation; S is capped at 1 but a negative product is kept (complementary hue)."""
    hsv = _rgb_to_hsv(img)
    hsv[..., 1] = np.minimum(hsv[..., 1] * multiplier, 1.0)
    return _hsv_to_rgb(hsv)


def _colour_shift(img: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Shift green by ``amount`` px towards a random first-quadrant direction, blended by an edge map."""
    theta = rng.uniform(0.0, math.pi / 2.0)
    dx, dy = amount * math.cos(theta), amount * math.sin(theta)
    h, w, _ = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    shifted = _remap(img[..., 1:2], yy - dy, xx - dx, order=1)[..., 0]
    grey = _luma(img)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3, borderType=cv2.BORDER_REPLICATE)
    edges = _gaussian_blur(np.sqrt(gx**2 + gy**2)[..., None], 4.0)[..., 0]
    lo, hi = np.percentile(edges, [1.0, 99.0])
    edges = (edges - lo) / (hi - lo) if hi > lo else np.ones_like(edges)
    edges = np.clip(edges, 0.1, 1.0)
    out = img.copy()
    out[..., 1] = edges * shifted + (1.0 - edges) * img[..., 1]
    return out


def _parabola(x: np.ndarray, a: float) -> np.ndarray:
    """Parabola through (0,0), (0.5, 0.5 + a/2), (1,1), clipped to [0, 1]."""
    return np.clip((1.0 + 2.0 * a) * x - 2.0 * a * x * x, 0.0, 1.0)


def _brighten(img: np.ndarray, a: float) -> np.ndarray:
    """KADID brighten/darken: ``(2 * curve(RGB) + lab2rgb(curve(L))) / 3``; ``a < 0`` darkens."""
    rgb = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
    lab = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)
    lab[..., 0] = _parabola(lab[..., 0] / 100.0, a) * 100.0
    via_lab = np.clip(cv2.cvtColor(lab, cv2.COLOR_Lab2RGB), 0.0, 1.0)
    if img.shape[2] == 1:
        via_lab = via_lab.mean(axis=2, keepdims=True)
    return (2.0 * _parabola(img, a) + via_lab) / 3.0


def _contrast(img: np.ndarray, c: float) -> np.ndarray:
    """Not-a-knot cubic spline through (0,0),(0.3,0.3-c),(0.5,0.5),(0.7,0.7+c),(1,1); c=0 is identity."""
    spline = CubicSpline([0.0, 0.3, 0.5, 0.7, 1.0], [0.0, 0.3 - c, 0.5, 0.7 + c, 1.0])
    return spline(img).astype(np.float32)


def _jitter(img: np.ndarray, sigma: float, rng: np.random.Generator, iterations: int = 5) -> np.ndarray:
    """Resample ``iterations`` times at per-pixel gaussian-displaced positions, Keys cubic."""
    h, w, _ = img.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = img.astype(np.float32)
    for _ in range(iterations):
        dx = rng.normal(0.0, sigma, size=(h, w))
        dy = rng.normal(0.0, sigma, size=(h, w))
        out = _remap(out, yy + dy, xx + dx, order=3)
    return out


def _nearest_indices(n_out: int, n_in: int, scale: float) -> np.ndarray:
    """Source indices of MATLAB ``imresize(..., 'nearest')`` (pixel-centre aligned)."""
    return np.clip(np.floor((np.arange(n_out) + 0.5) / scale), 0, n_in - 1).astype(np.int64)


def _pixelate(img: np.ndarray, z: float) -> np.ndarray:
    """Nearest-neighbour downscale by ``z`` (output ``ceil(z * size)``), then back up to the input size."""
    h, w, _ = img.shape
    sh, sw = max(1, math.ceil(z * h - 1e-9)), max(1, math.ceil(z * w - 1e-9))
    small = img[_nearest_indices(sh, h, z)][:, _nearest_indices(sw, w, z)]
    return small[_nearest_indices(h, sh, h / sh)][:, _nearest_indices(w, sw, w / sw)]


def _colour_blocks(img: np.ndarray, count: int, side: int, rng: np.random.Generator) -> np.ndarray:
    """Paste ``count`` blocks of ``side`` px filled with a uniform random colour at random positions."""
    h, w, c = img.shape
    bh, bw = min(side, h), min(side, w)
    out = img.copy()
    for _ in range(count):
        y = int(rng.integers(0, h - bh + 1))
        x = int(rng.integers(0, w - bw + 1))
        out[y : y + bh, x : x + bw] = rng.random(c, dtype=np.float32)
    return out


def _white_noise(img: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(img.shape, dtype=np.float32) * np.float32(math.sqrt(variance))
    return img + noise


def _impulse(img: np.ndarray, density: float, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper per sample (MATLAB ``imnoise(..., 'salt & pepper', d)``)."""
    u = rng.random(img.shape, dtype=np.float32)
    out = img.copy()
    out[u < density / 2.0] = 0.0
    out[(u >= density / 2.0) & (u < density)] = 1.0
    return out


def _denoise(img: np.ndarray, variance: float, rng: np.random.Generator, search: int = 21) -> np.ndarray:
    """Gaussian noise, clipped, then per-channel non-local means (h = noise sigma in 8-bit units).

    ``search`` is the NLM search window (the training registry uses 11). The KADID re-creation uses the learned
    denoiser instead (:func:`_learned_denoise`).
    """
    noisy = _to_u8(np.clip(_white_noise(img, variance, rng), 0.0, 1.0))
    h = float(math.sqrt(variance) * 255.0)
    out = np.empty(img.shape, dtype=np.float32)
    for ch in range(img.shape[2]):
        den = cv2.fastNlMeansDenoising(np.ascontiguousarray(noisy[..., ch]), None, h, 7, search)
        out[..., ch] = den.astype(np.float32) / 255.0
    return out


def _learned_denoise(img: np.ndarray, variance: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise, clipped, 8-bit, then the shipped learned denoiser (:mod:`iqa_cli.denoiser`, our stand-in for
    the DnCNN KADID used). Grey images go through it replicated to RGB and come back as their mean."""
    from iqa_cli.denoiser import denoise

    noisy = _to_u8(np.clip(_white_noise(img, variance, rng), 0.0, 1.0)).astype(np.float32) / 255.0
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


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    """Encode/decode with OpenCV's libjpeg at the IJG ``quality``, 4:2:0 chroma subsampling."""
    u8 = _to_u8(img)
    src = u8[..., ::-1] if img.shape[2] == 3 else u8[..., 0]
    params = [
        cv2.IMWRITE_JPEG_QUALITY,
        int(quality),
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
        cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    ]
    ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(src), params)
    return _decode(ok, buf, img, f"JPEG at quality {quality}")


def _jpeg2000(img: np.ndarray, bpp: float) -> np.ndarray:
    """Encode/decode with OpenCV's OpenJPEG at about ``bpp`` bits per pixel of coded data.

    OpenJPEG's rate counts the whole file, whose headers take about 250 bytes; that overhead is added to the
    budget so that small crops are not starved (their floor is still the smallest codestream OpenJPEG writes).
    """
    u8 = _to_u8(img)
    src = u8[..., ::-1] if img.shape[2] == 3 else u8[..., 0]
    n_pixels = img.shape[0] * img.shape[1]
    budget = _JP2_HEADER_BYTES + bpp * n_pixels / 8.0
    rate = int(min(1000, max(1, round(budget / (n_pixels * img.shape[2]) * 1000.0))))
    ok, buf = cv2.imencode(".jp2", np.ascontiguousarray(src), [cv2.IMWRITE_JPEG2000_COMPRESSION_X1000, rate])
    return _decode(ok, buf, img, f"JPEG 2000 at {bpp:.3g} bpp")


# ------------------------------------------------------------------------------ registry wrappers

ANCHORS: dict[str, tuple[float, ...]] = {
    # parameter at strength 0, 0.2, 0.4, 0.6, 0.8, 1.0 (strength 0 itself always returns the input)
    "gaussian_blur": (0.0, 0.1, 0.5, 1.0, 2.0, 5.0),  # gaussian sigma px (KADID levels)
    "lens_blur": (0.0, 1.0, 2.0, 3.0, 4.5, 6.0),  # disc radius px
    "motion_blur": (0.0, 1.0, 2.0, 4.0, 6.0, 10.0),  # line length px, random angle (KADID levels)
    "white_noise": (0.0, 0.001, 0.002, 0.003, 0.005, 0.01),  # gaussian variance (KADID levels)
    "colour_noise": (0.0, 0.001, 0.002, 0.004, 0.008, 0.016),  # Cb/Cr noise variance; Y gets 1/4
    "impulse_noise": (0.0, 0.001, 0.005, 0.01, 0.02, 0.03),  # salt-and-pepper density (KADID levels)
    "speckle_noise": (0.0, 0.005, 0.01, 0.02, 0.05, 0.1),  # variance of the multiplicative gaussian
    "correlated_noise": (0.0, 0.02, 0.035, 0.05, 0.07, 0.1),  # std of noise blurred by a sigma-1 gaussian
    "jpeg": (100.0, 43.0, 36.0, 24.0, 7.0, 4.0),  # IJG quality, 4:2:0 (KADID levels), rounded
    "jpeg2000": (2.0, 0.0, -0.7, -1.4, -2.1, -2.8),  # log2 bits per pixel: 4, 1, .., 0.14 bpp
    "desaturate": (1.0, 0.4, 0.2, 0.1, 0.0, -0.4),  # HSV saturation multiplier (KADID levels)
    "oversaturate": (1.0, 1.5, 2.0, 2.6, 3.3, 4.0),  # HSV saturation multiplier, S capped at 1
    "colour_shift": (0.0, 1.0, 3.0, 6.0, 8.0, 12.0),  # green shift px, edge-blended (KADID levels)
    "colour_diffusion": (0.0, 1.0, 2.0, 4.0, 6.0, 9.0),  # gaussian sigma on Lab a*, b*
    "colour_quantisation": (64.0, 24.0, 12.0, 8.0, 5.0, 3.0),  # levels per channel, rounded
    "brighten": (0.0, 0.1, 0.2, 0.4, 0.7, 1.1),  # KADID brighten amount a (KADID levels)
    "darken": (0.0, 0.1, 0.2, 0.4, 0.6, 0.8),  # same curve with -a
    "mean_shift": (0.0, 0.05, 0.1, 0.15, 0.2, 0.3),  # |offset| added to all channels, random sign
    "contrast_increase": (0.0, 0.04, 0.08, 0.12, 0.16, 0.2),  # spline c (KADID a=0.3 is c=0.125)
    "contrast_decrease": (0.0, 0.025, 0.05, 0.075, 0.1, 0.15),  # spline -c (KADID a=-0.6 is c=-0.1)
    "jitter": (0.0, 0.05, 0.1, 0.2, 0.5, 1.0),  # displacement sigma px, 5 iterations (KADID levels)
    "pixelate": (1.0, 0.887, 0.784, 0.699, 0.569, 0.290),  # zoom z = 0.95 - s^0.6 at KADID's s levels
    "patch_displacement": (0.0, 0.04, 0.08, 0.12, 0.18, 0.25),  # fraction of the area in moved patches
    "colour_blocks": (0.0, 2.0, 4.0, 6.0, 8.0, 10.0),  # block count (KADID levels), side 32 px at 512x384
    "sharpen": (0.0, 0.5, 1.0, 2.0, 3.5, 5.0),  # unsharp-mask amount, gaussian sigma 1
    "denoise": (0.0, 0.01, 0.03, 0.05, 0.1, 0.15),  # noise variance before NLM denoising (KADID levels)
}


def _scaled_side(img: np.ndarray, side_at_kadid: float, minimum: int) -> int:
    """A length in px that covers the same fraction of ``img`` as ``side_at_kadid`` does of 512x384."""
    return max(minimum, round(side_at_kadid * math.sqrt(img.shape[0] * img.shape[1] / _KADID_SIZE)))


def _d_gaussian_blur(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _gaussian_blur(img, _param("gaussian_blur", s))


def _d_lens_blur(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _filter(img, _disk_kernel(_param("lens_blur", s)))


def _d_motion_blur(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _filter(img, _motion_kernel(_param("motion_blur", s), rng.uniform(0.0, 180.0)))


def _d_white_noise(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _white_noise(img, _param("white_noise", s), rng)


def _d_colour_noise(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    sigma = math.sqrt(_param("colour_noise", s))
    ycc = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2YCrCb)
    scale = np.array([0.5 * sigma, sigma, sigma], dtype=np.float32)
    noisy = (ycc + rng.standard_normal(img.shape, dtype=np.float32) * scale).astype(np.float32)
    return cv2.cvtColor(noisy, cv2.COLOR_YCrCb2RGB)


def _d_impulse_noise(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _impulse(img, _param("impulse_noise", s), rng)


def _d_speckle_noise(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    sigma = np.float32(math.sqrt(_param("speckle_noise", s)))
    return img * (1.0 + sigma * rng.standard_normal(img.shape, dtype=np.float32))


def _d_correlated_noise(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    k = _gaussian_kernel1d(1.0)
    gain = 1.0 / float(np.sum(k.astype(np.float64) ** 2))  # unit output std for white input
    field = _gaussian_blur(rng.standard_normal(img.shape, dtype=np.float32), 1.0)
    return img + field * np.float32(_param("correlated_noise", s) * gain)


def _d_jpeg(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _jpeg(img, round(_param("jpeg", s)))


def _d_jpeg2000(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _jpeg2000(img, 2.0 ** _param("jpeg2000", s))


def _d_desaturate(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _saturation(img, _param("desaturate", s))


def _d_oversaturate(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _saturation(img, _param("oversaturate", s))


def _d_colour_shift(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _colour_shift(img, _param("colour_shift", s), rng)


def _d_colour_diffusion(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    lab = cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2Lab)
    lab[..., 1:] = _gaussian_blur(np.ascontiguousarray(lab[..., 1:]), _param("colour_diffusion", s))
    return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)


def _d_colour_quantisation(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    steps = np.float32(max(2, round(_param("colour_quantisation", s))) - 1)
    return np.rint(img * steps) / steps


def _d_brighten(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _brighten(img, _param("brighten", s))


def _d_darken(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _brighten(img, -_param("darken", s))


def _d_mean_shift(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return img + np.float32(sign * _param("mean_shift", s))


def _d_contrast_increase(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _contrast(img, _param("contrast_increase", s))


def _d_contrast_decrease(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _contrast(img, -_param("contrast_decrease", s))


def _d_jitter(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _jitter(img, _param("jitter", s), rng)


def _d_pixelate(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _pixelate(img, _param("pixelate", s))


def _d_patch_displacement(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    """Copy square patches (side ~ min(H, W)/10) to positions up to one side away ("non-eccentricity")."""
    h, w, _ = img.shape
    side = max(2, min(h, w) // 10)
    count = max(1, round(_param("patch_displacement", s) * h * w / side**2))
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


def _d_colour_blocks(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    count = max(1, round(_param("colour_blocks", s)))
    return _colour_blocks(img, count, _scaled_side(img, 32.0, 2), rng)


def _d_sharpen(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return img + np.float32(_param("sharpen", s)) * (img - _gaussian_blur(img, 1.0))


def _d_denoise(img: np.ndarray, s: float, rng: np.random.Generator) -> np.ndarray:
    return _denoise(img, _param("denoise", s), rng, search=11)


def _spec(name: str, family: str, grey_ok: bool, fn: DistortionFn) -> tuple[str, DistortionSpec]:
    return name, DistortionSpec(name=name, family=family, grey_ok=grey_ok, fn=fn)


DISTORTIONS: dict[str, DistortionSpec] = dict(
    [
        _spec("gaussian_blur", "blur", True, _d_gaussian_blur),
        _spec("lens_blur", "blur", True, _d_lens_blur),
        _spec("motion_blur", "blur", True, _d_motion_blur),
        _spec("white_noise", "noise", True, _d_white_noise),
        _spec("colour_noise", "noise", False, _d_colour_noise),
        _spec("impulse_noise", "noise", True, _d_impulse_noise),
        _spec("speckle_noise", "noise", True, _d_speckle_noise),
        _spec("correlated_noise", "noise", True, _d_correlated_noise),
        _spec("jpeg", "compression", True, _d_jpeg),
        _spec("jpeg2000", "compression", True, _d_jpeg2000),
        _spec("desaturate", "colour", False, _d_desaturate),
        _spec("oversaturate", "colour", False, _d_oversaturate),
        _spec("colour_shift", "colour", False, _d_colour_shift),
        _spec("colour_diffusion", "colour", False, _d_colour_diffusion),
        _spec("colour_quantisation", "colour", True, _d_colour_quantisation),
        _spec("brighten", "luminance", True, _d_brighten),
        _spec("darken", "luminance", True, _d_darken),
        _spec("mean_shift", "luminance", True, _d_mean_shift),
        _spec("contrast_increase", "luminance", True, _d_contrast_increase),
        _spec("contrast_decrease", "luminance", True, _d_contrast_decrease),
        _spec("jitter", "geometry", True, _d_jitter),
        _spec("pixelate", "geometry", True, _d_pixelate),
        _spec("patch_displacement", "geometry", True, _d_patch_displacement),
        _spec("colour_blocks", "geometry", True, _d_colour_blocks),
        _spec("sharpen", "sharpness", True, _d_sharpen),
        _spec("denoise", "sharpness", True, _d_denoise),
    ]
)


# ------------------------------------------------------------------------------------- public API


def _check_image(img: np.ndarray) -> None:
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] not in (1, 3):
        shape = getattr(img, "shape", type(img).__name__)
        raise ImageError(f"expected an HxWxC image with C = 1 or 3, got {shape}; add a channel axis to grey")
    if not np.issubdtype(img.dtype, np.floating):
        raise ImageError(f"expected a float image in [0, 1], got dtype {img.dtype}; divide uint8 by 255")
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise ImageError(f"image too small to distort: {img.shape[1]}x{img.shape[0]}")


def _get(name: str) -> DistortionSpec:
    try:
        return DISTORTIONS[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), DISTORTIONS, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown distortion {name!r}.{hint} Known: {', '.join(DISTORTIONS)}") from None


def apply(name: str, img: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Apply the registered distortion ``name`` at ``strength``.

    Args:
        name: A key of :data:`DISTORTIONS`.
        img: ``(H, W, C)`` float image in [0, 1], RGB, ``C`` in {1, 3}.
        strength: In [0, 1]; 0 returns an exact copy of ``img``.
        rng: Source of all randomness.

    Returns:
        The distorted image, same shape and dtype as ``img``, clipped to [0, 1].

    Raises:
        UsageError: Unknown name, strength outside [0, 1], or a colour-only distortion on a grey image.
        ImageError: ``img`` is not an ``(H, W, 1|3)`` float array.
    """
    spec = _get(name)
    _check_image(img)
    if not (isinstance(strength, (int, float, np.floating, np.integer)) and 0.0 <= float(strength) <= 1.0):
        raise UsageError(f"strength must be a number in [0, 1], got {strength!r}")
    if img.shape[2] == 1 and not spec.grey_ok:
        grey = ", ".join(names(grey=True))
        raise UsageError(f"distortion {name!r} needs an RGB image, got a grey one; grey-capable: {grey}")
    if float(strength) == 0.0:
        return img.copy()
    out = spec.fn(np.ascontiguousarray(img, dtype=np.float32), float(strength), rng)
    return np.clip(out, 0.0, 1.0).astype(img.dtype, copy=False)


def names(families: Iterable[str] | None = None, grey: bool = False) -> list[str]:
    """Registered distortion names, in registry order.

    Args:
        families: Keep only these families (default: all).
        grey: Keep only distortions that accept single-channel images.

    Returns:
        The matching names.

    Raises:
        UsageError: A family is not one of :data:`FAMILIES`.
    """
    wanted = set(FAMILIES) if families is None else set(families)
    unknown = sorted(wanted - set(FAMILIES))
    if unknown:
        raise UsageError(f"unknown distortion family {', '.join(unknown)}; choose from {', '.join(FAMILIES)}")
    return [n for n, spec in DISTORTIONS.items() if spec.family in wanted and (spec.grey_ok or not grey)]


def random_distortion(
    img: np.ndarray, rng: np.random.Generator, names: Sequence[str] | None = None
) -> tuple[np.ndarray, str, float]:
    """Apply a uniformly chosen distortion at a strength uniform in (0, 1].

    Args:
        img: ``(H, W, C)`` float image in [0, 1].
        rng: Source of the choice and of the distortion's randomness.
        names: Candidates (default: every distortion usable on ``img``'s channel count).

    Returns:
        ``(distorted, name, strength)``.

    Raises:
        UsageError: ``names`` is empty or contains an unknown name.
    """
    _check_image(img)
    pool = list(names) if names is not None else _all_names(grey=img.shape[2] == 1)
    if not pool:
        raise UsageError("random_distortion needs at least one distortion name, got none")
    name = pool[int(rng.integers(len(pool)))]
    strength = 1.0 - float(rng.random())
    return apply(name, img, strength, rng), name, strength


_all_names = names  # random_distortion's parameter shadows the function


# ------------------------------------------------------------------------------------------- KADID

KADID_TYPES: dict[int, str] = {
    1: "gaussian blur",
    3: "motion blur",
    5: "colour shift",
    7: "colour saturation (HSV)",
    10: "JPEG",
    11: "white noise",
    13: "impulse noise",
    15: "denoise",
    16: "brighten",
    19: "jitter",
    21: "pixelate",
    23: "colour block",
    25: "contrast change",
}
_KADID_RGB_ONLY = (5, 7)


def _stretch(img: np.ndarray) -> np.ndarray:
    """Min-max stretch over all pixels and channels to [0, 1]; a constant image is returned as is."""
    lo, hi = float(img.min()), float(img.max())
    if hi - lo <= 1e-12:
        return img.astype(np.float32)
    return ((img - lo) / (hi - lo)).astype(np.float32)


def _quantise(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255.0), 0.0, 255.0).astype(np.float32) / np.float32(255.0)


def kadid_reference(img: np.ndarray) -> np.ndarray:
    """The KADID reference of ``img``: min-max stretched to [0, 1], rounded to 8 bits.

    Args:
        img: ``(H, W, C)`` float image, ``C`` in {1, 3}.

    Returns:
        float32 image with values ``k / 255``.

    Raises:
        ImageError: ``img`` is not an ``(H, W, 1|3)`` float array.
    """
    _check_image(img)
    return _quantise(_stretch(img))


def kadid_distort(img: np.ndarray, type_id: int, parameter: float, rng: np.random.Generator) -> np.ndarray:
    """Re-create one KADID-10k development condition (``kadid_dev_conditions.csv``).

    Pipeline: ``kadid_reference(img)`` (a no-op on an image that already is one), the distortion on [0, 1],
    clip to [0, 1], min-max stretch again, round to 8 bits. Details the table leaves open, as implemented:

    - 1 gaussian blur: MATLAB ``imgaussfilt`` defaults (kernel ``2*ceil(2*sigma)+1``, replicated borders).
    - 3 motion blur: MATLAB ``fspecial('motion', len, angle)`` line kernel, angle ~ U[0, 180), replicated
      borders, correlation.
    - 5 colour shift: angle ~ U[0, 90] deg, green moved by ``(p cos, p sin)`` px (right/down) with bilinear
      sampling and replicated borders; edge map = Sobel gradient magnitude of Rec.601 luma, gaussian sigma 4,
      1%/99% percentiles stretched to 0/1, then clipped to [0.1, 1]; ``G = e * G_shift + (1 - e) * G``.
    - 7 saturation: S multiplied (S capped at 1, negative kept); HSV->RGB by the sextant formula, which for a
      negative S gives the complementary hue (MATLAB ``hsv2rgb`` behaves the same); RGB clipped.
    - 10 JPEG: OpenCV libjpeg, IJG quality, 4:2:0, on the 8-bit reference.
    - 11 white noise: i.i.d. gaussian per sample with the given variance, clipped.
    - 13 impulse: per sample, ``u < d/2`` -> 0 and ``d/2 <= u < d`` -> 1 (MATLAB ``imnoise``).
    - 15 denoise: noise as 11, clipped, 8-bit, then our own small DnCNN (:mod:`iqa_cli.denoiser`, trained on the
      training split) in place of KADID's DnCNN (OpenCV's non-local means, used before, left the images 4-5 dB
      below a DnCNN's output: far more degraded than the ones people rated).
    - 16 brighten: curve ``(1+2a)x - 2a x^2`` clipped to [0, 1]; Lab via OpenCV float32, L/100 curved.
    - 19 jitter: 5 rounds, each resampling the previous result at ``(x + dx, y + dy)``,
      ``dx, dy ~ N(0, sigma)`` per pixel (shared by channels), Keys cubic (a = -0.5), replicated borders.
    - 21 pixelate: MATLAB ``imresize`` nearest convention, down to ``ceil(z * size)`` and back.
    - 23 colour block: 32x32 blocks (clamped to the image), top-left uniform over positions where the block
      fits, colour ~ U[0, 1)^3; later blocks cover earlier ones.
    - 25 contrast: ``scipy.interpolate.CubicSpline`` (not-a-knot, like MATLAB ``spline``) on every RGB value.

    Grey ``(H, W, 1)`` input works for every type but 5 and 7.

    Args:
        img: ``(H, W, C)`` float image, ``C`` in {1, 3}.
        type_id: KADID type id, one of :data:`KADID_TYPES`.
        parameter: The level's ``parameter`` column.
        rng: Source of all randomness.

    Returns:
        float32 distorted image with values ``k / 255``.

    Raises:
        UsageError: Unknown ``type_id``, or a colour type on a grey image.
        ImageError: ``img`` is not an ``(H, W, 1|3)`` float array.
    """
    if type_id not in KADID_TYPES:
        known = ", ".join(f"{k} ({v})" for k, v in KADID_TYPES.items())
        raise UsageError(f"unknown KADID type_id {type_id!r}; the development conditions have {known}")
    ref = kadid_reference(img)
    if ref.shape[2] == 1 and type_id in _KADID_RGB_ONLY:
        raise UsageError(f"KADID type {type_id} ({KADID_TYPES[type_id]}) needs an RGB image, got grey")
    p = float(parameter)
    if type_id == 1:
        out = _gaussian_blur(ref, p)
    elif type_id == 3:
        out = _filter(ref, _motion_kernel(p, rng.uniform(0.0, 180.0)))
    elif type_id == 5:
        out = _colour_shift(ref, p, rng)
    elif type_id == 7:
        out = _saturation(ref, p)
    elif type_id == 10:
        out = _jpeg(ref, round(p))
    elif type_id == 11:
        out = _white_noise(ref, p, rng)
    elif type_id == 13:
        out = _impulse(ref, p, rng)
    elif type_id == 15:
        out = _learned_denoise(ref, p, rng)
    elif type_id == 16:
        out = _brighten(ref, p)
    elif type_id == 19:
        out = _jitter(ref, p, rng)
    elif type_id == 21:
        out = _pixelate(ref, 0.95 - p**0.6)
    elif type_id == 23:
        out = _colour_blocks(ref, round(p), 32, rng)
    else:  # 25
        out = _contrast(ref, 0.05 + p / 4.0)
    return _quantise(_stretch(np.clip(out, 0.0, 1.0)))
