"""Label-free domain adaptation (``iqa adapt``): re-estimate what depends on the domain from its clean images.

Two paths, chosen by the base model:

- **A base with the masked Haar block** (the shipped model): no training. The block's domain-dependent parameters
  are re-chosen on the domain images — with the base's condition anchors (the shipped model) all four (degradation
  weights, masking gain, content energy) by agreement with how severe the base judged each degradation on natural
  images; without them the masking gain and content energy by content invariance. The calibrated (few-label) head
  and the config's default head are kept, the label-free head's ``tau`` is refitted, and a self-check on held-out
  domain images keeps the base's block when the adapted one does not do better by the same criterion
  (:mod:`iqa_cli.train.adapt_masked`). Seconds to minutes.
  Uses the KADID development conditions (``conditions``; by default their definitions shipped with the package,
  ``iqa_cli/synth/kadid_conditions.csv``, so no data folder is needed): only types, levels and parameters are used.
  The fine-tuning options (steps, crop, batch, lr, degradations, fit samples, checkpoints) do not apply; the
  distorted images of unlabelled pairs are not used (their references join the clean images).
- **An older base without it**: fine-tuning, as below.

What a fine-tuning adaptation does, in order:

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
   recipe or the images changed (:mod:`iqa_cli.train.checkpoint`). Both are deleted once the output is written.
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

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from iqa_cli.errors import TrainingError, UsageError
from iqa_cli.models.causal.heads import HEADS
from iqa_cli.train.base import load_base, save_derived
from iqa_cli.train.checkpoint import checkpoint_paths, prepare_checkpoint
from iqa_cli.train.domain import (
    DEFAULT_FIT_SAMPLES,
    DEFAULT_MAX_SIDE,
    FIT_CROP,
    MIN_SIDE,
    dedupe,
    discover_images,
    domain_features,
    floor8,
    images_digest,
    load_domain_images,
    parse_degradations,
)
from iqa_cli.train.features import Progress, pair_features
from iqa_cli.train.heads import refit_label_free

if TYPE_CHECKING:
    from iqa_cli.models.causal import CausalIQA
    from iqa_cli.pairs import Pair
    from iqa_cli.synth.devset import Condition

MIN_IMAGES = 4
"""Fewest clean domain images an adaptation accepts."""
DEFAULT_STEPS = 300
DEFAULT_CROP = 96
DEFAULT_BATCH = 8
DEFAULT_LR = 5e-4


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
    method: str = "fine-tune"
    default_head: str = "label_free"
    masked: dict[str, Any] | None = None
    self_check: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    conditions: Sequence[Condition] | str | Path | None = None,
    head: str | None = None,
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
        conditions: development conditions (or their CSV) for a base with the masked Haar block; default the
            definitions shipped with the package (:func:`~iqa_cli.synth.devset.load_condition_definitions`).
            Human scores are not used (a CSV needs only ``type_id, type_name, level, parameter``).
        head: default head of the output (``few_label`` or ``label_free``); by default the base's for a base with
            the masked Haar block (its calibrated head), ``label_free`` after fine-tuning.

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
    if head is not None and head not in HEADS:
        raise UsageError(f"head must be one of {', '.join(HEADS)}, got {head!r}")
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
    paths = dedupe([*discover_images(images), *(p.ref for p in pair_list)])
    if len(paths) < MIN_IMAGES:
        raise TrainingError(
            f"adapt needs at least {MIN_IMAGES} clean domain images, got {len(paths)} — add more images"
        )
    pixels, grey = load_domain_images(paths, max_side)
    names = parse_degradations(degradations, grey=grey)
    crop = min(crop, floor8(min(min(im.shape[:2]) for im in pixels)))
    digest = images_digest(paths)

    base_scorer, model, base_info = load_base(base, "cpu", "adapt")
    if model.masked_haar is not None:
        if resume:
            raise UsageError(
                f"base {base_info['weights']} has the masked Haar block: its adaptation does not train, "
                "so there is nothing to resume — run without --resume (and --force)"
            )
        return _adapt_block(
            model,
            base_scorer.metadata,
            paths,
            pixels,
            grey,
            out,
            base_info=base_info,
            pairs=len(pair_list),
            seed=seed,
            domain=domain,
            max_side=max_side,
            conditions=conditions,
            progress=progress,
            head=head,
            t0=t0,
        )

    from iqa_cli.train.selfsup import TrainConfig, train

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
    resumed_from = prepare_checkpoint(ckpt, recipe_path, recipe, resume)

    def on_step(step: int, values: dict[str, float]) -> None:
        last.update(values)
        if progress is not None:
            progress("train", step, steps)

    last: dict[str, float] = {}
    if progress is not None:
        progress("train", resumed_from or 0, steps)
    model = train(pixels, cfg, model=model, checkpoint=ckpt, checkpoint_every=checkpoint_every, on_step=on_step)
    model.eval()

    features = domain_features(model, pixels, names, seed, fit_samples, progress)
    if pair_list:
        real, _ = pair_features(model, pair_list)
        features = np.concatenate([features, real])
    tau = refit_label_free(model, features)

    sha = save_derived(
        out,
        model.with_config(head=head or "label_free"),
        "adapted",
        base_info,
        domain,
        heads_note="feature_scale and label-free projection refitted on the domain; few-label weights are the "
        "base's (fitted under the base's encoder and scale) — refit them with `iqa fit`",
        images={"count": len(paths), "sha256": digest, "grey": grey, "max_side": max_side},
        pairs={"count": len(pair_list)},
        recipe={**cfg.to_dict(), "fit_samples": len(features) - len(pair_list), "fit_crop": FIT_CROP},
        training={"steps": steps, "resumed_from": resumed_from},
    )
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
        default_head=head or "label_free",
    )


def _conditions(conditions: Sequence[Condition] | str | Path | None) -> list[Condition]:
    """The development conditions' definitions: given, read from a CSV (its human scores, if any, are ignored), or
    the ones shipped with the package."""
    from iqa_cli.synth.devset import load_condition_definitions

    if conditions is not None and not isinstance(conditions, (str, Path)):
        return list(conditions)
    return load_condition_definitions(None if conditions is None else Path(conditions))


def _adapt_block(
    model: CausalIQA,
    base_metadata: dict[str, Any],
    paths: list[Path],
    pixels: list[np.ndarray],
    grey: bool,
    out: Path,
    *,
    base_info: dict[str, Any],
    pairs: int,
    seed: int,
    domain: str | None,
    max_side: int,
    conditions: Sequence[Condition] | str | Path | None,
    progress: Progress | None,
    head: str | None,
    t0: float,
) -> AdaptReport:
    """The masked Haar block's adaptation (:mod:`iqa_cli.train.adapt_masked`), written like every derived file."""
    from iqa_cli.train.adapt_masked import CHECK_FRACTION, MIN_CHECK, adapt_masked, anchors_of, domain_conditions
    from iqa_cli.weights import file_sha256

    conds = _conditions(conditions)
    model.eval()
    keys = [file_sha256(p) for p in paths]
    anchors = anchors_of(base_metadata)
    method = "masked-anchored" if anchors else "masked-statistics"
    result = adapt_masked(model, pixels, keys, conds, grey, seed=seed, progress=progress, anchors=anchors)
    if head is not None and head != model.config.head:
        model = model.with_config(head=head).eval()
    digest = images_digest(paths)
    sha = save_derived(
        out,
        model,
        "adapted",
        base_info,
        domain,
        heads_note="few-label head and feature scale kept from the base (the calibrated head); default head "
        + ("kept" if head is None else f"set to {model.config.head} on request")
        + "; "
        + (
            "masked Haar block's loss_weight, chroma_visibility, masking_gain and content_energy chosen on unlabelled "
            "domain images by agreement with the base's condition anchors"
            if anchors
            else "masked Haar block's content_energy and masking_gain re-estimated on unlabelled domain images"
        )
        + ("" if result.lf_tau is None else "; label-free tau refitted on the domain")
        + ("; the self-check found no gain, so the base's block is kept" if result.kept_base_masking else ""),
        images={"count": len(paths), "sha256": digest, "grey": grey, "max_side": max_side},
        pairs={"count": pairs, "used": "references only"},
        recipe={
            "method": method,
            "seed": seed,
            "split": f"files ordered by sha256, permuted by default_rng(seed), first max({MIN_CHECK}, "
            f"ceil({CHECK_FRACTION} n)) held out for the self-check",
        },
        masked_haar=result.as_dict(),
        self_check=result.self_check.line(),
        condition_anchors=anchors,
    )
    return AdaptReport(
        output=str(out),
        sha256=sha,
        domain=domain,
        base=base_info,
        n_images=len(paths),
        n_pairs=pairs,
        grey=grey,
        distortion_names=sorted({c.type_name for c in domain_conditions(conds, grey)}),
        steps=0,
        resumed_from=None,
        crop=0,
        batch=0,
        seed=seed,
        n_feature_samples=result.n_fit_pairs,
        lf_tau=float(model.get_buffer("lf_tau")),
        elapsed_s=round(time.perf_counter() - t0, 3),
        method=method,
        default_head=model.config.head,
        masked=result.as_dict(),
        self_check=result.self_check.line(),
    )
