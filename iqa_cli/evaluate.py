"""``iqa evaluate``: score a dataset and report agreement with its subjective scores (library; prints nothing)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from iqa_cli.errors import UsageError

if TYPE_CHECKING:
    from iqa_cli.results import PairResult


def run_evaluate(
    dataset: Path,
    *,
    kind: str = "auto",
    lower_better: bool = False,
    model: str | None = None,
    weights: Path | None = None,
    device: str = "auto",
    resize: str = "none",
    limit: int | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[PairResult], None] | None = None,
) -> dict[str, Any]:
    """Score every sample of a dataset and compute SRCC/PLCC/KRCC/RMSE against its (oriented) scores.

    Args:
        on_start: called with the number of pairs once the model is loaded (e.g. to start a progress bar).
        on_result: called with each pair's result, failed ones included (their ``error`` is set).

    Returns:
        A JSON-ready report: dataset, root, score_kind, model, weights_sha256, weights_shipped, n, failed,
        correlations.
    """
    from iqa_cli.api import load_model, score_pairs
    from iqa_cli.datasets import load_dataset
    from iqa_cli.eval import correlations, orient
    from iqa_cli.pairs import Pair

    data = load_dataset(dataset, kind=kind, lower_better=lower_better)
    samples = data.samples[:limit] if limit else data.samples
    if len(samples) < 3:
        raise UsageError(f"{dataset} has {len(samples)} usable samples; at least 3 are needed for correlations")
    scorer = load_model(model, weights=weights, device=device)
    pairs = [Pair(s.ref, s.dist) for s in samples]
    preds: list[float] = []
    mos: list[float] = []
    failed = 0
    if on_start is not None:
        on_start(len(pairs))
    for sample, result in zip(samples, score_pairs(scorer, pairs, resize=resize)):  # type: ignore[arg-type]
        if on_result is not None:
            on_result(result)
        if result.score is None:
            failed += 1
            continue
        preds.append(result.score)
        mos.append(sample.score)
    if len(preds) < 3:
        raise UsageError(f"only {len(preds)} pairs could be scored; at least 3 are needed for correlations")
    corr = correlations(orient(np.asarray(preds), scorer.higher_is_better), np.asarray(mos))
    return {
        "dataset": data.name,
        "root": str(data.root),
        "score_kind": data.score_kind,
        "model": scorer.name,
        "weights_sha256": scorer.weights_sha256,
        "weights_shipped": scorer.shipped,
        "weights_kind": scorer.metadata.get("kind"),
        "weights_domain": scorer.metadata.get("domain"),
        "n": len(preds),
        "failed": failed,
        "correlations": corr.as_dict(),
    }
