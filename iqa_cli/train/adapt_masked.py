"""Domain adaptation of the masked Haar block (``iqa adapt`` on a base that has it): no training, no label.

What depends on the domain is re-estimated from its unlabelled images; the calibration fitted with human scores (the
few-label head) is kept:

1. **Split (self-check).** The domain images are ordered by content (sha256 of each file, so neither their paths
   nor the order they were given matter), permuted by ``numpy.random.default_rng(seed)``, and the first
   ``max(2, ceil(0.3 n))`` are held out for the self-check; the rest are the *fit images*. Nothing below the
   self-check sees the held-out images.
2. **Statistic.** The estimated ``content_energy``: the mean shared band energy of the fit images, each compared
   with itself (:func:`~iqa_cli.train.masked.pristine_content_energy`), as read (16-bit levels kept) and shrunk
   like every adapt input.
3. **Search.** The development conditions (KADID types x levels; by default their definitions shipped with the
   package, :func:`~iqa_cli.synth.devset.load_condition_definitions`; on a grey domain the grey-capable ones) are
   re-created on the fit images (:func:`~iqa_cli.synth.devset.make_dev_pairs`). A condition's human score is never
   read. Two criteria, by what the base carries:

   - **Anchored (bases with condition anchors, the shipped model).** The base's weights store, per condition, how
     severe it judged that degradation on its natural training images (``heads.condition_anchors`` in the metadata,
     :func:`~iqa_cli.train.masked.condition_anchors`: the mean calibrated feature, no human score). Cross-domain
     content invariance: the same degradation should be as severe on the domain's content as on natural content.
     The block's four domain-dependent parameters (``loss_weight`` over :data:`~iqa_cli.train.masked.LOSS_GRID`,
     ``chroma_visibility`` over :data:`~iqa_cli.train.masked.CHROMA_GRID`, ``masking_gain`` over
     :data:`~iqa_cli.train.masked.GAIN_GRID`, ``content_energy`` base or estimated) are chosen to maximise the
     *anchor agreement*: the SRCC between the calibrated feature of each fit pair and its condition's anchor. A
     star search (:func:`anchored_search`): every single-parameter change of the base (round 1), then every
     single-parameter change of the combination of round 1's best values (round 2); the best of both rounds wins
     (ties keep the earlier setting, so the base when nothing beats it).
   - **Content invariance (bases without anchors).** ``masking_gain`` := the value of
     :data:`~iqa_cli.train.masked.GAIN_GRID` maximising the content invariance of the label-free feature
     (:func:`~iqa_cli.train.masked.choose_gain`): the same degradation applied to different domain images should get
     the same score; ``content_energy`` := the estimate; the degradation weights are kept.
4. **Kept.** The feature scale, the few-label head (its calibration weight) and the config's default head: the
   calibrated head is the base's. No encoder weight changes.
5. **Label-free head.** If the base's label-free direction reads the block's label-free feature alone, its ``tau``
   is refitted so that the median development condition on the fit images scores 50 (ranks do not change);
   otherwise the label-free head is kept too.
6. **Self-check.** The conditions are re-created on the held-out images and the criterion (anchor agreement, or
   content invariance) is computed under the base's block and the adapted one. If the adapted block is not better
   (rounded to 5 decimals), the base's block is kept and the output says so. This is a label-free check, not
   agreement with human scores of the domain.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from iqa_cli.eval import srcc
from iqa_cli.train.masked import (
    CHROMA_GRID,
    GAIN_GRID,
    LOSS_GRID,
    PARAMS,
    Setting,
    choose_gain,
    condition_key,
    content_invariance,
    grid_features,
    label_free_tau,
    pristine_content_energy,
    setting_of,
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
    """The adaptation's criterion on held-out domain images, base vs adapted block."""

    n_images: int
    n_pairs: int
    base: float
    adapted: float
    criterion: str = "content invariance"

    @property
    def gain(self) -> bool:
        return self.adapted > self.base

    def line(self) -> str:
        verdict = "gain" if self.gain else "no gain: the base's block is kept"
        return (
            f"self-check on {self.n_images} held-out image(s): {self.criterion} {self.base:.4f} -> "
            f"{self.adapted:.4f} ({verdict}) — a label-free consistency check, not agreement with human scores"
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"gain": self.gain, "line": self.line()}


