"""Image files to float pixels in [0, 1], and back.

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
import struct
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from iqa_cli.atomic import new_file_mode
from iqa_cli.errors import ImageError, SizeMismatchError, UsageError

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS: int = 100_000_000
"""Decompression-bomb guard: largest accepted width x height (the CLI exposes it as ``--max-pixels``)."""

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm", ".gif"}
)
"""Lower-case file extensions treated as images by folder discovery (all decodable by this OpenCV build)."""

_DECODE_FLAGS = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (_PNG_SIGNATURE, "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
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
    data = _read_bytes(path)
    kind = _sniff(data)
    size = _header_size(data, kind)
    if size is not None:
        _check_size(path, size[0], size[1], max_pixels)
    try:
        arr = cv2.imdecode(data, _DECODE_FLAGS)
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
    _check_size(path, arr.shape[1], arr.shape[0], max_pixels)
    pixels, bit_depth = _to_unit_float(path, arr)
    pixels = _normalise_channels(pixels, _declares_grey_or_palette(data, kind))
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


# --------------------------------------------------------------------------------------------- helpers


def _read_bytes(path: Path) -> np.ndarray:
    if not path.exists():
        raise ImageError(f"cannot read image '{path}': file not found — check the path")
    if path.is_dir():
        raise ImageError(f"cannot read image '{path}': it is a folder, not a file — pass an image file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except PermissionError as exc:
        raise ImageError(f"cannot read image '{path}': permission denied — check the file's permissions") from exc
    except OSError as exc:
        raise ImageError(f"cannot read image '{path}': {exc.strerror or exc}") from exc
    if data.size == 0:
        raise ImageError(f"cannot read image '{path}': the file is empty (0 bytes) — re-export or re-copy it")
    return data


def _sniff(data: np.ndarray) -> str | None:
    head = data[:16].tobytes()
    for sig, kind in _SIGNATURES:
        if head.startswith(sig):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if len(head) > 1 and head[0:1] == b"P" and head[1:2] in b"123456":
        return "PNM"
    return None


def _header_size(data: np.ndarray, kind: str | None) -> tuple[int, int] | None:
    """Width and height from the file header, without decoding; ``None`` when unknown."""
    try:
        if kind == "PNG":
            if data[12:16].tobytes() == b"IHDR":
                w, h = struct.unpack(">II", data[16:24].tobytes())
                return w, h
        elif kind == "GIF":
            w, h = struct.unpack("<HH", data[6:10].tobytes())
            return w, h
        elif kind == "BMP":
            (hdr,) = struct.unpack("<I", data[14:18].tobytes())
            fmt = "<HH" if hdr == 12 else "<ii"
            w, h = struct.unpack(fmt, data[18 : 18 + struct.calcsize(fmt)].tobytes())
            return abs(w), abs(h)
        elif kind == "JPEG":
            return _jpeg_size(data.tobytes())
    except struct.error:
        return None
    return None


def _jpeg_size(buf: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(buf):
        if buf[i] != 0xFF:
            return None
        marker = buf[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if 0xD0 <= marker <= 0xD9 or marker == 0x01:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", buf[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", buf[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def _check_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    n = int(width) * int(height)
    if n > max_pixels:
        raise ImageError(
            f"image '{path}' is {width}x{height} = {n:,} pixels, more than the limit of {max_pixels:,} "
            "(decompression-bomb guard) — raise --max-pixels if you trust the file"
        )


def _declares_grey_or_palette(data: np.ndarray, kind: str | None) -> bool:
    """True for GIFs and for PNGs whose header declares grey, grey+alpha or palette colour."""
    if kind == "GIF":
        return True
    if kind == "PNG" and data.size > 25:
        return int(data[25]) in (0, 3, 4)
    return False


def _to_unit_float(path: Path, arr: np.ndarray) -> tuple[np.ndarray, int]:
    if arr.dtype == np.uint8:
        return np.divide(arr, 255, dtype=np.float32), 8
    if arr.dtype == np.uint16:
        return np.divide(arr, 65535, dtype=np.float32), 16
    if arr.dtype.kind == "f":
        if np.isnan(arr).any():
            raise ImageError(f"cannot use image '{path}': it contains NaN samples")
        return np.clip(arr, 0.0, 1.0).astype(np.float32), 32
    raise ImageError(
        f"cannot use image '{path}': unsupported sample type {arr.dtype} — "
        "convert it to 8- or 16-bit unsigned, or to float TIFF"
    )


def _normalise_channels(pixels: np.ndarray, grey_or_palette: bool) -> np.ndarray:
    """BGR(A) -> RGB, alpha dropped, grey kept as one channel."""
    if pixels.ndim == 2:
        return pixels[:, :, None]
    c = pixels.shape[2]
    if c in (1, 2):  # grey (+ alpha)
        return np.ascontiguousarray(pixels[:, :, :1])
    rgb = np.ascontiguousarray(pixels[:, :, 2::-1])  # BGR(A) -> RGB, alpha dropped
    all_grey = np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2])
    if grey_or_palette and all_grey:
        logger.debug("palette/grey+alpha image with only grey colours: returned as grey")
        return np.ascontiguousarray(rgb[:, :, :1])
    return rgb


def _as_hwc(pixels: np.ndarray) -> np.ndarray:
    if pixels.ndim == 2:
        return pixels[:, :, None]
    if pixels.ndim == 3:
        return pixels
    raise ImageError(f"expected an HxW or HxWxC pixel array, got shape {pixels.shape}")
