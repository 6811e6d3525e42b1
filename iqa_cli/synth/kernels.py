"""MATLAB-faithful building blocks of the degradations: filters, kernels, resampling, colour conversions.

Images are ``np.ndarray`` of shape ``(H, W, C)``, float in [0, 1], RGB order, ``C`` = 3 or 1 (grey). Each function
follows the MATLAB routine KADID-10k's generator called (named in its docstring), so that the re-created conditions
match the rated ones.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from iqa_cli.errors import ImageError


def _channels_last(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Restore the trailing channel axis that OpenCV drops for single-channel images."""
    return out.reshape(like.shape) if out.ndim == 2 else out


def to_u8(img: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def luma(img: np.ndarray) -> np.ndarray:
    """Rec.601 luma (MATLAB ``rgb2gray`` weights) as ``(H, W)``."""
    if img.shape[2] == 1:
        return img[..., 0]
    return (0.2989 * img[..., 0] + 0.5870 * img[..., 1] + 0.1140 * img[..., 2]).astype(np.float32)


def gaussian_kernel1d(sigma: float) -> np.ndarray:
    """Normalised 1-D gaussian of MATLAB ``imgaussfilt``'s default size ``2*ceil(2*sigma)+1``."""
    half = max(1, math.ceil(2.0 * sigma))
    x = np.arange(-half, half + 1, dtype=np.float64)
    k = np.exp(-(x**2) / (2.0 * sigma**2))
    return (k / k.sum()).astype(np.float32)


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with replicated borders (MATLAB ``imgaussfilt`` defaults)."""
    if sigma <= 0:
        return img.copy()
    k = gaussian_kernel1d(sigma)
    out = cv2.sepFilter2D(np.ascontiguousarray(img), -1, k, k, borderType=cv2.BORDER_REPLICATE)
    return _channels_last(out, img)


def filter2d(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate with an odd-sized kernel, replicated borders (MATLAB ``imfilter(..., 'replicate')``)."""
    out = cv2.filter2D(np.ascontiguousarray(img), -1, kernel.astype(np.float32), borderType=cv2.BORDER_REPLICATE)
    return _channels_last(out, img)


def motion_kernel(length: float, angle_deg: float) -> np.ndarray:
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


def disk_kernel(radius: float) -> np.ndarray:
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


def remap(img: np.ndarray, ys: np.ndarray, xs: np.ndarray, order: int) -> np.ndarray:
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
            acc += wc * np.take(flat, r + col, axis=0)  # np.take: a cheaper gather than fancy indexing
        out += wr * acc
    return out


def rgb_to_hsv(img: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(np.ascontiguousarray(img, dtype=np.float32), cv2.COLOR_RGB2HSV)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
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


def check_image(img: np.ndarray) -> None:
    """Raise :class:`ImageError` unless ``img`` is an ``(H, W, 1|3)`` float array of at least 2x2 pixels."""
    if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] not in (1, 3):
        shape = getattr(img, "shape", type(img).__name__)
        raise ImageError(f"expected an HxWxC image with C = 1 or 3, got {shape}; add a channel axis to grey")
    if not np.issubdtype(img.dtype, np.floating):
        raise ImageError(f"expected a float image in [0, 1], got dtype {img.dtype}; divide uint8 by 255")
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise ImageError(f"image too small to distort: {img.shape[1]}x{img.shape[0]}")
