"""Domain adaptation of the masked Haar block (``iqa adapt`` on a base that has it): no training, no label.

What depends on the domain is re-estimated from its unlabelled images; what was calibrated with human scores is kept:

1. **Split (self-check).** The domain images are ordered by content (sha256 of each file, so neither their paths
   nor the order they were given matter), permuted by ``numpy.random.default_rng(seed)``, and the first
   ``max(2, ceil(0.3 n))`` are held out for the self-check; the rest are the *fit images*. Nothing below the
   self-check sees the held-out images.
2. **Statistic.** ``content_energy`` := the mean shared band energy of the fit images, each compared with itself
   (:func:`~iqa_cli.train.masked.pristine_content_energy`), as read (16-bit levels kept) and shrunk like every
   adapt input.
3. **Masking.** The development conditions (KADID types x levels; by default their definitions shipped with the
   package, :func:`~iqa_cli.synth.devset.load_condition_definitions`; on a grey domain the grey-capable ones) are
   re-created on the fit images
   (:func:`~iqa_cli.synth.devset.make_dev_pairs`); ``masking_gain`` := the value of
   :data:`~iqa_cli.train.masked.GAIN_GRID` maximising the content invariance of the label-free feature
   (:func:`~iqa_cli.train.masked.choose_gain`): the same degradation applied to different domain images should get
   the same score. A condition only groups pairs (``type * 10 + level``); its human score is never read.
4. **Kept.** ``loss_weight``, ``chroma_visibility`` (fitted with few labels), the feature scale, the few-label head
   and the config's default head: the calibrated head is the base's. No encoder weight changes.
5. **Label-free head.** If the base's label-free direction reads the block's label-free feature alone, its ``tau``
   is refitted so that the median development condition on the fit images scores 50 (ranks do not change);
   otherwise the label-free head is kept too.
6. **Self-check.** The conditions are re-created on the held-out images and the content invariance of the
   label-free feature is computed under the base's masking (``masking_gain``, ``content_energy``) and the adapted
   one. If the adapted masking is not better (rounded to 5 decimals), the base's masking is kept and the output
   says so. This is a label-free consistency check, not agreement with human scores.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from iqa_cli.train.masked import (
    GAIN_GRID,
    Setting,
    choose_gain,
    content_invariance,
    grid_features,
    label_free_tau,
    pristine_content_energy,
)

if TYPE_CHECKING:
    from iqa_cli.models.causal import CausalIQA
    from iqa_cli.models.causal.masked_haar import MaskedHaar
    from iqa_cli.synth.devset import Condition
    from iqa_cli.train.features import Progress

CHECK_FRACTION = 0.3
"""Share of the domain images held out for the self-check (at least :data:`MIN_CHECK`)."""
MIN_CHECK = 2
ROUND = 5
"""Content invariances are compared rounded to this many decimals (as :func:`choose_gain` does)."""


@dataclass(frozen=True)
class SelfCheck:
    """Content invariance of the label-free feature on held-out domain images, base vs adapted masking."""

    n_images: int
    n_pairs: int
    base: float
    adapted: float

    @property
    def gain(self) -> bool:
        return self.adapted > self.base

    def line(self) -> str:
        verdict = "gain" if self.gain else "no gain: the base's masking is kept"
        return (
            f"self-check on {self.n_images} held-out image(s): content invariance {self.base:.4f} -> "
            f"{self.adapted:.4f} ({verdict}) — a label-free consistency check, not agreement with human scores"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"gain": self.gain, "line": self.line()}


@dataclass(frozen=True)
class MaskedAdaptation:
    """What :func:`adapt_masked` changed (written into the output's metadata)."""

    n_fit: int
    n_check: int
    conditions: list[str]
    n_fit_pairs: int
    content_energy: dict[str, float]
    masking_gain: dict[str, float]
    invariance_by_gain: dict[float, float]
    self_check: SelfCheck
    kept_base_masking: bool
    lf_tau: dict[str, float] | None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["invariance_by_gain"] = {str(g): v for g, v in self.invariance_by_gain.items()}
        d["self_check"] = self.self_check.as_dict()
        return d


def split_for_check(keys: Sequence[str], seed: int) -> tuple[list[int], list[int]]:
    """(fit, held-out) indices of images identified by ``keys`` (e.g. their contents' sha256): ordered by key,
    permuted by ``seed``, the first ``max(MIN_CHECK, ceil(CHECK_FRACTION n))`` held out; each list sorted."""
    order = sorted(range(len(keys)), key=lambda i: (keys[i], i))
    perm = np.random.default_rng(seed).permutation(len(order))
    n_check = max(MIN_CHECK, math.ceil(CHECK_FRACTION * len(order)))
    held = sorted(order[int(k)] for k in perm[:n_check])
    return sorted(set(range(len(keys))) - set(held)), held


def domain_conditions(conditions: Iterable[Condition], grey: bool) -> list[Condition]:
    """The conditions that can be re-created on the domain's images (grey: no colour-only KADID type)."""
    from iqa_cli.synth.kadid import KADID_RGB_ONLY

    return [c for c in conditions if not (grey and c.type_id in KADID_RGB_ONLY)]


def block_features(
    block: MaskedHaar,
    images: Sequence[np.ndarray],
    conditions: Sequence[Condition],
    masking: Sequence[tuple[float, float]],
    seed: int,
    progress: Progress | None = None,
    phase: str = "masking",
) -> tuple[np.ndarray, np.ndarray]:
    """The block's (label-free, calibrated) features (N, len(masking), 2) of the development conditions re-created
    on ``images`` under each ``(masking_gain, content_energy)`` (the block's own degradation weights), and each
    pair's condition group ``type_id * 10 + level`` (N,)."""
    from iqa_cli.synth.devset import make_dev_pairs

    groups: list[int] = []
    total = len(images) * len(conditions)
    refs = [(f"image{i}", im) for i, im in enumerate(images)]

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for k, pair in enumerate(make_dev_pairs(refs, conditions, seed=seed)):
            groups.append(pair.condition.type_id * 10 + pair.condition.level)
            yield pair.ref, pair.dist
            if progress is not None and ((k + 1) % len(conditions) == 0 or k + 1 == total):
                progress(phase, k + 1, total)

    lw, cv = block.loss_weight.item(), block.chroma_visibility.item()
    feats = grid_features(block, pairs(), [Setting(lw, cv, g, e) for g, e in masking])
    return feats, np.asarray(groups)


def invariance(label_free: np.ndarray, groups: np.ndarray) -> float:
    """Content invariance of scores falling with the label-free feature, rounded to :data:`ROUND` decimals."""
    return round(content_invariance(-label_free, groups), ROUND)


def label_free_column(model: CausalIQA) -> int | None:
    """Index of the block's label-free feature if the model's label-free head reads it alone, else None."""
    n = model.config.n_features
    col = n - 2  # the block's features come last: label-free, calibrated
    direction = model.get_buffer("lf_direction").detach().cpu().numpy()
    others = np.delete(direction, col)
    return col if direction[col] > 0 and not np.any(others) else None


def adapt_masked(
    model: CausalIQA,
    images: Sequence[np.ndarray],
    keys: Sequence[str],
    conditions: Sequence[Condition],
    grey: bool,
    seed: int = 0,
    progress: Progress | None = None,
) -> MaskedAdaptation:
    """Adapt ``model``'s masked Haar block (in place) to the domain of ``images`` (see the module docstring).

    Args:
        model: a causal model with the masked Haar block.
        images: float32 ``HxWxC`` domain images in [0, 1] (C 1 for a grey domain).
        keys: one key per image ordering the split (e.g. the file's sha256).
        conditions: development conditions (their human scores are not used).
        grey: the domain is grey (colour-only conditions are dropped).
        seed: seed of the split and of the re-created degradations.
        progress: ``progress(phase, done, total)`` callback (phases ``masking`` and ``check``).
    """
    block = model.masked_haar
    if block is None:
        raise ValueError("adapt_masked needs a model with the masked Haar block")
    conds = domain_conditions(conditions, grey)
    fit_idx, check_idx = split_for_check(keys, seed)
    fit = [images[i] for i in fit_idx]
    check = [images[i] for i in check_idx]
    base_gain, base_energy = block.masking_gain.item(), block.content_energy.item()

    energy = float(np.float32(pristine_content_energy(block, fit)))  # as the buffer will hold it
    grid = [(g, energy) for g in GAIN_GRID] + [(base_gain, base_energy)]
    feats, groups = block_features(block, fit, conds, grid, seed, progress, "masking")
    gain, table = choose_gain(feats[:, : len(GAIN_GRID), 0], groups)

    held, held_groups = block_features(
        block, check, conds, [(base_gain, base_energy), (gain, energy)], seed, progress, "check"
    )
    verdict = SelfCheck(
        n_images=len(check),
        n_pairs=len(held),
        base=invariance(held[:, 0, 0], held_groups),
        adapted=invariance(held[:, 1, 0], held_groups),
    )
    if verdict.gain:
        with torch.no_grad():
            block.masking_gain.fill_(gain)
            block.content_energy.fill_(energy)
    fit_lf = feats[:, GAIN_GRID.index(gain) if verdict.gain else len(GAIN_GRID), 0]

    tau = None
    col = label_free_column(model)
    if col is not None:
        direction = float(model.get_buffer("lf_direction")[col])
        scale = float(model.get_buffer("feature_scale")[col])
        old_tau = float(model.get_buffer("lf_tau"))
        new_tau = label_free_tau(fit_lf * direction, scale)
        with torch.no_grad():
            model.get_buffer("lf_tau").fill_(new_tau)
        tau = {"base": old_tau, "adapted": float(model.get_buffer("lf_tau"))}

    return MaskedAdaptation(
        n_fit=len(fit),
        n_check=len(check),
        conditions=[f"{c.type_id}:{c.level}" for c in conds],
        n_fit_pairs=len(feats),
        content_energy={"base": base_energy, "estimated": energy, "adapted": block.content_energy.item()},
        masking_gain={"base": base_gain, "chosen": gain, "adapted": block.masking_gain.item()},
        invariance_by_gain=table,
        self_check=verdict,
        kept_base_masking=not verdict.gain,
        lf_tau=tau,
    )
