"""Choosing the few-label head on re-created development pairs: the KADID development conditions re-created on
training images (never Kodak), each pair labelled with its condition's mean human score, scored by
leave-one-type-out cross-validation (fit on 12 distortion types, predict the 13th).

Used by the training recipe (:mod:`iqa_cli.train.recipe`), the robust recipe and the accuracy benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iqa_cli.eval import srcc
from iqa_cli.models.causal import CausalIQA
from iqa_cli.models.causal.heads import few_label_mos
from iqa_cli.synth import distortions
from iqa_cli.train.features import collect_features
from iqa_cli.train.heads import fit_few_label_on

N_DEV_TRAIN_IMAGES = 40
N_SYNTHETIC = 800
SYNTH_CROP = 256
RIDGE = 1.0
# The few-label head's hyper-parameters, chosen per feature group by leave-one-type-out SRCC on the training-image
# development pairs: softness multiplies the feature scale inside log1p(features / scale) (larger = closer to
# linear in the features), ridge is the L2 penalty of the non-negative regression.
SOFTNESS_GRID = (1.0, 3.0, 10.0)
RIDGE_GRID = (0.03, 0.1, 0.3, 1.0)


@dataclass
class DevFeatures:
    """Pooled features of re-created development pairs with their labels."""

    features: np.ndarray  # (N, F)
    mos: np.ndarray  # (N,)
    type_ids: np.ndarray  # (N,)
    levels: np.ndarray  # (N,)
    ref_names: list[str]


def dev_train_refs(data_dir: Path | None = None) -> list[Path]:
    """The training images used for the few-label head: every k-th BSDS500 image of the training split."""
    from iqa_cli.synth.devset import pristine_paths

    paths = [p for p in pristine_paths("train", data_dir) if "bsds500" in p.parts]
    step = max(1, len(paths) // N_DEV_TRAIN_IMAGES)
    return paths[::step][:N_DEV_TRAIN_IMAGES]


def dev_features(
    model: CausalIQA,
    refs: Sequence[tuple[str, np.ndarray]],
    seed: int = 0,
    max_side: int | None = None,
    on_pair: Callable[[np.ndarray, np.ndarray], None] | None = None,
) -> DevFeatures:
    """Re-create the development conditions on ``refs`` and collect the model's pooled features.

    ``on_pair(ref, dist)`` sees every generated pair once (e.g. to score baselines without re-creating the pairs).
    """
    from iqa_cli.synth.devset import load_conditions, make_dev_pairs

    conditions = load_conditions()
    meta: list[tuple[float, int, int, str]] = []

    def gen() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for p in make_dev_pairs(refs, conditions, seed=seed, max_side=max_side):
            meta.append((p.condition.mean_score, p.condition.type_id, p.condition.level, p.ref_name))
            if on_pair is not None:
                on_pair(p.ref, p.dist)
            yield p.ref, p.dist

    feats = collect_features(model, gen(), batch=1)
    return DevFeatures(
        features=feats,
        mos=np.array([m[0] for m in meta], np.float64),
        type_ids=np.array([m[1] for m in meta]),
        levels=np.array([m[2] for m in meta]),
        ref_names=[m[3] for m in meta],
    )


def synthetic_features(
    model: CausalIQA,
    images: Sequence[np.ndarray],
    n: int = N_SYNTHETIC,
    seed: int = 0,
    crop: int = SYNTH_CROP,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """Pooled features of ``n`` random synthetic degradations of random crops of ``images``."""
    rng = np.random.default_rng(seed)
    names = list(names or distortions.names())

    def gen() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for _ in range(n):
            im = images[int(rng.integers(len(images)))]
            h, w = im.shape[:2]
            c = min(crop, h, w)
            y, x = int(rng.integers(h - c + 1)), int(rng.integers(w - c + 1))
            ref = im[y : y + c, x : x + c]
            ref = ref.astype(np.float32) / 255.0 if ref.dtype == np.uint8 else ref.astype(np.float32)
            name = names[int(rng.integers(len(names)))]
            dist = distortions.apply(name, ref, float(rng.uniform(0.05, 1.0)), rng)
            yield ref, dist

    return collect_features(model, gen(), batch=16)


def leave_one_type_out(
    train: DevFeatures,
    scale: np.ndarray,
    test: DevFeatures | None = None,
    ridge: float = RIDGE,
    columns: np.ndarray | None = None,
) -> np.ndarray:
    """Few-label predictions (MOS scale) for each pair of ``test`` (default: ``train``) from a head fitted on the
    other distortion types of ``train``."""
    test = test or train
    columns = np.arange(train.features.shape[1]) if columns is None else columns
    pred = np.zeros(len(test.mos))
    for t in np.unique(test.type_ids):
        keep = train.type_ids != t
        w, b = fit_few_label_on(train.features[keep], train.mos[keep], scale, columns, ridge)
        sel = test.type_ids == t
        pred[sel] = few_label_mos(test.features[sel], scale, w, b)
    return pred


def select_few_label(
    dev: DevFeatures, base_scale: np.ndarray, groups: dict[str, np.ndarray]
) -> tuple[dict[str, float], str, float, float]:
    """Leave-one-type-out SRCC on ``dev`` of every (feature group, softness, ridge) in the grids.

    Returns the best SRCC per group and the chosen (group, softness, ridge); a tie keeps the first setting in grid
    order (groups as listed, then softness, then ridge, each ascending)."""
    best: dict[str, float] = {}
    choice: tuple[float, str, float, float] = (-2.0, "all", 1.0, RIDGE)
    for name, cols in groups.items():
        for softness in SOFTNESS_GRID:
            for ridge in RIDGE_GRID:
                rho = round(srcc(leave_one_type_out(dev, base_scale * softness, ridge=ridge, columns=cols), dev.mos), 4)
                best[name] = max(best.get(name, -2.0), rho)
                if rho > choice[0]:
                    choice = (rho, name, softness, ridge)
    return best, choice[1], choice[2], choice[3]


def _head_setting(metadata: dict, key: str, default: float) -> float:
    return float((metadata.get("heads") or {}).get(key, default))


def head_ridge(metadata: dict) -> float:
    """The few-label ridge recorded in a weights file's metadata (:data:`RIDGE` when none is recorded)."""
    return _head_setting(metadata, "few_label_ridge", RIDGE)


def head_softness(metadata: dict) -> float:
    """The few-label softness recorded in a weights file's metadata (1 when none is recorded)."""
    return _head_setting(metadata, "few_label_softness", 1.0)
