"""The degradation registry: ``f(img, strength, rng) -> img`` for 26 named distortions in 7 families.

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

The physical degradations live in :mod:`iqa_cli.synth.degradations`; this module holds the strength table, the
registry rows that map strength to parameter, and the public API.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from iqa_cli.errors import UsageError
from iqa_cli.synth.degradations import (
    brighten,
    colour_blocks,
    colour_diffusion,
    colour_noise,
    colour_shift,
    contrast,
    correlated_noise,
    impulse,
    jitter,
    jpeg,
    jpeg2000,
    mean_shift,
    nlm_denoise,
    patch_displacement,
    pixelate,
    quantise_levels,
    saturation,
    speckle,
    unsharp,
    white_noise,
)
from iqa_cli.synth.kernels import check_image, disk_kernel, filter2d, gaussian_blur, motion_kernel

__all__ = [
    "ANCHORS",
    "DISTORTIONS",
    "FAMILIES",
    "DistortionSpec",
    "apply",
    "names",
    "random_distortion",
]

FAMILIES: tuple[str, ...] = ("blur", "noise", "compression", "colour", "luminance", "geometry", "sharpness")

DistortionFn = Callable[[np.ndarray, float, np.random.Generator], np.ndarray]

_STRENGTH_GRID = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
_KADID_SIZE = 512 * 384  # KADID-10k image area; block/patch sizes scale with sqrt(area / this)


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


# -------------------------------------------------------------------------------------- registry

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


def _block_side(img: np.ndarray) -> int:
    """The side in px (at least 2) that covers the same fraction of ``img`` as KADID's 32 px blocks of 512x384."""
    return max(2, round(32.0 * math.sqrt(img.shape[0] * img.shape[1] / _KADID_SIZE)))


# Each row: name, family, grey_ok and the degradation as ``f(img, parameter, rng)``, the parameter read from ANCHORS.
_ROWS: tuple[tuple[str, str, bool, DistortionFn], ...] = (
    ("gaussian_blur", "blur", True, lambda im, p, rng: gaussian_blur(im, p)),
    ("lens_blur", "blur", True, lambda im, p, rng: filter2d(im, disk_kernel(p))),
    ("motion_blur", "blur", True, lambda im, p, rng: filter2d(im, motion_kernel(p, rng.uniform(0.0, 180.0)))),
    ("white_noise", "noise", True, white_noise),
    ("colour_noise", "noise", False, colour_noise),
    ("impulse_noise", "noise", True, impulse),
    ("speckle_noise", "noise", True, speckle),
    ("correlated_noise", "noise", True, correlated_noise),
    ("jpeg", "compression", True, lambda im, p, rng: jpeg(im, round(p))),
    ("jpeg2000", "compression", True, lambda im, p, rng: jpeg2000(im, 2.0**p)),
    ("desaturate", "colour", False, lambda im, p, rng: saturation(im, p)),
    ("oversaturate", "colour", False, lambda im, p, rng: saturation(im, p)),
    ("colour_shift", "colour", False, colour_shift),
    ("colour_diffusion", "colour", False, lambda im, p, rng: colour_diffusion(im, p)),
    ("colour_quantisation", "colour", True, lambda im, p, rng: quantise_levels(im, round(p))),
    ("brighten", "luminance", True, lambda im, p, rng: brighten(im, p)),
    ("darken", "luminance", True, lambda im, p, rng: brighten(im, -p)),
    ("mean_shift", "luminance", True, mean_shift),
    ("contrast_increase", "luminance", True, lambda im, p, rng: contrast(im, p)),
    ("contrast_decrease", "luminance", True, lambda im, p, rng: contrast(im, -p)),
    ("jitter", "geometry", True, jitter),
    ("pixelate", "geometry", True, lambda im, p, rng: pixelate(im, p)),
    ("patch_displacement", "geometry", True, patch_displacement),
    ("colour_blocks", "geometry", True, lambda im, p, rng: colour_blocks(im, max(1, round(p)), _block_side(im), rng)),
    ("sharpen", "sharpness", True, lambda im, p, rng: unsharp(im, p)),
    ("denoise", "sharpness", True, lambda im, p, rng: nlm_denoise(im, p, rng, search=11)),
)


def _at_strength(name: str, degrade: DistortionFn) -> DistortionFn:
    """``degrade(img, parameter, rng)`` as ``fn(img, strength, rng)``, through ``name``'s anchor table."""

    def fn(img: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
        return degrade(img, _param(name, strength), rng)

    return fn


DISTORTIONS: dict[str, DistortionSpec] = {
    name: DistortionSpec(name=name, family=family, grey_ok=grey_ok, fn=_at_strength(name, degrade))
    for name, family, grey_ok, degrade in _ROWS
}


# ------------------------------------------------------------------------------------- public API


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
    check_image(img)
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
    check_image(img)
    pool = list(names) if names is not None else _all_names(grey=img.shape[2] == 1)
    if not pool:
        raise UsageError("random_distortion needs at least one distortion name, got none")
    name = pool[int(rng.integers(len(pool)))]
    strength = 1.0 - float(rng.random())
    return apply(name, img, strength, rng), name, strength


_all_names = names  # random_distortion's parameter shadows the function