@dataclass(frozen=True)
class MaskedAdaptation:
    """What :func:`adapt_masked` changed (written into the output's metadata). Each parameter's entry holds the
    base's value, the value the search chose and the one the output has (the base's when the self-check kept it)."""

    n_fit: int
    n_check: int
    conditions: list[str]
    n_fit_pairs: int
    criterion: str
    content_energy: dict[str, float]
    masking_gain: dict[str, float]
    loss_weight: dict[str, float]
    chroma_visibility: dict[str, float]
    search: dict[str, float]
    self_check: SelfCheck
    kept_base_masking: bool
    lf_tau: dict[str, float] | None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
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
    settings: Sequence[Setting],
    seed: int,
    progress: Progress | None = None,
    phase: str = "masking",
) -> tuple[np.ndarray, list[str]]:
    """The block's (label-free, calibrated) features (N, len(settings), 2) of the development conditions
    re-created on ``images`` under each setting, and each pair's condition key (``"type:level"``)."""
    from iqa_cli.synth.devset import make_dev_pairs

    keys: list[str] = []
    total = len(images) * len(conditions)
    refs = [(f"image{i}", im) for i, im in enumerate(images)]

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for k, pair in enumerate(make_dev_pairs(refs, conditions, seed=seed)):
            keys.append(condition_key(pair.condition.type_id, pair.condition.level))
            yield pair.ref, pair.dist
            if progress is not None and ((k + 1) % len(conditions) == 0 or k + 1 == total):
                progress(phase, k + 1, total)

    feats = grid_features(block, pairs(), settings)
    return feats, keys


def condition_groups(keys: Sequence[str]) -> np.ndarray:
    """Each pair's condition as an integer group (pairs of one condition share it)."""
    return np.unique(np.asarray(keys), return_inverse=True)[1]


def invariance(label_free: np.ndarray, keys: Sequence[str]) -> float:
    """Content invariance of scores falling with the label-free feature, rounded to :data:`ROUND` decimals."""
    return round(content_invariance(-label_free, condition_groups(keys)), ROUND)


def anchor_agreement(calibrated: np.ndarray, keys: Sequence[str], anchors: Mapping[str, float]) -> float:
    """SRCC between scores falling with the calibrated feature and the base's severity of each pair's condition
    (scores falling with the anchor), rounded to :data:`ROUND` decimals."""
    target = np.array([anchors[k] for k in keys], np.float64)
    return round(srcc(-calibrated, -target), ROUND)


def star(center: Setting, energies: Sequence[float]) -> list[Setting]:
    """``center`` and every setting that changes one of its parameters to another value of its grid."""
    out = [center]
    for name, grid in zip(PARAMS, (LOSS_GRID, CHROMA_GRID, GAIN_GRID, energies)):
        out += [replace(center, **{name: v}) for v in grid if v != getattr(center, name)]
    return out


def label(s: Setting) -> str:
    return (
        f"loss_weight={s.loss_weight:g} chroma_visibility={s.chroma_visibility:g} "
        f"masking_gain={s.masking_gain:g} content_energy={s.content_energy:.2f}"
    )


def anchored_search(
    block: MaskedHaar,
    images: Sequence[np.ndarray],
    conditions: Sequence[Condition],
    anchors: Mapping[str, float],
    energy: float,
    seed: int,
    progress: Progress | None = None,
) -> tuple[Setting, dict[str, float], dict[Setting, np.ndarray]]:
    """The setting maximising :func:`anchor_agreement` by the two-round star search of the module docstring.

    Returns the chosen setting, the agreement of every setting evaluated (by :func:`label`, in order) and the
    label-free feature of the fit pairs under each of them."""
    base = setting_of(block)
    base_energy = block.content_energy.item()
    energies = [base_energy] + ([energy] if energy != base_energy else [])
    table: dict[str, float] = {}
    label_free: dict[Setting, np.ndarray] = {}  # also the settings evaluated, in order
    center = base
    for rnd in (1, 2):
        todo = [s for s in star(center, energies) if s not in label_free]
        if not todo:  # round 1 changed nothing: round 2 would evaluate round 1 again
            break
        feats, keys = block_features(block, images, conditions, todo, seed, progress, f"search {rnd}")
        for i, s in enumerate(todo):
            table[label(s)] = anchor_agreement(feats[:, i, 1], keys, anchors)
            label_free[s] = feats[:, i, 0]
        if rnd == 1:  # round 2 is centred on the combination of each parameter's best single change
            best: dict[str, float] = {}
            for name in PARAMS:
                same = [s for s in label_free if all(getattr(s, o) == getattr(base, o) for o in PARAMS if o != name)]
                best[name] = getattr(max(same, key=lambda s: table[label(s)]), name)  # max keeps the first
            center = Setting(**best)
    chosen = max(label_free, key=lambda s: table[label(s)])
    return chosen, table, label_free


