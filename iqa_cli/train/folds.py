"""Cross-validation of a few-label head with folds split by reference image (``iqa fit``).

A reference and all its distorted versions are in the same fold, so a fold's test images were never seen in
training; predictions use the model's own head formula (:func:`iqa_cli.train.heads.predict`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from iqa_cli.errors import UsageError
from iqa_cli.train.heads import fit_head, predict


def split_folds(refs: Sequence[str], folds: int, seed: int = 0) -> list[np.ndarray]:
    """Split sample indices into ``min(folds, #references)`` folds so no reference is in two folds.

    References are shuffled (seeded) and assigned, largest group first, to the fold with the fewest samples.

    Returns:
        Sorted index arrays, one per fold (the test set of that fold); together they cover every index once.

    Raises:
        UsageError: ``folds`` < 2 or fewer than 2 distinct references.
    """
    groups: dict[str, list[int]] = {}
    for i, ref in enumerate(refs):
        groups.setdefault(ref, []).append(i)
    k = min(folds, len(groups))
    if folds < 2 or k < 2:
        raise UsageError(
            f"cross-validation needs at least 2 folds and 2 reference images; got folds={folds}, "
            f"{len(groups)} reference(s)"
        )
    keys = list(groups)
    order = np.random.default_rng(seed).permutation(len(keys))
    shuffled = [keys[i] for i in order]
    shuffled.sort(key=lambda key: -len(groups[key]))  # stable: ties stay shuffled
    buckets: list[list[int]] = [[] for _ in range(k)]
    for key in shuffled:
        target = min(range(k), key=lambda b: (len(buckets[b]), b))
        buckets[target].extend(groups[key])
    return [np.array(sorted(b), dtype=np.int64) for b in buckets]


def cross_validate(
    features: np.ndarray, mos: np.ndarray, refs: Sequence[str], scale: np.ndarray, ridge: float, folds: int, seed: int
) -> tuple[float | None, float | None, list[dict[str, Any]]]:
    """Out-of-fold SRCC/PLCC (pooled over folds) and per-fold figures; folds split by reference."""
    from iqa_cli.eval import correlations

    parts = split_folds(refs, folds, seed)
    pred = np.empty(len(mos))
    per_fold: list[dict[str, Any]] = []
    all_idx = np.arange(len(mos))
    for f, test in enumerate(parts):
        train = np.setdiff1d(all_idx, test)
        head = fit_head(features[train], mos[train], scale, ridge)
        pred[test] = predict(head, features[test], scale)
        row: dict[str, Any] = {
            "fold": f + 1,
            "refs": len({refs[i] for i in test}),
            "pairs": int(len(test)),
            "srcc": None,
            "plcc": None,
        }
        try:
            c = correlations(pred[test], mos[test])
            row["srcc"], row["plcc"] = finite(c.srcc), finite(c.plcc)
        except UsageError:  # fewer than 3 pairs, or constant
            pass
        per_fold.append(row)
    try:
        c = correlations(pred, mos)
        return finite(c.srcc), finite(c.plcc), per_fold
    except UsageError:
        return None, None, per_fold


def finite(x: float) -> float | None:
    """``x`` as a float, or None where it is NaN or infinite (a correlation of constant predictions)."""
    return float(x) if math.isfinite(x) else None
