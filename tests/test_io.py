"""Tests for iqa_cli.io: decoding policies, error messages, alignment and writing."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from iqa_cli.errors import ImageError, SizeMismatchError, UsageError
from iqa_cli.io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    Image,
    align_pair,
    downsize_to,
    read_image,
    to_rgb,
    to_tensor,
    write_image,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _png(width: int, height: int, colour_type: int, rows: list[bytes], depth: int = 8, extra: bytes = b"") -> bytes:
    """A hand-built PNG (filter 0 on every row) so palette and grey+alpha layouts can be tested."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + extra
        + _chunk(b"IDAT", zlib.compress(raw))
        + _chunk(b"IEND", b"")
    )


def _exif_orientation_6() -> bytes:
    """A big-endian TIFF block holding one IFD entry: Orientation (0x0112) = 6, i.e. rotate 90 degrees CW."""
    entry = struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)
    return b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry + struct.pack(">I", 0)


def _write(path: Path, arr: np.ndarray) -> Path:
    ok, buf = cv2.imencode(path.suffix, arr)
    if not ok:
        raise RuntimeError(f"cv2 could not encode {path.suffix}")
    path.write_bytes(buf.tobytes())
    return path


# ------------------------------------------------------------------------------------------- decoding


def test_rgb8_png_is_rgb_order_and_scaled(tmp_path: Path) -> None:
    bgr = np.zeros((2, 3, 3), np.uint8)
    bgr[..., 2] = 255  # red in BGR
    bgr[0, 0] = (0, 51, 0)
    img = read_image(_write(tmp_path / "a.png", bgr))
    assert img.pixels.dtype == np.float32
    assert (img.height, img.width, img.channels, img.bit_depth) == (2, 3, 3, 8)
    np.testing.assert_allclose(img.pixels[0, 1], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(img.pixels[0, 0], [0.0, 0.2, 0.0], atol=1e-7)
    assert img.path == tmp_path / "a.png"


def test_grey8_stays_one_channel(tmp_path: Path) -> None:
    img = read_image(_write(tmp_path / "g.bmp", np.full((4, 5), 128, np.uint8)))
    assert img.pixels.shape == (4, 5, 1)
    assert img.pixels[0, 0, 0] == pytest.approx(128 / 255)


def test_grey16_keeps_close_levels_distinct(tmp_path: Path) -> None:
    arr = np.array([[1000, 1001], [0, 65535]], np.uint16)
    img = read_image(_write(tmp_path / "g16.png", arr))
    assert img.bit_depth == 16 and img.channels == 1
    assert img.pixels[0, 0, 0] != img.pixels[0, 1, 0]
    np.testing.assert_allclose(img.pixels[..., 0], arr / 65535, rtol=1e-6)


def test_rgb16_tiff(tmp_path: Path) -> None:
    bgr = np.dstack([np.full((2, 2), v, np.uint16) for v in (3000, 2000, 1000)])
    img = read_image(_write(tmp_path / "c16.tif", bgr))
    assert img.bit_depth == 16
    np.testing.assert_allclose(img.pixels[0, 0], np.array([1000, 2000, 3000]) / 65535, rtol=1e-6)


def test_bgra_alpha_is_dropped_not_composited(tmp_path: Path) -> None:
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 0] = 255  # blue
    bgra[..., 3] = 0  # fully transparent: still scored as stored
    img = read_image(_write(tmp_path / "a.png", bgra))
    assert img.channels == 3
    np.testing.assert_allclose(img.pixels[0, 0], [0.0, 0.0, 1.0])


def test_grey_alpha_png_becomes_grey(tmp_path: Path) -> None:
    path = tmp_path / "ga.png"
    path.write_bytes(_png(2, 1, 4, [bytes([10, 255, 20, 0])]))
    img = read_image(path)
    np.testing.assert_allclose(img.pixels[..., 0], [[10 / 255, 20 / 255]])


def test_float32_tiff_is_clipped(tmp_path: Path) -> None:
    arr = np.array([[-0.5, 0.25], [1.5, 0.75]], np.float32)
    img = read_image(_write(tmp_path / "f.tif", arr))
    assert img.bit_depth == 32
    np.testing.assert_allclose(img.pixels[..., 0], [[0.0, 0.25], [1.0, 0.75]])


def test_palette_png_is_expanded_to_rgb(tmp_path: Path) -> None:
    plte = _chunk(b"PLTE", bytes([255, 0, 0, 0, 255, 0, 0, 0, 255]))
    path = tmp_path / "p.png"
    path.write_bytes(_png(3, 1, 3, [bytes([0, 1, 2])], extra=plte))
    img = read_image(path)
    np.testing.assert_allclose(img.pixels[0], np.eye(3))


def test_palette_png_with_only_grey_colours_reads_as_grey(tmp_path: Path) -> None:
    plte = _chunk(b"PLTE", bytes([0, 0, 0, 51, 51, 51, 255, 255, 255]))
    path = tmp_path / "pg.png"
    path.write_bytes(_png(3, 1, 3, [bytes([0, 1, 2])], extra=plte))
    img = read_image(path)
    assert img.channels == 1
    np.testing.assert_allclose(img.pixels[0, :, 0], [0.0, 0.2, 1.0], atol=1e-7)


