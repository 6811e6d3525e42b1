"""Shared fixtures: tiny deterministic images, a random-weights causal model, devices, the shared data folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

# One intra-op thread: the images are tiny, and on a busy 2-core box torch's default threads spin and make
# every forward pass tens of times slower. Set before anything imports torch (subprocesses inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def textured(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    """Deterministic textured content in [0, 1], ``HxWxC`` float32: gratings, an edge and fine noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    planes = []
    for c in range(channels):
        fx, fy, phase = rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.4), rng.uniform(0, 2 * np.pi)
        grating = 0.22 * np.sin(fx * x + phase) * np.cos(fy * y)
        edge = 0.15 * (x > width * (0.3 + 0.1 * c))
        planes.append(0.4 + grating + edge + 0.12 * rng.random((height, width)))
    return np.clip(np.stack(planes, axis=2), 0.0, 1.0).astype(np.float32)


def degrade(pixels: np.ndarray, level: float, seed: int = 1) -> np.ndarray:
    """Additive gaussian noise of standard deviation ``level`` (monotone: larger = worse)."""
    rng = np.random.default_rng(seed)
    return np.clip(pixels + level * rng.standard_normal(pixels.shape), 0.0, 1.0).astype(np.float32)


def write_png(path: Path, pixels: np.ndarray, bit_depth: int = 8) -> Path:
    """Write ``HxWxC`` (C 1 or 3, RGB) pixels in [0, 1] as an 8- or 16-bit PNG with OpenCV."""
    scale, dtype = (255, np.uint8) if bit_depth == 8 else (65535, np.uint16)
    out = np.rint(np.clip(pixels, 0.0, 1.0) * scale).astype(dtype)
    out = out[..., 0] if out.shape[2] == 1 else np.ascontiguousarray(out[..., ::-1])
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), out):
        raise OSError(f"cv2 could not write {path}")
    return path


ImageFactory = Callable[..., Path]


@pytest.fixture
def make_image(tmp_path: Path) -> ImageFactory:
    """Factory writing a textured PNG under ``tmp_path``.

    ``make_image("a/ref.png", size=(32, 40), channels=3, bit_depth=8, seed=0, noise=0.0)`` -> path; ``noise`` is
    the standard deviation of added gaussian noise (a monotone distortion), ``size`` is (height, width).
    """

    def make(
        name: str,
        size: tuple[int, int] = (32, 32),
        channels: int = 3,
        bit_depth: int = 8,
        seed: int = 0,
        noise: float = 0.0,
    ) -> Path:
        pixels = textured(size[0], size[1], channels, seed)
        if noise:
            pixels = degrade(pixels, noise, seed=seed + 1000)
        return write_png(tmp_path / name, pixels, bit_depth)

    return make


@pytest.fixture
def rgb_png(make_image: ImageFactory) -> ImageFactory:
    """Factory for 8-bit RGB PNGs (see :func:`make_image`)."""

    def make(name: str = "rgb.png", **kw: object) -> Path:
        return make_image(name, channels=3, bit_depth=8, **kw)

    return make


@pytest.fixture
def grey16_png(make_image: ImageFactory) -> ImageFactory:
    """Factory for 16-bit grey PNGs (see :func:`make_image`)."""

    def make(name: str = "grey16.png", **kw: object) -> Path:
        return make_image(name, channels=1, bit_depth=16, **kw)

    return make


@pytest.fixture
def image_pair(make_image: ImageFactory) -> tuple[Path, Path]:
    """(ref, dist) 8-bit RGB 32x32 PNGs; dist carries gaussian noise of sigma 0.1."""
    return make_image("ref.png"), make_image("dist.png", noise=0.1)


def random_causal_model(seed: int = 0, factory=None):  # -> CausalIQA
    """A CausalIQA with seeded random parameters and a few-label head that is not constant.

    A freshly built model has ``fl_weights == 0`` and so scores 100 for everything; positive head weights make
    scores fall with degradation (still exactly 100 for identical images).
    """
    import torch

    from iqa_cli.models.causal import CausalIQA

    torch.manual_seed(seed)
    model = factory() if factory is not None else CausalIQA()
    with torch.no_grad():
        model.fl_weights.copy_(torch.rand(model.fl_weights.shape) * 2.0)
    return model.eval()


@pytest.fixture(scope="session")
def random_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ``causal-iqa`` weights file with seeded random parameters (pass it with ``--weights``)."""
    from iqa_cli.weights import save_weights

    model = random_causal_model(0)
    path = tmp_path_factory.mktemp("weights") / "random-causal.safetensors"
    save_weights(path, model.state_dict(), {"model": "causal-iqa", "config": model.config.to_dict()})
    return path


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "cuda: runs on a CUDA GPU (skipped where none is available)")


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request: pytest.FixtureRequest) -> str:
    """Device string: "cpu", and "cuda" (skipped when no CUDA GPU is available)."""
    if request.param == "cuda" and not _cuda_available():
        pytest.skip("no CUDA GPU available")
    return request.param


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA
