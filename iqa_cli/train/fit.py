"""Supervised / few-shot head fitting (``iqa fit``): human scores -> a few-label head on frozen features.

The base model's encoder, masking module and feature scale stay frozen. For every rated pair of a
``ref,dist,score`` CSV the pooled masked degradation features are computed once; a non-negative ridge regression
(:func:`iqa_cli.train.heads.fit_head`: more degradation never raises quality) maps them to the scores. The
written model is the base with new ``fl_*`` buffers and ``head="few_label"`` in its config: 100 = identical to
the reference; the floor, a tenth of the score range below the worst-rated pair of the CSV, is where the score
would reach 0 (it is linear down to 5, then a positive tail: :func:`iqa_cli.models.causal.heads.few_label_score`).
Cross-validation predicts with that same formula.

Quality of the fit is estimated by k-fold cross-validation with folds split *by reference image*
(:mod:`iqa_cli.train.folds`): SRCC and PLCC of the pooled out-of-fold predictions, and per fold. The model written
is fitted on all pairs; its metadata names the CSV and the base weights by file name and sha256 (no machine path),
and the same inputs give the same bytes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from iqa_cli.errors import TrainingError, UsageError
from iqa_cli.train.base import load_base, save_derived
from iqa_cli.train.features import Progress, pair_features
from iqa_cli.train.folds import cross_validate, finite
from iqa_cli.train.heads import fit_head, predict

MIN_PAIRS = 3
DEFAULT_RIDGE = 1.0
DEFAULT_FOLDS = 5


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

    from iqa_cli.models.causal.heads import read_scale, write_heads

    scorer, model, base_info = load_base(base, device, "fit")
    features, refs = pair_features(
        model, [Pair(s.ref, s.dist) for s in samples], min_side=scorer.spec.min_size, progress=progress
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
        train_srcc: float | None = finite(srcc(predict(head, features, scale), mos))
    except UsageError:
        train_srcc = None

    fitted = model.with_config(head="few_label")
    write_heads(fitted, few_label=head)
    from iqa_cli.weights import file_sha256

    fit_details = {
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
    }
    sha = save_derived(out, fitted, "fitted", base_info, scorer.metadata.get("domain"), fit=fit_details)
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