def test_rgb_file_with_grey_content_stays_rgb(tmp_path: Path) -> None:
    img = read_image(_write(tmp_path / "c.png", np.full((2, 2, 3), 7, np.uint8)))
    assert img.channels == 3


def test_gif_is_readable(tmp_path: Path) -> None:
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[:2] = (0, 0, 255)
    img = read_image(_write(tmp_path / "a.gif", bgr))
    assert img.channels == 3
    np.testing.assert_allclose(img.pixels[0, 0], [1.0, 0.0, 0.0], atol=0.02)  # cv2's GIF encoder quantises


def test_jpeg_exif_orientation_is_applied(tmp_path: Path) -> None:
    bgr = np.zeros((20, 40, 3), np.uint8)
    bgr[:, :20] = (0, 0, 255)  # stored: 40 wide, red on the left
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 100])
    assert ok
    payload = b"Exif\x00\x00" + _exif_orientation_6()
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    raw = buf.tobytes()
    path = tmp_path / "rot.jpg"
    path.write_bytes(raw[:2] + app1 + raw[2:])
    img = read_image(path)
    assert (img.width, img.height) == (20, 40)  # rotated 90 degrees clockwise
    assert img.pixels[2, 10, 0] > 0.9  # stored left half is now the top half
    assert img.pixels[-3, 10, 0] < 0.1


def test_non_ascii_path(tmp_path: Path) -> None:
    img = read_image(_write(tmp_path / "réf ü 画像.png", np.zeros((2, 2), np.uint8)))
    assert img.channels == 1


def test_extensions_are_lower_case_and_readable(tmp_path: Path) -> None:
    assert all(e == e.lower() and e.startswith(".") for e in IMAGE_EXTENSIONS)
    for ext in IMAGE_EXTENSIONS - {".pgm"}:
        assert read_image(_write(tmp_path / f"x{ext}", np.zeros((4, 4, 3), np.uint8))).width == 4
    assert read_image(_write(tmp_path / "x.pgm", np.zeros((4, 4), np.uint8))).width == 4


def test_goldhill_gif_reads_as_grey() -> None:
    path = SHARED_DATA / "samples" / "grayscale_goldhill" / "goldhill.gif"
    if not path.is_file():
        pytest.skip("shared sample data not available")
    img = read_image(path)
    assert img.channels == 1 and img.bit_depth == 8


# ------------------------------------------------------------------------------------------- errors


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nope\.png': file not found — check the path"):
        read_image(tmp_path / "nope.png")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="it is a folder, not a file"):
        read_image(tmp_path)


def test_permission_denied(tmp_path: Path) -> None:
    path = _write(tmp_path / "locked.png", np.zeros((2, 2), np.uint8))
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who can read mode-000 files (root)")
        with pytest.raises(ImageError, match=r"locked\.png': permission denied"):
            read_image(path)
    finally:
        path.chmod(0o644)