def anchors_of(metadata: Mapping[str, Any]) -> dict[str, float] | None:
    """The condition anchors a weights file carries: ``heads.condition_anchors`` (written by ``iqa train --masked``)
    or ``condition_anchors`` (copied into an adapted file), else None."""
    heads = metadata.get("heads")
    found = heads.get("condition_anchors") if isinstance(heads, Mapping) else None
    found = found or metadata.get("condition_anchors")
    return {str(k): float(v) for k, v in found.items()} if isinstance(found, Mapping) and found else None


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
    anchors: Mapping[str, float] | None = None,
) -> MaskedAdaptation:
    """Adapt ``model``'s masked Haar block (in place) to the domain of ``images`` (see the module docstring).

    Args:
        model: a causal model with the masked Haar block.
        images: float32 ``HxWxC`` domain images in [0, 1] (C 1 for a grey domain).
        keys: one key per image ordering the split (e.g. the file's sha256).
        conditions: development conditions (their human scores are not used).
        grey: the domain is grey (colour-only conditions are dropped).
        seed: seed of the split and of the re-created degradations.
        progress: ``progress(phase, done, total)`` callback.
        anchors: the base's condition anchors (``"type:level"`` -> mean calibrated feature on its training images);
            None or empty: the content-invariance criterion.
    """
    block = model.masked_haar
    if block is None:
        raise ValueError("adapt_masked needs a model with the masked Haar block")
    conds = domain_conditions(conditions, grey)
    if anchors:
        conds = [c for c in conds if condition_key(c.type_id, c.level) in anchors]
        if not conds:
            raise ValueError("none of the development conditions has an anchor in the base's metadata")
    fit_idx, check_idx = split_for_check(keys, seed)
    fit = [images[i] for i in fit_idx]
    check = [images[i] for i in check_idx]
    base = setting_of(block)
    energy = float(np.float32(pristine_content_energy(block, fit)))  # as the buffer will hold it

    # fit_lf: the label-free feature of the fit pairs under every setting evaluated (base and chosen among them)
    if anchors:
        criterion = "anchor agreement"
        chosen, table, fit_lf = anchored_search(block, fit, conds, anchors, energy, seed, progress)
    else:
        criterion = "content invariance"
        grid = [replace(base, masking_gain=g, content_energy=energy) for g in GAIN_GRID] + [base]
        feats, fit_keys = block_features(block, fit, conds, grid, seed, progress, "masking")
        gain, by_gain = choose_gain(feats[:, : len(GAIN_GRID), 0], condition_groups(fit_keys))
        chosen = replace(base, masking_gain=gain, content_energy=energy)
        table = {label(s): by_gain[s.masking_gain] for s in grid[: len(GAIN_GRID)]}
        fit_lf = {s: feats[:, i, 0] for i, s in enumerate(grid)}

    held, held_keys = block_features(block, check, conds, [base, chosen], seed, progress, "check")
    if anchors:
        values = [anchor_agreement(held[:, i, 1], held_keys, anchors) for i in (0, 1)]
    else:
        values = [invariance(held[:, i, 0], held_keys) for i in (0, 1)]
    verdict = SelfCheck(n_images=len(check), n_pairs=len(held), base=values[0], adapted=values[1], criterion=criterion)
    final = chosen if verdict.gain else base
    with torch.no_grad():
        for name in PARAMS:
            getattr(block, name).fill_(getattr(final, name))

    tau = None
    col = label_free_column(model)
    if col is not None:
        direction = float(model.get_buffer("lf_direction")[col])
        scale = float(model.get_buffer("feature_scale")[col])
        old_tau = float(model.get_buffer("lf_tau"))
        new_tau = label_free_tau(fit_lf[final] * direction, scale)
        with torch.no_grad():
            model.get_buffer("lf_tau").fill_(new_tau)
        tau = {"base": old_tau, "adapted": float(model.get_buffer("lf_tau"))}

    def entry(name: str) -> dict[str, float]:
        return {"base": getattr(base, name), "chosen": getattr(chosen, name), "adapted": getattr(block, name).item()}

    return MaskedAdaptation(
        n_fit=len(fit),
        n_check=len(check),
        conditions=[condition_key(c.type_id, c.level) for c in conds],
        n_fit_pairs=len(fit_lf[base]),
        criterion=criterion,
        content_energy=entry("content_energy") | {"estimated": energy},
        masking_gain=entry("masking_gain"),
        loss_weight=entry("loss_weight"),
        chroma_visibility=entry("chroma_visibility"),
        search=table,
        self_check=verdict,
        kept_base_masking=not verdict.gain,
        lf_tau=tau,
    )
