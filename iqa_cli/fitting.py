"""Supervised / few-shot head fitting (``iqa fit``): human scores -> a few-label head on frozen features.

The base model's encoder, masking module and feature scale stay frozen. For every rated pair of a
``ref,dist,score`` CSV the pooled masked degradation features are computed once; a non-negative ridge regression
(:func:`iqa_cli.train.heads.fit_few_label`: more degradation never raises quality) maps them to the scores. The
written model is the base with new ``fl_*`` buffers and ``head="few_label"`` in its config: 100 = identical to
the reference; the floor, a tenth of the score range below the worst-rated pair of the CSV, is where the score
would reach 0 (it is linear down to 5, then a positive tail: :func:`iqa_cli.models.causal.heads.few_label_score`).
Cross-validation predicts with that same formula.

Quality of the fit is estimated by k-fold cross-validation with folds split *by reference image* (a reference
and all its distorted versions are in the same fold, so a fold's test images were never seen in training):
SRCC and PLCC of the pooled out-of-fold predictions, and per fold. The model written is fitted on all pairs;
its metadata names the CSV and the base weights by file name and sha256 (no machine path), and the same inputs
give the same bytes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from iqa_cli.errors import ImageError, TrainingError, UsageError

if TYPE_CHECKING:
    from iqa_cli.models.causal import CausalIQA
    from iqa_cli.models.causal.heads import FewLabelHead
    from iqa_cli.pairs import Pair

log = logging.getLogger(__name__)

MIN_PAIRS = 3
DEFAULT_RIDGE = 1.0
DEFAULT_FOLDS = 5
FLOOR_MARGIN = 0.1
"""The 0 of the fitted scale lies this fraction of the score range below the worst-rated pair."""

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``; phase ``"features"``."""


@dataclass
class FitReport:
    """What a fit did (``iqa fit --json`` prints it)."""

    output: str
    sha256: str
    n_pairs: int
    n_refs: int
    score_kind: str
    ridge: float
    folds: int
    cv_srcc: float | None
    cv_plcc: float | None
    per_fold: list[dict[str, Any]] = field(default_factory=list)
    train_srcc: float | None = None
    base: dict[str, Any] = field(default_factory=dict)
    note: str | None = None
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------------------- features


