"""Fitting the masked Haar block (:mod:`iqa_cli.models.causal.masked_haar`): its statistic, its three learned
parameters and the two heads on its features.

The protocol is fixed before any score is looked at, and every choice is made on training images (never Kodak):

1. ``content_energy`` = ``reference_energy``: mean shared band energy of pristine training images (no label, no
   distortion); the visibility constant is HaarPSI's at that contrast.
2. ``masking_gain``: chosen *without labels* by the content-invariance intervention: the same degradation (one
   development condition: type and level, its human score unused) applied to different images should get the
   same score, so the gain maximises the share of score variance (ranks) explained by the condition
   (:func:`content_invariance`) over the development conditions re-created on the training images.
3. ``loss_weight`` and ``chroma_visibility`` (the degradation code's two weights): the pair in
   :data:`LOSS_GRID` x :data:`CHROMA_GRID` with the best SRCC against the condition means on those training
   pairs (few labels: 65 condition means).
4. Heads on the two features: the few-label head is a one-weight monotone calibration of the calibrated feature
   (log1p, non-negative weight); the label-free head projects on the label-free feature alone, ``tau`` putting the
   median synthetic degradation of training images at 50.
5. Condition anchors (metadata, not a parameter): the mean calibrated feature of each development condition on the
   training pairs (:func:`condition_anchors`), the severity order ``iqa adapt`` asks a new domain to keep.

The grids are small on purpose (few effective degrees of freedom); bench/accuracy.py re-runs step 3 inside
leave-one-type-out folds (nested) to measure how it generalises to distortion types it was not fitted on.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch
from scipy.stats import rankdata  # type: ignore[import-untyped]

from iqa_cli.eval import srcc
from iqa_cli.models.causal import CausalConfig, CausalIQA
from iqa_cli.models.causal.heads import FewLabelHead, write_heads
from iqa_cli.models.causal.masked_haar import MaskedHaar

GAIN_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
LOSS_GRID = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5)
CHROMA_GRID = (1.0, 1.5, 2.0, 3.0, 4.0)
FEW_LABEL_RIDGE = 0.03


@dataclass(frozen=True)
class Setting:
    """One value of the block's learned parameters."""

    loss_weight: float = 1.0
    chroma_visibility: float = 1.0
    masking_gain: float = 0.0
    content_energy: float | None = None  # None: the block's buffer


PARAMS = tuple(f.name for f in fields(Setting))
"""The block's learned parameters: loss_weight, chroma_visibility, masking_gain, content_energy."""


def setting_of(block: MaskedHaar) -> Setting:
    """The block's current parameters as a :class:`Setting`."""
    return Setting(**{name: getattr(block, name).item() for name in PARAMS})


def with_masked_haar(model: CausalIQA) -> CausalIQA:
    """A copy of ``model`` (CPU) with the masked Haar block added at its fixed special case (HaarPSI): every other
    parameter and buffer is the model's, loaded strictly."""
    out = CausalIQA(CausalConfig.from_dict(model.config.to_dict() | {"masked_haar": True}))
    state = out.state_dict()
    old = model.state_dict()
    n_old = model.config.n_features
    for k, v in old.items():
        if v.shape == state[k].shape:
            state[k] = v.clone()
        else:  # head buffers: the new block's features come last
            state[k][..., :n_old] = v
    out.load_state_dict(state, strict=True)
    return out


def _image_tensor(x: np.ndarray) -> torch.Tensor:
    """``HxWxC`` image (float in [0, 1], or uint8) -> (1, 3, H, W) float32; grey replicated to RGB."""
    t = torch.from_numpy(np.array(x, np.float32)).permute(2, 0, 1)[None]
    t = t / 255.0 if x.dtype == np.uint8 else t
    return t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t


@torch.inference_mode()
def grid_features(
    block: MaskedHaar,
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    settings: Sequence[Setting],
) -> np.ndarray:
    """(N, S, 2) block features of each (ref, dist) ``HxWxC`` pair under each setting: the block's
    parameter-free part computed once per pair."""
    rows = []
    for ref, dist in pairs:
        p = block.prepare(_image_tensor(ref), _image_tensor(dist))
        feats = []
        for s in settings:
            energy = block.content_energy if s.content_energy is None else s.content_energy
            maps = block.maps(p, s.loss_weight, s.chroma_visibility, s.masking_gain, energy)
            feats.append(block.features(maps.mean(dim=(2, 3)))[0])
        rows.append(torch.stack(feats).numpy())
    return np.stack(rows).astype(np.float64)


