"""Label-free domain adaptation (``iqa adapt``): fine-tune the causal model on clean images of a new domain.

What an adaptation does, in order:

1. **Inputs.** Clean domain images (files, or folders searched recursively), plus optionally unlabelled
   (reference, distorted) pairs of the domain. The pairs' references join the clean images; their distorted
   images join the *feature statistics* of step 4 (no score is ever used).
2. **Pixels.** Images are read with :func:`iqa_cli.io.read_image` (float32 in [0, 1]; 16-bit levels kept, never
   rounded to 8 bits) and shrunk with area averaging so their longer side is at most ``max_side`` (default 512),
   which keeps them float. If *every* image is grey the domain is grey: images stay one channel (``HxWx1``), the
   synthetic degradations act on the grey plane, and only grey-capable degradations are used (the model
   replicates grey to RGB internally, the one grey mapping of :mod:`iqa_cli.io`). If grey and colour images are
   mixed, grey ones are replicated to RGB.
3. **Fine-tuning.** :func:`iqa_cli.train.selfsup.train` starts from the base model (the shipped ``causal-iqa``
   weights unless ``base`` is given) with a lower learning rate, on crops of the domain images degraded by the
   chosen synthetic degradations. A checkpoint ``<out stem>.ckpt.safetensors`` (with a ``.ckpt.json`` recipe
   beside it) is written every ``checkpoint_every`` steps; ``resume=True`` continues from it and refuses if the
   recipe or the images changed. Both are deleted once the output is written.
4. **Heads.** The feature scale and the label-free projection are refitted on the pooled masked degradation
   features of synthetic degradations of crops of the domain images (and of the real distorted pairs, if
   given). The few-label head's weights are kept from the base, but the saved config's head is ``label_free``:
   an adapted model scores with the label-free head by default (refit a few-label head with ``iqa fit``).
5. **Output.** Written atomically (temporary file + rename) with metadata: model, config, base file name and
   sha256, domain, image count and content hash, the recipe and how many steps were resumed. No machine path is
   stored, and the file is canonical: the same inputs and seed give the same bytes (same sha256).

The output works anywhere a weights file does: ``iqa score/batch --weights domain.safetensors`` or
``load_model(weights=...)``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from iqa_cli.errors import ImageError, TrainingError, UsageError

if TYPE_CHECKING:
    from iqa_cli.models.causal import CausalIQA
    from iqa_cli.pairs import Pair

log = logging.getLogger(__name__)

MIN_IMAGES = 4
"""Fewest clean domain images an adaptation accepts."""
MIN_SIDE = 32
"""Smallest image side (px) an adaptation accepts: the smallest training crop."""
DEFAULT_STEPS = 300
DEFAULT_CROP = 96
DEFAULT_BATCH = 8
DEFAULT_LR = 5e-4
DEFAULT_MAX_SIDE = 512
DEFAULT_FIT_SAMPLES = 384
FIT_CROP = 128

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``; phase is ``"train"`` (fine-tuning steps) or ``"heads"`` (feature samples)."""


@dataclass
class AdaptReport:
    """What an adaptation did (``iqa adapt --json`` prints it)."""

    output: str
    sha256: str
    domain: str | None
    base: dict[str, Any]
    n_images: int
    n_pairs: int
    grey: bool
    distortion_names: list[str]
    steps: int
    resumed_from: int | None
    crop: int
    batch: int
    seed: int
    n_feature_samples: int
    lf_tau: float
    final_losses: dict[str, float] = field(default_factory=dict)
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------- inputs


def checkpoint_paths(out: Path) -> tuple[Path, Path]:
    """The checkpoint and its recipe file beside ``out``: ``<stem>.ckpt.safetensors`` and ``<stem>.ckpt.json``."""
    stem = out.name[: -len(".safetensors")] if out.name.endswith(".safetensors") else out.name
    return out.with_name(f"{stem}.ckpt.safetensors"), out.with_name(f"{stem}.ckpt.json")


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
    return _dedupe(found)


def _dedupe(paths: Iterable[Path]) -> list[Path]:
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


def _floor8(n: int) -> int:
    return max(8, n - n % 8)


# ------------------------------------------------------------------------------------------------ heads


