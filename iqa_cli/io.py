"""Image files to float pixels in [0, 1], and back (the header and sample helpers are :mod:`iqa_cli.imagefile`).

Policies (the README quotes this list):

- **Decoding.** Files are read as bytes (``np.fromfile``, so non-ASCII paths work) and decoded with
  ``cv2.imdecode(buf, IMREAD_ANYCOLOR | IMREAD_ANYDEPTH)``. Unlike ``IMREAD_UNCHANGED`` this honours EXIF
  orientation (JPEG, and PNG ``eXIf`` on OpenCV 5) while keeping 16-bit and float samples and grey images.
- **Levels.** ``uint8`` is divided by 255 and ``uint16`` by 65535, so every 16-bit level stays distinct.
  Float files (float TIFF, PFM, HDR) are clipped to [0, 1]; NaN is an error. Signed or 32-bit integer samples
  are rejected with an :class:`~iqa_cli.errors.ImageError`.
- **Channels.** ``Image.pixels`` is ``HxWxC`` with ``C`` 1 (grey) or 3 (RGB order; OpenCV's BGR is swapped).
  Grey files stay one channel. Grey+alpha PNGs become grey. Palette images (GIF, palette PNG) are expanded by
  the decoder; when every expanded pixel is grey they are returned as grey.
- **Alpha.** Alpha is ignored: colour channels are scored as stored, never composited over a background.
- **Grey vs RGB.** When a grey image meets an RGB one (:func:`align_pair`) or a model needs RGB
  (:func:`to_rgb`), the grey channel is replicated into R, G and B. This is the only grey mapping.
- **Size.** Images of more than ``max_pixels`` pixels (default 100 million) are refused, from the header
  before decoding for PNG, JPEG, GIF and BMP, and from the decoded shape otherwise.
- **Downsizing.** :func:`downsize_to` is the one shrink used before training, adaptation and benchmarks: area
  averaging (``INTER_AREA``) to a longer side of at most ``max_side``, dtype and channel count kept.
- **Pairs of different size** are an error unless ``resize="dist"``, which resamples the distorted image to
  the reference size (``INTER_AREA`` when shrinking, ``INTER_CUBIC`` when enlarging, then clipped to [0, 1]).
- **Writing.** :func:`write_image` writes 8- or 16-bit PNG/TIFF, grey or RGB, to a temporary file in the
  target folder and moves it into place with ``os.replace``, so readers never see half a file.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from iqa_cli.atomic import new_file_mode
from iqa_cli.errors import ImageError, SizeMismatchError, UsageError
from iqa_cli.imagefile import (
    DECODE_FLAGS,
    check_size,
    declares_grey_or_palette,
    header_size,
    normalise_channels,
    read_bytes,
    sniff,
    to_unit_float,
)

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS: int = 100_000_000
"""Decompression-bomb guard: largest accepted width x height (the CLI exposes it as ``--max-pixels``)."""

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm", ".gif"}
)
"""Lower-case file extensions treated as images by folder discovery (all decodable by this OpenCV build)."""

_WRITE_EXTENSIONS = frozenset({".png", ".tif", ".tiff"})


@dataclass(frozen=True)
class Image:
    """A decoded image.

    Attributes:
        path: File it was read from, or ``None`` for images made in memory.
        pixels: ``float32`` array of shape ``(H, W, C)``, ``C`` in (1, 3), RGB order, values in [0, 1].
        bit_depth: Sample depth of the source: 8, 16, or 32 for float input.
    """

    path: Path | None
    pixels: np.ndarray
    bit_depth: int

    def __post_init__(self) -> None:
        p = self.pixels
        if p.dtype != np.float32 or p.ndim != 3 or p.shape[2] not in (1, 3):
            raise ImageError(
                f"Image pixels must be float32 HxWxC with C in (1, 3); got {p.dtype} array of shape {p.shape}"
            )

    @property
    def height(self) -> int:
        """Number of rows."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Number of columns."""
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        """1 for grey, 3 for RGB."""
        return int(self.pixels.shape[2])