@torch.inference_mode()
def pristine_content_energy(block: MaskedHaar, images: Sequence[np.ndarray]) -> float:
    """Mean unnormalised content energy of pristine images (each compared with itself)."""
    vals = []
    for im in images:
        x = _image_tensor(im)
        vals.append(float(block.prepare(x, x).energy.mean()))
    return max(float(np.mean(vals)), 1e-6)


def content_invariance(scores: np.ndarray, conditions: np.ndarray) -> float:
    """Share of the variance of the scores' ranks explained by the condition (1 - mean within-condition variance /
    total variance): 1 when every image gets the same score under the same degradation."""
    r = rankdata(scores)
    within = np.mean([r[conditions == c].var() for c in np.unique(conditions)])
    return float(1.0 - within / r.var())


def choose_gain(lf_by_gain: np.ndarray, conditions: np.ndarray) -> tuple[float, dict[float, float]]:
    """``masking_gain`` from :data:`GAIN_GRID` maximising :func:`content_invariance` of the label-free feature
    (``lf_by_gain`` (N, len(GAIN_GRID))); ties keep the smaller gain."""
    table = {g: round(content_invariance(-lf_by_gain[:, i], conditions), 5) for i, g in enumerate(GAIN_GRID)}
    best = max(table.values())
    return min(g for g, v in table.items() if v == best), table


def weight_settings(gain: float) -> list[Setting]:
    """The (loss weight, chroma visibility) grid at one masking gain, in grid order."""
    return [Setting(lw, cv, gain) for lw, cv in itertools.product(LOSS_GRID, CHROMA_GRID)]


def choose_weights(cal_by_setting: np.ndarray, mos: np.ndarray, keep: np.ndarray | None = None) -> int:
    """Index of the setting (columns of ``cal_by_setting`` (N, S), the calibrated feature) with the best SRCC
    against ``mos`` over the rows ``keep`` (default all); ties keep the first."""
    keep = np.ones(len(mos), bool) if keep is None else keep
    rhos = [round(srcc(-cal_by_setting[keep, i], mos[keep]), 5) for i in range(cal_by_setting.shape[1])]
    return int(np.argmax(rhos))


def condition_key(type_id: int, level: int) -> str:
    """The key of a development condition in :func:`condition_anchors`' table, ``"type:level"``."""
    return f"{type_id}:{level}"


def condition_anchors(calibrated: np.ndarray, keys: Sequence[str]) -> dict[str, float]:
    """Mean calibrated feature per condition (``keys`` one per pair, :func:`condition_key`): how severe the model
    judges each degradation on the images it was fitted on. Stored in the weights' metadata (``heads``); ``iqa
    adapt`` asks a new domain's images to keep that order (:mod:`iqa_cli.train.adapt_masked`)."""
    keys_arr = np.asarray(keys)
    return {k: round(float(calibrated[keys_arr == k].mean()), 6) for k in sorted(set(keys), key=_key_order)}


def _key_order(key: str) -> tuple[int, int]:
    t, lv = key.split(":")
    return int(t), int(lv)


def label_free_tau(lf: np.ndarray, scale: float) -> float:
    """``tau`` putting the median label-free feature (scaled) at a score of 50."""
    return max(float(np.median(lf / scale)) / math.log(2.0), 1e-6)