def test_permission_denied_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "locked.png", np.zeros((2, 2), np.uint8))

    def _denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(np, "fromfile", _denied)  # works even as root, unlike chmod
    with pytest.raises(ImageError, match=r"locked\.png': permission denied — check the file's permissions"):
        read_image(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.png': the file is empty \(0 bytes\)"):
        read_image(path)


def test_truncated_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    ok, buf = cv2.imencode(".png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    path = tmp_path / "cut.png"
    path.write_bytes(buf.tobytes()[: len(buf) // 2])
    with pytest.raises(ImageError, match=r"cut\.png': the PNG data is truncated or corrupt"):
        read_image(path)


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello, I am text\n")
    with pytest.raises(ImageError, match=r"notes\.png': not a recognised image format"):
        read_image(path)


def test_too_many_pixels_from_png_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _write(tmp_path / "big.png", np.zeros((10, 20), np.uint8))

    def _no_decode(*args: object) -> None:
        raise AssertionError("decoded before the size check")

    monkeypatch.setattr(cv2, "imdecode", _no_decode)
    with pytest.raises(ImageError, match=r"big\.png' is 20x10 = 200 pixels, more than the limit of 199"):
        read_image(path, max_pixels=199)


@pytest.mark.parametrize("ext", [".jpg", ".bmp", ".gif", ".tif"])
def test_too_many_pixels_other_formats(tmp_path: Path, ext: str) -> None:
    path = _write(tmp_path / f"big{ext}", np.zeros((10, 20, 3), np.uint8))
    with pytest.raises(ImageError, match=r"20x10 = 200 pixels.*raise --max-pixels"):
        read_image(path, max_pixels=100)
    assert read_image(path, max_pixels=200).width == 20
    assert DEFAULT_MAX_PIXELS == 100_000_000


def test_unsupported_dtype(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.tif", np.zeros((2, 2), np.int16))
    with pytest.raises(ImageError, match=r"s\.tif': unsupported sample type int16 — convert"):
        read_image(path)


def test_image_validates_pixels() -> None:
    with pytest.raises(ImageError, match="float32 HxWxC"):
        Image(path=None, pixels=np.zeros((2, 2, 3), np.uint8), bit_depth=8)


# ------------------------------------------------------------------------------------------- conversions


def test_to_tensor_and_to_rgb() -> None:
    grey = np.arange(6, dtype=np.float32).reshape(2, 3, 1) / 10
    t = to_tensor(grey)
    assert tuple(t.shape) == (1, 1, 2, 3) and t.dtype.is_floating_point
    rgb = to_rgb(grey)
    assert rgb.shape == (2, 3, 3)
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])
    assert tuple(to_tensor(rgb).shape) == (1, 3, 2, 3)
    assert to_rgb(rgb) is rgb
    with pytest.raises(ImageError, match="expected 1 or 3 channels"):
        to_rgb(np.zeros((2, 2, 2), np.float32))


def _img(h: int, w: int, c: int, value: float = 0.5) -> Image:
    return Image(path=None, pixels=np.full((h, w, c), value, np.float32), bit_depth=8)


def test_align_pair_replicates_grey() -> None:
    r, d = align_pair(_img(4, 5, 3), _img(4, 5, 1))
    assert r.shape == d.shape == (4, 5, 3)
    r, d = align_pair(_img(4, 5, 1), _img(4, 5, 1))
    assert r.shape == d.shape == (4, 5, 1)


def test_align_pair_size_mismatch_message() -> None:
    with pytest.raises(
        SizeMismatchError,
        match=r"ref and dist differ in size: 512x384 vs 512x383 \(WxH\) — pass --resize dist",
    ):
        align_pair(_img(384, 512, 1), _img(383, 512, 1))


@pytest.mark.parametrize(("h", "w"), [(8, 10), (2, 3), (4, 10)])
def test_align_pair_resize_dist(h: int, w: int) -> None:
    r, d = align_pair(_img(4, 5, 3), _img(h, w, 1, value=1.0), resize="dist")
    assert r.shape == d.shape == (4, 5, 3)
    assert d.dtype == np.float32 and d.max() <= 1.0
    with pytest.raises(UsageError, match="resize must be"):
        align_pair(_img(4, 5, 3), _img(4, 5, 3), resize="both")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- writing


@pytest.mark.parametrize(("name", "bit_depth", "channels"), [("a.png", 8, 3), ("b.png", 16, 1), ("c.tif", 16, 3)])
def test_write_read_round_trip(tmp_path: Path, name: str, bit_depth: int, channels: int) -> None:
    rng = np.random.default_rng(1)
    pixels = rng.random((5, 6, channels), dtype=np.float32)
    path = tmp_path / name
    write_image(path, pixels, bit_depth=bit_depth)
    img = read_image(path)
    assert img.bit_depth == bit_depth and img.channels == channels
    np.testing.assert_allclose(img.pixels, pixels, atol=0.5 / (2**bit_depth - 1) + 1e-6)
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left behind


def test_write_image_errors(tmp_path: Path) -> None:
    px = np.zeros((2, 2, 3), np.float32)
    with pytest.raises(UsageError, match="use a .png, .tif or .tiff"):
        write_image(tmp_path / "a.jpg", px)
    with pytest.raises(UsageError, match="bit_depth must be 8 or 16"):
        write_image(tmp_path / "a.png", px, bit_depth=12)
    with pytest.raises(ImageError, match="does not exist — create it first"):
        write_image(tmp_path / "missing" / "a.png", px)
    with pytest.raises(ImageError, match="contain NaN"):
        write_image(tmp_path / "a.png", np.full((2, 2, 3), np.nan, np.float32))


def test_written_image_gets_the_umask_mode_not_mkstemps(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_image(tmp_path / "out.png", np.zeros((4, 4, 3), np.float32))
    finally:
        os.umask(old)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("shape", "dtype", "max_side", "expected"),
    [
        ((300, 481, 3), np.uint8, 128, (80, 128, 3)),  # round(300 * 128 / 481) = 80
        ((481, 300, 1), np.float32, 128, (128, 80, 1)),  # the channel axis survives OpenCV's grey resize
        ((40, 1000), np.float32, 100, (4, 100)),
        ((3, 2000, 3), np.float32, 100, (1, 100, 3)),  # never below one pixel
    ],
)
def test_downsize_to_area_averages_to_the_longer_side(
    shape: tuple[int, ...], dtype: type, max_side: int, expected: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(0)
    img = (rng.random(shape) * 255).astype(dtype)
    out = downsize_to(img, max_side)
    assert out.shape == expected and out.dtype == img.dtype
    direct = cv2.resize(img, (expected[1], expected[0]), interpolation=cv2.INTER_AREA)
    assert np.array_equal(out, direct.reshape(expected))


def test_downsize_to_leaves_small_images_alone_and_checks_its_argument() -> None:
    img = np.zeros((64, 48, 3), np.float32)
    assert downsize_to(img, 64) is img
    with pytest.raises(UsageError, match="max_side must be a positive number of pixels, got 0"):
        downsize_to(img, 0)