def pair_features(
    model: CausalIQA,
    pairs: Sequence[Pair],
    *,
    device: Any = "cpu",
    max_side: int | None = None,
    min_side: int = 16,
    progress: Progress | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Pooled masked degradation features (N, F) of (ref, dist) image files, at their own resolution.

    Grey/colour are matched as in scoring (:func:`iqa_cli.io.align_pair`); pairs of different size are refused.
    Very large pairs are pooled tile by tile, as :class:`iqa_cli.api.Scorer` does.

    Returns:
        (features, resolved reference paths).

    Raises:
        TrainingError: listing every pair that cannot be read, differs in size, or is too small.
    """
    import torch

    from iqa_cli.io import align_pair, read_image, to_tensor

    rows: list[np.ndarray] = []
    refs: list[str] = []
    problems: list[str] = []
    model.eval()
    for i, pair in enumerate(pairs):
        try:
            r, d = align_pair(read_image(pair.ref), read_image(pair.dist), resize="none")
            if min(r.shape[:2]) < min_side:
                raise ImageError(
                    f"pair {pair.ref} / {pair.dist} is {r.shape[1]}x{r.shape[0]}, smaller than {min_side} px"
                )
        except ImageError as exc:
            problems.append(str(exc))
            continue
        if max_side is not None and max(r.shape[:2]) > max_side:
            from iqa_cli.io import downsize_to

            r, d = downsize_to(r, max_side), downsize_to(d, max_side)
        with torch.inference_mode():
            rt, dt = to_tensor(r).to(device), to_tensor(d).to(device)
            feats = model.image_features(rt, dt)
        rows.append(feats[0].float().cpu().numpy())
        refs.append(str(Path(pair.ref).resolve()))
        if progress is not None:
            progress("features", i + 1, len(pairs))
    if problems:
        raise TrainingError(f"{len(problems)} of {len(pairs)} pair(s) cannot be used: " + "; ".join(problems))
    if not rows:
        return np.zeros((0, model.config.n_features), np.float32), refs
    return np.stack(rows), refs


# ------------------------------------------------------------------------------------------------- folds


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


# ------------------------------------------------------------------------------------------------- heads


def fit_head(features: np.ndarray, mos: np.ndarray, scale: np.ndarray, ridge: float) -> FewLabelHead:
    """Monotone ridge fit plus the floor that maps the worst score near 0 (see the module docstring)."""
    from iqa_cli.models.causal.heads import FewLabelHead
    from iqa_cli.train.heads import fit_few_label

    w, b = fit_few_label(features, mos, scale, ridge=ridge)
    floor = float(mos.min() - FLOOR_MARGIN * np.ptp(mos))
    if b <= floor:  # degenerate fit (all-zero weights); keep the mapping well defined
        b = floor + 1e-6
    return FewLabelHead(w, float(b), floor)


def predict(head: FewLabelHead, features: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Scores 0-100 of the model's few-label head formula (:func:`~iqa_cli.models.causal.heads.few_label_score`),
    in float64."""
    import torch

    from iqa_cli.models.causal.heads import few_label_score

    f, s, w = (torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (features, scale, head.weights))
    return few_label_score(f, s, w, head.bias, head.floor).numpy()


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
            row["srcc"], row["plcc"] = _finite(c.srcc), _finite(c.plcc)
        except UsageError:  # fewer than 3 pairs, or constant
            pass
        per_fold.append(row)
    try:
        c = correlations(pred, mos)
        return _finite(c.srcc), _finite(c.plcc), per_fold
    except UsageError:
        return None, None, per_fold


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


# --------------------------------------------------------------------------------------------------- fit


def fit(
    pairs_csv: str | Path,
    out: str | Path,
    *,
    base: str | Path | None = None,
    lower_better: bool = False,
    ridge: float = DEFAULT_RIDGE,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    device: str = "auto",
    force: bool = False,
    progress: Progress | None = None,
) -> FitReport:
    """Fit the few-label head to the scores of a ``ref,dist,score`` CSV and write the model (see module docstring).

    Args:
        pairs_csv: CSV with a header containing ``ref,dist,score``; relative paths against the CSV's folder.
        out: destination ``.safetensors`` file.
        base: weights whose frozen features are used; the shipped ``causal-iqa`` weights if None.
        lower_better: scores are DMOS (lower = better); they are negated.
        ridge: L2 penalty of the regression (relative to the number of pairs).
        folds: cross-validation folds (at most the number of references); 0 or 1 skips cross-validation.
        seed: seed of the fold assignment.
        device: where features are computed.
        force: overwrite ``out``.
        progress: ``progress("features", done, total)`` callback.

    Returns:
        A :class:`FitReport`.

    Raises:
        UsageError: ``out`` exists without ``force``, bad option values.
        DatasetError: the CSV is malformed or names missing files.
        TrainingError: too few pairs, constant scores, unusable pairs.
    """
    t0 = time.perf_counter()
    out = Path(out)
    if out.exists() and not force:
        raise UsageError(f"output {out} already exists — pass --force to overwrite it")
    if ridge < 0 or folds < 0:
        raise UsageError(f"ridge and folds must be >= 0, got ridge={ridge}, folds={folds}")

    from iqa_cli.datasets import load_dataset
    from iqa_cli.pairs import Pair

    data = load_dataset(Path(pairs_csv), kind="csv", lower_better=lower_better)
    samples = data.samples
    if len(samples) < MIN_PAIRS:
        raise TrainingError(f"fit needs at least {MIN_PAIRS} rated pairs, {pairs_csv} has {len(samples)}")
    mos = np.array([s.score for s in samples], dtype=np.float64)
    if np.ptp(mos) == 0:
        raise TrainingError(f"every score in {pairs_csv} is {mos[0]:g}: nothing to fit — scores must vary")

    from iqa_cli.api import load_model
    from iqa_cli.models.causal import CausalIQA
    from iqa_cli.models.causal.heads import read_scale, write_heads

    scorer = load_model("causal-iqa", device=device) if base is None else load_model(weights=base, device=device)
    model = scorer.module
    if not isinstance(model, CausalIQA):
        raise UsageError(f"base weights {base} belong to model {scorer.name!r}; fit needs a causal-iqa model")
    features, refs = pair_features(
        model,
        [Pair(s.ref, s.dist) for s in samples],
        device=scorer.device,
        min_side=scorer.spec.min_size,
        progress=progress,
    )
    scale = read_scale(model).astype(np.float64)
    n_refs = len(set(refs))
    k = min(folds, n_refs)
    cv_srcc = cv_plcc = None
    per_fold: list[dict[str, Any]] = []
    note = None
    if k >= 2:
        cv_srcc, cv_plcc, per_fold = cross_validate(features, mos, refs, scale, ridge, k, seed)
    else:
        k = 0
        note = (
            "cross-validation skipped: it needs at least 2 reference images and --folds >= 2"
            f" (got {n_refs} reference(s), folds={folds})"
        )
    head = fit_head(features, mos, scale, ridge)
    from iqa_cli.eval import srcc

    try:
        train_srcc: float | None = _finite(srcc(predict(head, features, scale), mos))
    except UsageError:
        train_srcc = None

    fitted = model.with_config(head="few_label")
    write_heads(fitted, few_label=head)
    config = fitted.config.to_dict()
    base_info = {
        "model": scorer.name,
        "weights": scorer.weights.name if scorer.weights else None,  # a file name, never a machine path
        "sha256": scorer.weights_sha256,
        "domain": scorer.metadata.get("domain"),
    }
    from iqa_cli.weights import file_sha256, save_weights

    metadata = {
        "model": "causal-iqa",
        "config": config,
        "kind": "fitted",
        "default_head": "few_label",
        "base": base_info,
        "domain": scorer.metadata.get("domain"),
        "fit": {
            "csv": Path(pairs_csv).name,
            "csv_sha256": file_sha256(pairs_csv),
            "pairs": len(samples),
            "refs": n_refs,
            "score_kind": data.score_kind,
            "lower_better": lower_better,
            "ridge": ridge,
            "floor": head.floor,
            "folds": k,
            "seed": seed,
            "cv_srcc": cv_srcc,
            "cv_plcc": cv_plcc,
            "features": "frozen pooled masked degradation of the base",
        },
    }
    sha = save_weights(out, fitted.state_dict(), metadata)
    return FitReport(
        output=str(out),
        sha256=sha,
        n_pairs=len(samples),
        n_refs=n_refs,
        score_kind=data.score_kind,
        ridge=ridge,
        folds=k,
        cv_srcc=cv_srcc,
        cv_plcc=cv_plcc,
        per_fold=per_fold,
        train_srcc=train_srcc,
        base=base_info,
        note=note,
        elapsed_s=round(time.perf_counter() - t0, 3),
    )