def decode_file(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[np.ndarray, bool]:
    """The first half of :func:`read_image`: the file's samples as OpenCV decodes them (channel order and count
    not yet normalised), and whether the file declares grey or palette colour.

    Raises:
        ImageError: as :func:`read_image`.
    """
    data = read_bytes(path)
    kind = sniff(data)
    size = header_size(data, kind)
    if size is not None:
        check_size(path, size[0], size[1], max_pixels)
    try:
        arr = cv2.imdecode(data, DECODE_FLAGS)
    except cv2.error as exc:
        raise ImageError(f"cannot decode image '{path}': {str(exc).strip().splitlines()[-1]}") from exc
    if arr is None:
        if kind is None:
            raise ImageError(
                f"cannot read image '{path}': not a recognised image format — "
                f"expected one of {', '.join(sorted(IMAGE_EXTENSIONS))}"
            )
        raise ImageError(
            f"cannot read image '{path}': the {kind} data is truncated or corrupt — re-export or re-copy the file"
        )
    check_size(path, arr.shape[1], arr.shape[0], max_pixels)
    return arr, declares_grey_or_palette(data, kind)


def read_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image:
    """Reads an image file into float pixels in [0, 1] following the module's policies.

    Args:
        path: Image file.
        max_pixels: Largest accepted width x height; larger images raise before decoding where possible.

    Returns:
        The decoded :class:`Image`.

    Raises:
        ImageError: The file is missing, a folder, unreadable, empty, truncated, not an image, too large,
            or stores samples of an unsupported type. The message names the file, the reason and a remedy.
    """
    path = Path(path)
    decoded, grey_or_palette = decode_file(path, max_pixels=max_pixels)
    # channels first, on the decoded samples (a quarter of the bytes of floats for 8-bit files); same pixels
    samples = normalise_channels(decoded, grey_or_palette)
    pixels, bit_depth = to_unit_float(path, samples)
    return Image(path=path, pixels=pixels, bit_depth=bit_depth)


def to_tensor(pixels: np.ndarray) -> torch.Tensor:
    """Converts ``HxWxC`` (or ``HxW``) pixels to a ``(1, C, H, W)`` float32 tensor.

    Args:
        pixels: Array in [0, 1], e.g. ``Image.pixels``.

    Returns:
        A new contiguous tensor on the CPU.

    Raises:
        ImageError: The array is not 2-D or 3-D.
    """
    import torch

    arr = _as_hwc(pixels)
    if arr.dtype == np.float32 and arr.shape[2] == 3 and arr.flags.c_contiguous:
        # OpenCV's split writes the three planes straight into the (3, H, W) buffer: the same copy, ~40% cheaper
        # than NumPy's strided transpose
        chw = np.empty((3, *arr.shape[:2]), np.float32)
        planes = cv2.split(arr, list(chw))
        if not all(np.shares_memory(p, c) for p, c in zip(planes, chw)):  # (a build that returns new arrays)
            chw = np.stack(planes)
    else:
        chw = np.ascontiguousarray(arr.transpose(2, 0, 1), dtype=np.float32)
    return torch.from_numpy(chw).unsqueeze(0)


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """Returns 3-channel pixels: grey (``C=1`` or ``HxW``) is replicated into R, G and B; RGB passes through.

    Args:
        pixels: ``HxW``, ``HxWx1`` or ``HxWx3`` array.

    Returns:
        ``HxWx3`` array of the same dtype.

    Raises:
        ImageError: The array has another shape.
    """
    arr = _as_hwc(pixels)
    if arr.shape[2] == 3:
        return arr
    if arr.shape[2] == 1:
        return np.repeat(arr, 3, axis=2)
    raise ImageError(f"expected 1 or 3 channels, got an array of shape {pixels.shape}")


def align_pair(ref: Image, dist: Image, resize: Literal["none", "dist"] = "none") -> tuple[np.ndarray, np.ndarray]:
    """Makes a reference and a distorted image comparable: same channel count and same size.

    Args:
        ref: Reference image.
        dist: Distorted image.
        resize: ``"none"`` refuses pairs of different size; ``"dist"`` resamples ``dist`` to ``ref``'s size.

    Returns:
        ``(ref_pixels, dist_pixels)``, both ``HxWxC`` float32 with equal shapes. If exactly one is grey it is
        replicated to RGB.

    Raises:
        SizeMismatchError: Sizes differ and ``resize`` is ``"none"``.
        UsageError: ``resize`` is not one of the accepted values.
    """
    if resize not in ("none", "dist"):
        raise UsageError(f"resize must be 'none' or 'dist', got {resize!r}")
    r, d = ref.pixels, dist.pixels
    if r.shape[2] != d.shape[2]:
        r, d = to_rgb(r), to_rgb(d)
    if r.shape[:2] != d.shape[:2]:
        if resize == "none":
            raise SizeMismatchError(
                f"ref and dist differ in size: {ref.width}x{ref.height} vs {dist.width}x{dist.height} "
                "(WxH) — pass --resize dist to resample the distorted image, or crop"
            )
        h, w = r.shape[:2]
        shrinking = d.shape[0] * d.shape[1] > h * w
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
        resized = cv2.resize(d, (w, h), interpolation=interp)
        d = np.clip(resized.reshape(h, w, d.shape[2]), 0.0, 1.0).astype(np.float32, copy=False)
        logger.debug("resampled dist from %s to %s", dist.pixels.shape[:2], (h, w))
    return r, d


def downsize_to(pixels: np.ndarray, max_side: int) -> np.ndarray:
    """Area-averages an image so that its longer side is at most ``max_side``; smaller images are returned as is.

    The new size is ``round(side * max_side / longer side)`` (at least 1) on each axis, by ``cv2.INTER_AREA``.

    Args:
        pixels: ``HxW`` or ``HxWxC`` array (uint8 or float32, as OpenCV resizes them).
        max_side: Largest accepted length of the longer side, in pixels.

    Returns:
        The input itself when it is small enough, else a new array of the same dtype and channel count.

    Raises:
        UsageError: ``max_side`` is not positive.
    """
    if max_side < 1:
        raise UsageError(f"max_side must be a positive number of pixels, got {max_side}")
    h, w = pixels.shape[:2]
    if max(h, w) <= max_side:
        return pixels
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    out = cv2.resize(np.ascontiguousarray(pixels), size, interpolation=cv2.INTER_AREA)
    return out.reshape(size[1], size[0], *pixels.shape[2:])


def write_image(path: str | Path, pixels: np.ndarray, bit_depth: int = 8) -> None:
    """Writes pixels in [0, 1] to a PNG or TIFF file, replacing it atomically.

    Args:
        path: Target file; the extension (``.png``, ``.tif``, ``.tiff``) picks the format.
        pixels: ``HxW``, ``HxWx1`` (grey) or ``HxWx3`` (RGB) array; values are clipped to [0, 1].
        bit_depth: 8 or 16.

    Raises:
        UsageError: Unsupported extension or bit depth.
        ImageError: The pixels contain NaN, have an unsupported shape, or the file cannot be written.
    """
    path = Path(path)
    if bit_depth not in (8, 16):
        raise UsageError(f"bit_depth must be 8 or 16, got {bit_depth}")
    ext = path.suffix.lower()
    if ext not in _WRITE_EXTENSIONS:
        raise UsageError(f"cannot write '{path}': use a .png, .tif or .tiff file name")
    arr = _as_hwc(pixels)
    if arr.shape[2] not in (1, 3):
        raise ImageError(f"cannot write '{path}': expected 1 or 3 channels, got shape {pixels.shape}")
    arr = arr.astype(np.float64)
    if np.isnan(arr).any():
        raise ImageError(f"cannot write '{path}': pixels contain NaN")
    scale, dtype = (255, np.uint8) if bit_depth == 8 else (65535, np.uint16)
    out = np.rint(np.clip(arr, 0.0, 1.0) * scale).astype(dtype)
    out = out[..., 0] if out.shape[2] == 1 else np.ascontiguousarray(out[..., ::-1])
    ok, buf = cv2.imencode(ext, out)
    if not ok:
        raise ImageError(f"cannot encode '{path}' as {ext}")
    if not path.parent.is_dir():
        raise ImageError(f"cannot write '{path}': folder '{path.parent}' does not exist — create it first")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.tobytes())
        os.chmod(tmp, new_file_mode())  # mkstemp's 0o600 otherwise
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ImageError(f"cannot write '{path}': {exc.strerror or exc}") from exc


def _as_hwc(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels[:, :, None]
    if pixels.ndim == 3:
        return pixels
    raise ImageError(f"expected an HxW or HxWxC pixel array, got shape {pixels.shape}")
