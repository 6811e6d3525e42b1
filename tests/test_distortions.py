"""Tests of iqa_cli.synth: the strength-parametrised registry (distortions), its kernels and the KADID re-creations."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from iqa_cli.errors import ImageError, UsageError
from iqa_cli.synth import degradations, kadid, kernels
from iqa_cli.synth import distortions as dist

# KADID development levels (type_id -> parameters of levels 1..5), as in kadid_dev_conditions.csv.
KADID_LEVELS = {
    1: (0.1, 0.5, 1.0, 2.0, 5.0),
    3: (1.0, 2.0, 4.0, 6.0, 10.0),
    5: (1.0, 3.0, 6.0, 8.0, 12.0),
    7: (0.4, 0.2, 0.1, 0.0, -0.4),
    10: (43.0, 36.0, 24.0, 7.0, 4.0),
    11: (0.001, 0.002, 0.003, 0.005, 0.01),
    13: (0.001, 0.005, 0.01, 0.02, 0.03),
    15: (0.01, 0.03, 0.05, 0.1, 0.15),
    16: (0.1, 0.2, 0.4, 0.7, 1.1),
    19: (0.05, 0.1, 0.2, 0.5, 1.0),
    21: (0.01, 0.05, 0.1, 0.2, 0.5),
    23: (2.0, 4.0, 6.0, 8.0, 10.0),
    25: (0.3, 0.15, 0.0, -0.4, -0.6),
}


def synthetic(h: int = 48, w: int = 64, c: int = 3, seed: int = 0) -> np.ndarray:
    """Textured test image: colour gradients, an aperiodic (chirped) checker and fixed-seed noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    checker = ((np.sin(40.0 * x**1.5 + 3.0 * x) > 0) ^ (np.sin(30.0 * y**1.3 + 2.0 * y) > 0)).astype(float)
    base = np.stack([0.2 + 0.6 * x, 0.3 + 0.5 * y, 0.5 + 0.3 * np.sin(6.0 * x + 4.0 * y)], axis=-1)
    img = 0.6 * base + 0.25 * checker[..., None] + 0.1 * rng.random((h, w, 3))
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    return img if c == 3 else img.mean(axis=2, keepdims=True)


def degradation(name: str, ref: np.ndarray, out: np.ndarray) -> float:
    """How far ``out`` is from ``ref``.

    Mean absolute difference everywhere except ``pixelate``: nearest-neighbour resampling at a mild zoom
    (z ~ 0.9) shifts whole runs of pixels by one, so its MAD is not monotone in z; the share of distinct
    colours lost is (every source pixel of the noisy test image is distinct).
    """
    if name == "pixelate":
        n = ref.shape[0] * ref.shape[1]
        return 1.0 - len(np.unique(out.reshape(-1, out.shape[2]), axis=0)) / n
    return float(np.abs(out.astype(np.float64) - ref).mean())


def rng(seed: int = 1) -> np.random.Generator:
    return np.random.default_rng(seed)


# ------------------------------------------------------------------------------------ registry


def test_registry_is_consistent() -> None:
    assert set(dist.ANCHORS) == set(dist.DISTORTIONS)
    for name, spec in dist.DISTORTIONS.items():
        assert spec.name == name
        assert spec.family in dist.FAMILIES
        table = np.diff(dist.ANCHORS[name])
        assert np.all(table >= 0) or np.all(table <= 0), f"{name}: anchor table is not monotone"
    assert {spec.family for spec in dist.DISTORTIONS.values()} == set(dist.FAMILIES)


@pytest.mark.parametrize("name", list(dist.DISTORTIONS))
def test_distortion_contract(name: str) -> None:
    img = synthetic()
    zero = dist.apply(name, img, 0.0, rng())
    assert zero is not img
    assert np.array_equal(zero, img), "strength 0 must be the identity"
    scores = []
    for strength in (0.2, 0.5, 1.0):
        out = dist.apply(name, img, strength, rng())
        assert out.shape == img.shape
        assert out.dtype == np.float32
        assert out.min() >= 0.0 and out.max() <= 1.0
        scores.append(degradation(name, img, out))
    assert scores[0] <= scores[1] <= scores[2], f"{name}: degradation {scores} not monotone"
    assert scores[2] > 0.0
    again = dist.apply(name, img, 0.5, rng())
    assert np.array_equal(again, dist.apply(name, img, 0.5, rng())), "same seed must give the same image"