def fit_masked_model(
    base: CausalIQA,
    refs: Sequence[tuple[str, np.ndarray]],
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> tuple[CausalIQA, dict[str, Any]]:
    """Steps 1-4 of the module's protocol on the development conditions re-created on ``refs`` (training images):
    ``base`` with the masked Haar block added, fitted, default head few-label; and a summary for the metadata."""
    from iqa_cli.synth.devset import load_conditions, make_dev_pairs
    from iqa_cli.train.heads import FLOOR_MARGIN, fit_few_label

    say = log or (lambda _msg: None)
    conditions = load_conditions()
    seen: list = []  # each pair's condition, recorded on the first pass over the pairs

    def pairs(record: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for p in make_dev_pairs(refs, conditions, seed=seed):
            if record:
                seen.append(p.condition)
            yield p.ref, p.dist

    model = with_masked_haar(base)
    block = model.masked_haar
    assert block is not None
    energy = pristine_content_energy(block, [im for _, im in refs])
    say(f"content energy of {len(refs)} pristine images: {energy:.2f}")
    with torch.no_grad():
        block.content_energy.fill_(energy)
        block.reference_energy.fill_(energy)
    lf = grid_features(block, pairs(record=True), [Setting(masking_gain=g) for g in GAIN_GRID])[:, :, 0]
    mos = np.array([c.mean_score for c in seen], np.float64)
    gain, invariance = choose_gain(lf, np.array([c.type_id * 10 + c.level for c in seen]))
    say(f"masking gain {gain} (content invariance by gain {invariance})")
    settings = weight_settings(gain)
    feats = grid_features(block, pairs(), settings)
    best = settings[choose_weights(feats[:, :, 1], mos)]
    say(f"loss weight {best.loss_weight}, chroma visibility {best.chroma_visibility}")
    with torch.no_grad():
        block.masking_gain.fill_(gain)
        block.loss_weight.fill_(best.loss_weight)
        block.chroma_visibility.fill_(best.chroma_visibility)
    final = feats[:, settings.index(best)]  # (N, 2): label-free, calibrated
    n = model.config.n_features
    scale = model.feature_scale.numpy().astype(np.float64).copy()
    scale[n - 2 :] = final.mean(axis=0)
    w, b = fit_few_label(final[:, 1:], mos, scale[n - 1 :], ridge=FEW_LABEL_RIDGE)
    weights = np.zeros(n, np.float32)
    weights[n - 1] = w[0]
    floor = float(mos.min() - FLOOR_MARGIN * np.ptp(mos))
    direction = np.zeros(n, np.float32)
    direction[n - 2] = 1.0
    tau = label_free_tau(final[:, 0], float(scale[n - 2]))
    write_heads(
        model, scale=scale, label_free=(direction, tau), few_label=FewLabelHead(weights, max(b, floor + 1e-6), floor)
    )
    out = model.with_config(head="few_label")
    summary = {
        "train_dev_pairs": len(mos),
        "content_energy": round(energy, 4),
        "masking_gain": gain,
        "content_invariance_by_gain": {str(k): v for k, v in invariance.items()},
        "loss_weight": best.loss_weight,
        "chroma_visibility": best.chroma_visibility,
        "label_free_srcc_train_dev": round(srcc(-final[:, 0], mos), 4),
        "few_label_srcc_train_dev": round(srcc(-final[:, 1], mos), 4),
        "few_label_ridge": FEW_LABEL_RIDGE,
        "few_label_group": "masked_haar",
        "default_head": "few_label",
        "condition_anchors": condition_anchors(final[:, 1], [condition_key(c.type_id, c.level) for c in seen]),
    }
    return out, summary


def nested_loto(
    train: np.ndarray,
    mos: np.ndarray,
    types: np.ndarray,
    test: np.ndarray,
    test_types: np.ndarray,
    candidates: Sequence[int],
) -> tuple[np.ndarray, dict[int, int]]:
    """Leave-one-type-out few-label predictions (MOS scale) for ``test`` with the setting chosen inside each fold.

    ``train`` (N, S) / ``test`` (M, S): the calibrated feature under each setting, for the training pairs (labelled
    ``mos``, ``types``) and the test pairs. For each test type t: among ``candidates`` (column indices) the setting
    with the best SRCC on the training pairs of the *other* types, the one-weight calibration fitted on those same
    pairs, then applied to the test pairs of type t. Returns the predictions and the setting chosen per type.
    """
    from iqa_cli.train.heads import fit_few_label

    pred = np.zeros(len(test_types))
    chosen: dict[int, int] = {}
    for t in np.unique(test_types):
        keep = types != t
        i = candidates[choose_weights(train[:, list(candidates)], mos, keep)]
        scale = np.array([train[keep, i].mean()])
        w, b = fit_few_label(train[keep, i : i + 1], mos[keep], scale, ridge=FEW_LABEL_RIDGE)
        sel = test_types == t
        pred[sel] = b - np.log1p(test[sel, i : i + 1] / scale) @ w
        chosen[int(t)] = i
    return pred, chosen
