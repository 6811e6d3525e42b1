"""The learned stand-in for KADID's DnCNN (iqa_cli.synth.denoiser) and its trainer (iqa_cli.train.denoiser)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import textured

from iqa_cli.synth import kadid
from iqa_cli.synth.denoiser import SmallDnCNN, denoise, load_denoiser
from iqa_cli.train.denoiser import noisy_batch, train_denoiser


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    return 10.0 * math.log10(1.0 / float(np.mean((a.astype(np.float64) - b) ** 2)))


def test_shipped_denoiser_loads_strictly_and_removes_most_of_the_noise() -> None:
    model = load_denoiser()
    assert isinstance(model, SmallDnCNN) and not model.training
    clean = textured(96, 128, 3, seed=3)
    noisy = np.round(np.clip(clean + np.random.default_rng(0).normal(0, 25 / 255, clean.shape), 0, 1) * 255) / 255
    out = denoise(noisy.astype(np.float32))
    assert out.shape == clean.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert _psnr(out, clean) > _psnr(noisy, clean) + 4.0


def test_kadid_denoise_type_uses_it_deterministically_on_rgb_and_grey() -> None:
    rgb = textured(64, 80, 3, seed=1)
    a = kadid.kadid_distort(rgb, 15, 0.01, np.random.default_rng(5))
    b = kadid.kadid_distort(rgb, 15, 0.01, np.random.default_rng(5))
    assert np.array_equal(a, b) and a.shape == rgb.shape
    grey = textured(64, 80, 1, seed=2)
    g = kadid.kadid_distort(grey, 15, 0.03, np.random.default_rng(5))
    assert g.shape == grey.shape


def test_noisy_batch_is_clean_plus_clipped_8bit_noise() -> None:
    images = [(textured(60, 60, 3, seed=s) * 255).astype(np.uint8) for s in range(2)]
    noisy, clean = noisy_batch(images, 4, 48, np.random.default_rng(0))
    assert noisy.shape == clean.shape == (4, 3, 48, 48)
    assert torch.equal(torch.round(noisy * 255) / 255, noisy)  # on the 8-bit grid
    assert float(noisy.min()) >= 0.0 and float(noisy.max()) <= 1.0


def test_a_few_training_steps_lower_the_loss_and_keep_the_shape() -> None:
    images = [(textured(64, 64, 3, seed=s) * 255).astype(np.uint8) for s in range(3)]
    model = train_denoiser(images, steps=40, batch=8, patch=32, depth=3, width=8, lr=3e-3)
    noisy, clean = noisy_batch(images, 16, 32, np.random.default_rng(9))
    fresh = SmallDnCNN(3, 8)
    with torch.no_grad():
        trained_err = float(((model(noisy) - clean) ** 2).mean())
        fresh_err = float(((fresh(noisy) - clean) ** 2).mean())
    assert trained_err < fresh_err
    assert model(noisy).shape == noisy.shape


@pytest.mark.parametrize("depth", [2, 5])
def test_depth_and_width_set_the_layers(depth: int) -> None:
    model = SmallDnCNN(depth, 4)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == depth