@pytest.mark.parametrize("name", list(dist.DISTORTIONS))
def test_grey_input(name: str) -> None:
    grey = synthetic(c=1)
    if dist.DISTORTIONS[name].grey_ok:
        out = dist.apply(name, grey, 0.7, rng())
        assert out.shape == grey.shape and out.dtype == grey.dtype
        assert out.min() >= 0.0 and out.max() <= 1.0
    else:
        with pytest.raises(UsageError, match=rf"{name}.*needs an RGB image"):
            dist.apply(name, grey, 0.7, rng())


def test_dtype_is_preserved() -> None:
    img = synthetic().astype(np.float64)
    out = dist.apply("gaussian_blur", img, 0.7, rng())
    assert out.dtype == np.float64 and out.shape == img.shape


def test_unknown_name_suggests_close_match() -> None:
    with pytest.raises(UsageError, match=r"unknown distortion 'gausian_blur'.*Did you mean gaussian_blur"):
        dist.apply("gausian_blur", synthetic(), 0.5, rng())


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan"), "0.5"])
def test_bad_strength(strength: object) -> None:
    with pytest.raises(UsageError, match=r"strength must be a number in \[0, 1\]"):
        dist.apply("jpeg", synthetic(), strength, rng())  # type: ignore[arg-type]


def test_bad_image() -> None:
    with pytest.raises(ImageError, match=r"C = 1 or 3"):
        dist.apply("jpeg", np.zeros((8, 8, 4), np.float32), 0.5, rng())
    with pytest.raises(ImageError, match=r"divide uint8 by 255"):
        dist.apply("jpeg", np.zeros((8, 8, 3), np.uint8), 0.5, rng())


def test_names_filters() -> None:
    assert dist.names() == list(dist.DISTORTIONS)
    assert set(dist.names(["blur"])) == {"gaussian_blur", "lens_blur", "motion_blur"}
    grey = dist.names(grey=True)
    assert "jpeg" in grey and "desaturate" not in grey
    with pytest.raises(UsageError, match=r"unknown distortion family blurry"):
        dist.names(["blurry"])


def test_random_distortion() -> None:
    img = synthetic()
    out, name, strength = dist.random_distortion(img, rng(3))
    out2, name2, strength2 = dist.random_distortion(img, rng(3))
    assert (name, strength) == (name2, strength2) and np.array_equal(out, out2)
    assert 0.0 < strength <= 1.0 and name in dist.DISTORTIONS
    picked = {dist.random_distortion(synthetic(c=1), rng(s))[1] for s in range(20)}
    assert picked <= set(dist.names(grey=True))
    _, name, _ = dist.random_distortion(img, rng(0), names=["jpeg"])
    assert name == "jpeg"
    with pytest.raises(UsageError, match="at least one"):
        dist.random_distortion(img, rng(0), names=[])


def test_motion_kernel_matches_fspecial() -> None:
    np.testing.assert_allclose(kernels.motion_kernel(5, 0), np.full((1, 5), 0.2), atol=1e-12)
    expected = [[0.0, 0.0754, 0.1883], [0.0754, 0.3215, 0.0754], [0.1883, 0.0754, 0.0]]
    np.testing.assert_allclose(kernels.motion_kernel(3, 45), expected, atol=1e-4)


# ---------------------------------------------------------------------------------------- KADID


def is_8bit(img: np.ndarray) -> bool:
    scaled = img.astype(np.float64) * 255.0
    return bool(np.allclose(scaled, np.rint(scaled), atol=1e-3))


def test_kadid_reference() -> None:
    img = synthetic() * 0.5 + 0.2
    ref = kadid.kadid_reference(img)
    assert ref.dtype == np.float32 and is_8bit(ref)
    assert ref.min() == 0.0 and ref.max() == 1.0
    assert np.array_equal(kadid.kadid_reference(ref), ref)


@pytest.mark.parametrize(("type_id", "level"), [(t, lv) for t in KADID_LEVELS for lv in range(1, 6)])
def test_kadid_conditions(type_id: int, level: int) -> None:
    img = synthetic()
    out = kadid.kadid_distort(img, type_id, KADID_LEVELS[type_id][level - 1], rng())
    assert out.shape == img.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0 and is_8bit(out)
    assert np.array_equal(out, kadid.kadid_distort(img, type_id, KADID_LEVELS[type_id][level - 1], rng()))


def test_kadid_jpeg_is_cv2_encode_decode() -> None:
    ref = kadid.kadid_reference(synthetic())
    bgr = np.rint(ref[..., ::-1] * 255).astype(np.uint8)
    _, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, 43])
    dec = cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1].astype(np.float64)
    expected = np.rint((dec - dec.min()) / (dec.max() - dec.min()) * 255.0) / 255.0
    np.testing.assert_array_equal(kadid.kadid_distort(synthetic(), 10, 43.0, rng()), expected.astype(np.float32))


def test_kadid_distort_starts_from_the_reference() -> None:
    img = synthetic() * 0.7 + 0.1
    a = kadid.kadid_distort(img, 11, 0.005, rng())
    b = kadid.kadid_distort(kadid.kadid_reference(img), 11, 0.005, rng())
    np.testing.assert_array_equal(a, b)


def test_kadid_literal_effects() -> None:
    img = synthetic()
    ref = kadid.kadid_reference(img)
    grey = kadid.kadid_distort(img, 7, 0.0, rng())
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    level3 = np.abs(kadid.kadid_distort(img, 25, 0.0, rng()) - ref).mean()  # a = 0: nearly identity
    level1 = np.abs(kadid.kadid_distort(img, 25, 0.3, rng()) - ref).mean()
    assert level3 < 0.05 and level3 < 0.5 * level1
    assert np.abs(kadid.kadid_distort(img, 1, 0.1, rng()) - ref).max() <= 1.5 / 255  # sigma 0.1: ~identity
    assert kadid.kadid_distort(img, 16, 1.1, rng()).mean() > ref.mean() + 0.1
    salt = kadid.kadid_distort(img, 13, 0.03, rng())
    assert 0.01 < np.mean((salt != ref) & ((salt == 0) | (salt == 1))) < 0.05
    blocks = degradations.colour_blocks(ref, 2, 32, rng())  # kadid_distort re-stretches, so test the pasting
    changed = np.any(blocks != ref, axis=2)
    assert 32 * 32 * 0.9 < changed.sum() <= 2 * 32 * 32
    assert len(np.unique(blocks[changed], axis=0)) <= 2
    assert kadid.kadid_distort(img, 3, 1.0, rng()) == pytest.approx(ref, abs=1.5 / 255)  # length 1: identity


def test_kadid_pixelate_keeps_expected_share() -> None:
    img = synthetic()
    out = kadid.kadid_distort(img, 21, 0.5, rng())  # z = 0.95 - 0.5**0.6 = 0.290
    n_rows = len(np.unique(out[:, :1].reshape(48, -1), axis=0))
    assert n_rows <= np.ceil(0.290 * 48)


def test_kadid_errors() -> None:
    with pytest.raises(UsageError, match=r"unknown KADID type_id 2; the development conditions have 1 \("):
        kadid.kadid_distort(synthetic(), 2, 1.0, rng())
    with pytest.raises(UsageError, match=r"KADID type 7 .* needs an RGB image"):
        kadid.kadid_distort(synthetic(c=1), 7, 0.2, rng())
    grey = kadid.kadid_distort(synthetic(c=1), 16, 0.4, rng())
    assert grey.shape == (48, 64, 1) and is_8bit(grey)
