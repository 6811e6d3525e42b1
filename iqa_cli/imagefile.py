"""Image file bytes before and after decoding: the container format and size read from the header (so the pixel
limit is checked before decoding), and the decoded samples brought to float levels and grey/RGB channels, as the
policies of :mod:`iqa_cli.io` say."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import cv2
import numpy as np

from iqa_cli.errors import ImageError

logger = logging.getLogger(__name__)

DECODE_FLAGS = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH
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


def read_bytes(path: Path) -> np.ndarray:
    """The file's bytes; an :class:`~iqa_cli.errors.ImageError` that says what to do when it is missing, a folder,
    unreadable or empty."""
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


def sniff(data: np.ndarray) -> str | None:
    """The container format named by the file's first bytes (``PNG``, ``JPEG``, ...), ``None`` when unknown."""
    head = data[:16].tobytes()
    for sig, kind in _SIGNATURES:
        if head.startswith(sig):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if len(head) > 1 and head[0:1] == b"P" and head[1:2] in b"123456":
        return "PNM"
    return None


def header_size(data: np.ndarray, kind: str | None) -> tuple[int, int] | None:
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
            return jpeg_size(data.tobytes())
    except struct.error:
        return None
    return None


def jpeg_size(buf: bytes) -> tuple[int, int] | None:
    """Width and height from the first start-of-frame marker of a JPEG, ``None`` when not found."""
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


def check_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    """Refuse images of more than ``max_pixels`` pixels (the decompression-bomb guard)."""
    n = int(width) * int(height)
    if n > max_pixels:
        raise ImageError(
            f"image '{path}' is {width}x{height} = {n:,} pixels, more than the limit of {max_pixels:,} "
            "(decompression-bomb guard) — raise --max-pixels if you trust the file"
        )


def declares_grey_or_palette(data: np.ndarray, kind: str | None) -> bool:
    """True for GIFs and for PNGs whose header declares grey, grey+alpha or palette colour."""
    if kind == "GIF":
        return True
    if kind == "PNG" and data.size > 25:
        return int(data[25]) in (0, 3, 4)
    return False


def to_unit_float(path: Path, arr: np.ndarray) -> tuple[np.ndarray, int]:
    """Decoded samples as float32 in [0, 1] and the source bit depth (8, 16, or 32 for float); other sample types
    are refused."""
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


_CV_DEPTHS = (np.uint8, np.uint16, np.float32)  # sample types cv2.cvtColor takes
_TO_RGB = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGB}


def normalise_channels(pixels: np.ndarray, grey_or_palette: bool) -> np.ndarray:
    """BGR(A) -> RGB, alpha dropped, grey kept as one channel; an image declared grey or palette whose colours are
    all grey becomes one channel. Works on the decoded samples of any type (the reordering is a selection, so it
    commutes with :func:`to_unit_float`; cheaper on 8-bit samples than on floats)."""
    if pixels.ndim == 2:
        return pixels[:, :, None]
    c = pixels.shape[2]
    if c in (1, 2):  # grey (+ alpha)
        return np.ascontiguousarray(pixels[:, :, :1])
    if c in _TO_RGB and pixels.dtype in _CV_DEPTHS:
        rgb = cv2.cvtColor(pixels, _TO_RGB[c])  # BGR(A) -> RGB, alpha dropped
    else:
        rgb = np.ascontiguousarray(pixels[:, :, 2::-1])
    if grey_or_palette and np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        logger.debug("palette/grey+alpha image with only grey colours: returned as grey")
        return np.ascontiguousarray(rgb[:, :, :1])
    return rgb
