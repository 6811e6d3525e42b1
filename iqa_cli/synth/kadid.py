"""KADID-10k's development conditions re-created exactly: reference stretch, distortion, stretch, 8-bit rounding.

:func:`kadid_distort` re-creates the 13 conditions of ``kadid_dev_conditions.csv`` as described there (reference
min-max stretched, distorted, stretched again and rounded to 8 bits).

References:
    H. Lin, V. Hosu, D. Saupe, "KADID-10k: A Large-scale Artificially Distorted IQA Database", QoMEX 2019.
"""

from __future__ import annotations

import numpy as np

from iqa_cli.errors import UsageError
from iqa_cli.synth import degradations as deg
from iqa_cli.synth.kernels import check_image, filter2d, gaussian_blur, motion_kernel

__all__ = ["KADID_RGB_ONLY", "KADID_TYPES", "kadid_distort", "kadid_reference"]


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
KADID_RGB_ONLY = (5, 7)
"""KADID types that need colour (refused on grey images)."""


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
    check_image(img)
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
    - 15 denoise: noise as 11, clipped, 8-bit, then our own small DnCNN (:mod:`iqa_cli.synth.denoiser`, trained on the
      training split) in place of KADID's DnCNN (OpenCV's non-local means would leave the images about 4-5 dB
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
    if ref.shape[2] == 1 and type_id in KADID_RGB_ONLY:
        raise UsageError(f"KADID type {type_id} ({KADID_TYPES[type_id]}) needs an RGB image, got grey")
    p = float(parameter)
    if type_id == 1:
        out = gaussian_blur(ref, p)
    elif type_id == 3:
        out = filter2d(ref, motion_kernel(p, rng.uniform(0.0, 180.0)))
    elif type_id == 5:
        out = deg.colour_shift(ref, p, rng)
    elif type_id == 7:
        out = deg.saturation(ref, p)
    elif type_id == 10:
        out = deg.jpeg(ref, round(p))
    elif type_id == 11:
        out = deg.white_noise(ref, p, rng)
    elif type_id == 13:
        out = deg.impulse(ref, p, rng)
    elif type_id == 15:
        out = deg.learned_denoise(ref, p, rng)
    elif type_id == 16:
        out = deg.brighten(ref, p)
    elif type_id == 19:
        out = deg.jitter(ref, p, rng)
    elif type_id == 21:
        out = deg.pixelate(ref, 0.95 - p**0.6)
    elif type_id == 23:
        out = deg.colour_blocks(ref, round(p), 32, rng)
    else:  # 25
        out = deg.contrast(ref, 0.05 + p / 4.0)
    return _quantise(_stretch(np.clip(out, 0.0, 1.0)))