def synthetic_features(
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
    from iqa_cli.train.heads import collect_features

    crop = min(FIT_CROP, _floor8(min(min(im.shape[:2]) for im in images)))
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


def refit_label_free(model: CausalIQA, features: np.ndarray) -> float:
    """Refit ``feature_scale`` and the label-free projection in place; the few-label weights are kept."""
    from iqa_cli.models.causal.heads import write_heads
    from iqa_cli.train.heads import fit_feature_scale, fit_label_free

    scale = fit_feature_scale(features)
    direction, tau = fit_label_free(features, scale)
    write_heads(model, scale=scale, label_free=(direction, tau))
    return tau


# ---------------------------------------------------------------------------------------------- adapt


def _load_base(base: str | Path | None) -> tuple[CausalIQA, dict[str, Any]]:
    from iqa_cli.api import load_model
    from iqa_cli.errors import WeightsError
    from iqa_cli.models.causal import CausalIQA

    try:
        scorer = load_model("causal-iqa", device="cpu") if base is None else load_model(weights=base, device="cpu")
    except WeightsError as exc:
        if base is None:
            raise WeightsError(f"{exc} (or pass --base-weights FILE)") from exc
        raise
    if not isinstance(scorer.module, CausalIQA):
        raise UsageError(f"base weights {base} belong to model {scorer.name!r}; adapt needs a causal-iqa model")
    meta = scorer.metadata
    info = {
        "model": scorer.name,
        "weights": scorer.weights.name if scorer.weights else None,  # a file name, never a machine path
        "sha256": scorer.weights_sha256,
        "domain": meta.get("domain"),
    }
    return scorer.module, info


def _check_device(device: str) -> None:
    """Training runs on the CPU: ``auto`` means the CPU here; an explicit accelerator is refused."""
    from iqa_cli.device import resolve_device

    if device.strip().lower() == "auto":
        return
    if resolve_device(device).type != "cpu":
        raise UsageError(
            f"adaptation trains on the CPU in this version; --device {device} is not supported — "
            "use --device cpu (or auto)"
        )


def adapt(
    images: Sequence[str | Path],
    out: str | Path,
    *,
    base: str | Path | None = None,
    pairs: Sequence[Pair] | None = None,
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    device: str = "auto",
    degradations: str | Sequence[str] | None = None,
    domain: str | None = None,
    crop: int = DEFAULT_CROP,
    batch: int = DEFAULT_BATCH,
    lr: float = DEFAULT_LR,
    max_side: int = DEFAULT_MAX_SIDE,
    fit_samples: int = DEFAULT_FIT_SAMPLES,
    checkpoint_every: int = 50,
    resume: bool = False,
    force: bool = False,
    progress: Progress | None = None,
) -> AdaptReport:
    """Adapt the causal model to a domain without labels and write the adapted weights (see the module docstring).

    Args:
        images: clean domain image files or folders.
        out: destination ``.safetensors`` file.
        base: weights to start from; the shipped ``causal-iqa`` weights if None.
        pairs: unlabelled (ref, dist) pairs of the domain: refs are used as clean images, dists in the head fit.
        steps: fine-tuning steps (total, counting resumed ones).
        seed: seed of crops, degradations and initialisation of the training-only modules.
        device: ``auto`` or ``cpu`` (training runs on the CPU in this version).
        degradations: families or names with optional weights, e.g. ``"noise:2,blur:1"``; all by default.
        domain: a name for the domain, stored in the metadata.
        crop: training crop side (reduced to the smallest image side, multiple of 8).
        batch: training batch size.
        lr: fine-tuning learning rate (the base was trained at 2e-3).
        max_side: images are area-shrunk so their longer side is at most this.
        fit_samples: number of synthetic degradations used to refit the label-free head.
        checkpoint_every: steps between checkpoints.
        resume: continue from the checkpoint beside ``out``.
        force: overwrite ``out`` and discard a stale checkpoint.
        progress: ``progress(phase, done, total)`` callback.

    Returns:
        An :class:`AdaptReport`.

    Raises:
        UsageError: ``out`` exists without ``force``, bad option values, resume problems.
        TrainingError: too few images, unreadable or too small images.
        WeightsError: the base weights are missing or corrupt.
    """
    t0 = time.perf_counter()
    out = Path(out)
    ckpt, recipe_path = checkpoint_paths(out)
    if out.exists() and not force:
        raise UsageError(f"output {out} already exists — pass --force to overwrite it")
    if out.exists() and out.is_dir():
        raise UsageError(f"output {out} is a folder — pass a .safetensors file name")
    if steps < 0 or batch < 1 or checkpoint_every < 1 or fit_samples < 1 or lr <= 0:
        raise UsageError("steps must be >= 0; batch, checkpoint_every and fit_samples >= 1; lr > 0")
    if crop < MIN_SIDE:
        raise UsageError(f"crop must be at least {MIN_SIDE} px, got {crop}")
    if resume and not ckpt.is_file():
        raise UsageError(f"nothing to resume: no checkpoint {ckpt} — run without --resume")
    if not resume and ckpt.exists():
        if not force:
            raise UsageError(
                f"checkpoint {ckpt} of an interrupted run exists — pass --resume to continue it, "
                "or --force to start over"
            )
        ckpt.unlink()
        recipe_path.unlink(missing_ok=True)
    _check_device(device)

    pair_list = list(pairs or [])
    paths = _dedupe([*discover_images(images), *(p.ref for p in pair_list)])
    if len(paths) < MIN_IMAGES:
        raise TrainingError(
            f"adapt needs at least {MIN_IMAGES} clean domain images, got {len(paths)} — add more images"
        )
    pixels, grey = load_domain_images(paths, max_side)
    names = parse_degradations(degradations, grey=grey)
    crop = min(crop, _floor8(min(min(im.shape[:2]) for im in pixels)))
    digest = images_digest(paths)

    from iqa_cli.train.selfsup import TrainConfig, train

    model, base_info = _load_base(base)
    model.train()
    cfg = TrainConfig(
        steps=steps,
        batch=batch,
        crop=crop,
        lr=lr,
        seed=seed,
        distortion_names=tuple(names),
        model=model.config.to_dict(),
    )
    recipe = {
        "base_sha256": base_info["sha256"],
        "images_sha256": digest,
        "seed": seed,
        "batch": batch,
        "crop": crop,
        "lr": lr,
        "max_side": max_side,
        "distortion_names": list(names),
    }
    resumed_from = _prepare_checkpoint(ckpt, recipe_path, recipe, resume)

    def on_step(step: int, values: dict[str, float]) -> None:
        last.update(values)
        if progress is not None:
            progress("train", step, steps)

    last: dict[str, float] = {}
    if progress is not None:
        progress("train", resumed_from or 0, steps)
    model = train(pixels, cfg, model=model, checkpoint=ckpt, checkpoint_every=checkpoint_every, on_step=on_step)
    model.eval()

    features = synthetic_features(model, pixels, names, seed, fit_samples, progress)
    if pair_list:
        from iqa_cli.fitting import pair_features

        real, _ = pair_features(model, pair_list, device="cpu", max_side=None)
        features = np.concatenate([features, real])
    tau = refit_label_free(model, features)

    adapted = model.with_config(head="label_free")
    config = adapted.config.to_dict()
    metadata = {
        "model": "causal-iqa",
        "config": config,
        "kind": "adapted",
        "default_head": "label_free",
        "heads_note": "feature_scale and label-free projection refitted on the domain; few-label weights are the "
        "base's (fitted under the base's encoder and scale) — refit them with `iqa fit`",
        "base": base_info,
        "domain": domain,
        "images": {"count": len(paths), "sha256": digest, "grey": grey, "max_side": max_side},
        "pairs": {"count": len(pair_list)},
        "recipe": {**cfg.to_dict(), "fit_samples": len(features) - len(pair_list), "fit_crop": FIT_CROP},
        "training": {"steps": steps, "resumed_from": resumed_from},
    }
    from iqa_cli.weights import save_weights

    sha = save_weights(out, adapted.state_dict(), metadata)
    ckpt.unlink(missing_ok=True)
    recipe_path.unlink(missing_ok=True)
    return AdaptReport(
        output=str(out),
        sha256=sha,
        domain=domain,
        base=base_info,
        n_images=len(paths),
        n_pairs=len(pair_list),
        grey=grey,
        distortion_names=sorted(set(names)),
        steps=steps,
        resumed_from=resumed_from,
        crop=crop,
        batch=batch,
        seed=seed,
        n_feature_samples=int(len(features)),
        lf_tau=float(tau),
        final_losses=last,
        elapsed_s=round(time.perf_counter() - t0, 3),
    )


def _prepare_checkpoint(ckpt: Path, recipe_path: Path, recipe: dict[str, Any], resume: bool) -> int | None:
    """Write the recipe beside a new checkpoint, or check it on resume; returns the step resumed from."""
    if not resume:
        tmp = recipe_path.with_name(f".{recipe_path.name}.tmp")
        tmp.write_text(json.dumps(recipe, indent=1))
        os.replace(tmp, recipe_path)
        return None
    from iqa_cli.weights import read_weights

    try:
        saved = json.loads(recipe_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(
            f"cannot resume: the recipe {recipe_path} of checkpoint {ckpt} is missing or corrupt — "
            "run without --resume and with --force to start over"
        ) from exc
    changed = sorted(k for k in recipe if saved.get(k) != recipe[k])
    if changed:
        raise UsageError(
            f"cannot resume: checkpoint {ckpt} was made with a different {', '.join(changed)} — "
            "run with the same inputs, or without --resume and with --force to start over"
        )
    _, meta = read_weights(ckpt)
    step = int(meta["step"])
    log.info("resuming adaptation from %s at step %d", ckpt, step)
    return step
