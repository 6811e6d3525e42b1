"""The inputs of a domain adaptation (``iqa adapt``): finding and reading the clean domain images, the pool of
synthetic degradations to train on, and the features the label-free head is refitted on."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from iqa_cli.errors import ImageError, TrainingError, UsageError
from iqa_cli.train.features import Progress, collect_features

if TYPE_CHECKING:
    from iqa_cli.models.causal import CausalIQA

MIN_SIDE = 32
"""Smallest image side (px) an adaptation accepts: the smallest training crop."""
DEFAULT_MAX_SIDE = 512
DEFAULT_FIT_SAMPLES = 384
FIT_CROP = 128


def parse_degradations(spec: str | Sequence[str] | None, grey: bool = False) -> list[str]:
    """Turn ``"noise:2,blur:1"`` (families or distortion names, optional integer weights) into a sampling pool.

    A weight ``w`` repeats every distortion of that family (or that name) ``w`` times in the pool, after dividing
    all weights by their greatest common divisor; the training sampler draws uniformly from the pool.

    Args:
        spec: comma-separated string or list of items; None or empty = every family.
        grey: keep only grey-capable distortions (a grey domain); naming a colour-only one is an error.

    Returns:
        Distortion names, repeated by weight, in registry order within each item.

    Raises:
        UsageError: unknown family or name, a bad weight, or a colour-only distortion for a grey domain.
    """
    from iqa_cli.synth import distortions

    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else (spec or []))]
    items = [s for s in items if s]
    if not items:
        return distortions.names(grey=grey)
    parsed: list[tuple[list[str], int]] = []
    for item in items:
        key, _, weight_text = item.partition(":")
        key = key.strip()
        weight = 1
        if weight_text:
            try:
                weight = int(weight_text)
            except ValueError:
                weight = 0
            if weight < 1:
                raise UsageError(f"degradation weight in {item!r} must be a whole number >= 1, e.g. noise:2")
        if key in distortions.FAMILIES:
            members = distortions.names([key], grey=grey)
            if not members:
                raise UsageError(f"degradation family {key!r} has no grey-capable distortion; the domain is grey")
        elif key in distortions.DISTORTIONS:
            if grey and not distortions.DISTORTIONS[key].grey_ok:
                raise UsageError(
                    f"degradation {key!r} needs colour but the domain images are grey; "
                    f"grey-capable: {', '.join(distortions.names(grey=True))}"
                )
            members = [key]
        else:
            raise UsageError(
                f"unknown degradation {key!r}: expected a family ({', '.join(distortions.FAMILIES)}) "
                "or a distortion name (see iqa_cli.synth.distortions.names())"
            )
        parsed.append((members, weight))
    g = math.gcd(*[w for _, w in parsed])
    pool: list[str] = []
    for members, weight in parsed:
        for name in members:
            pool.extend([name] * (weight // g))
    return pool


def discover_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Image files from files and folders (folders searched recursively, hidden entries skipped), de-duplicated.

    Raises:
        UsageError: a path does not exist.
        TrainingError: a folder holds no image file.
    """
    from iqa_cli.pairs import iter_images

    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = iter_images(path)
            if not files:
                raise TrainingError(f"folder {path} holds no image files — pass folders of domain images")
            found.extend(files)
        elif path.exists():
            found.append(path)
        else:
            raise UsageError(f"{path} does not exist — pass image files or folders of domain images")
    return dedupe(found)


def dedupe(paths: Iterable[Path]) -> list[Path]:
    """``paths`` in order without repeats (two paths to one file count once)."""
    seen: set[Path] = set()
    out = []
    for p in paths:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def load_domain_images(paths: Sequence[Path], max_side: int = DEFAULT_MAX_SIDE) -> tuple[list[np.ndarray], bool]:
    """Read and check domain images; returns float32 ``HxWxC`` arrays (C 1 if every image is grey) and grey.

    Raises:
        TrainingError: listing every unreadable file, or every image smaller than :data:`MIN_SIDE`.
    """
    from iqa_cli.io import downsize_to, read_image, to_rgb

    images: list[np.ndarray] = []
    unreadable: list[str] = []
    small: list[str] = []
    for path in paths:
        try:
            img = read_image(path)
        except ImageError as exc:
            unreadable.append(str(exc))
            continue
        if min(img.height, img.width) < MIN_SIDE:
            small.append(f"{path} ({img.width}x{img.height})")
            continue
        images.append(downsize_to(img.pixels, max_side))
    if unreadable:
        raise TrainingError(f"cannot read {len(unreadable)} of {len(paths)} domain image(s): " + "; ".join(unreadable))
    if small:
        raise TrainingError(
            f"{len(small)} domain image(s) smaller than {MIN_SIDE} px on a side (the smallest training crop): "
            + ", ".join(small)
            + " — remove them or pass larger images"
        )
    grey = bool(images) and all(im.shape[2] == 1 for im in images)
    if not grey:
        images = [to_rgb(im) for im in images]
    return images, grey


def images_digest(paths: Sequence[Path]) -> str:
    """Order- and path-independent sha256 of the images' contents (the sorted list of per-file sha256)."""
    from iqa_cli.weights import file_sha256

    lines = sorted(file_sha256(p) for p in paths)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def floor8(n: int) -> int:
    """``n`` rounded down to a multiple of 8, at least 8 (a crop side the encoder's strides divide)."""
    return max(8, n - n % 8)


def domain_features(
    model: CausalIQA,
    images: Sequence[np.ndarray],
    names: Sequence[str],
    seed: int,
    n_samples: int = DEFAULT_FIT_SAMPLES,
    progress: Progress | None = None,
) -> np.ndarray:
    """Pooled masked degradation features of synthetic degradations of random crops of the domain images.

    Each image gives ``ceil(n_samples / len(images))`` (at least 2) crops of ``min(128, smallest side)`` px,
    each degraded by a distortion drawn from ``names`` at a strength uniform in [0.05, 1]; everything is seeded.
    """
    from iqa_cli.synth import distortions

    crop = min(FIT_CROP, floor8(min(min(im.shape[:2]) for im in images)))
    per_image = max(2, math.ceil(n_samples / len(images)))
    total = per_image * len(images)
    chunks: list[np.ndarray] = []
    for i, im in enumerate(images):
        pairs: list[tuple[np.ndarray, np.ndarray]] = []
        for j in range(per_image):
            rng = np.random.default_rng([seed, 7919, i, j])
            h, w = im.shape[:2]
            y, x = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
            ref = np.ascontiguousarray(im[y : y + crop, x : x + crop])
            name = names[int(rng.integers(len(names)))]
            strength = float(rng.uniform(0.05, 1.0))
            dist = distortions.apply(name, ref, strength, np.random.default_rng(int(rng.integers(2**31))))
            pairs.append((ref, dist))
        chunks.append(collect_features(model, pairs))
        if progress is not None:
            progress("heads", (i + 1) * per_image, total)
    return np.concatenate(chunks)
