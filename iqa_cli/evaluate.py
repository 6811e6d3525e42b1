"""``iqa evaluate``: score a dataset and report agreement with its subjective scores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from iqa_cli.errors import UsageError


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
    progress: bool = False,
    console: Any = None,
) -> dict[str, Any]:
    """Score every sample of a dataset and compute SRCC/PLCC/KRCC/RMSE against its (oriented) scores.

    Returns:
        A JSON-ready report: dataset, kind, model, n, failed, correlations, score_kind.
    """
    from iqa_cli.api import load_model, score_pairs
    from iqa_cli.batch import progress_bar
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
    bar = progress_bar(console, progress) if console is not None else None
    if bar is not None:
        bar.start()
        task = bar.add_task("evaluating", total=len(pairs), rate="")
    try:
        for sample, result in zip(samples, score_pairs(scorer, pairs, resize=resize)):  # type: ignore[arg-type]
            if bar is not None:
                bar.update(task, advance=1)
            if result.score is None:
                failed += 1
                if console is not None:
                    console.print(f"iqa: {result.dist}: {result.error}")
                continue
            preds.append(result.score)
            mos.append(sample.score)
    finally:
        if bar is not None:
            bar.stop()
    if len(preds) < 3:
        raise UsageError(f"only {len(preds)} pairs could be scored; at least 3 are needed for correlations")
    corr = correlations(orient(np.asarray(preds), scorer.higher_is_better), np.asarray(mos))
    return {
        "dataset": data.name,
        "root": str(data.root),
        "score_kind": data.score_kind,
        "model": scorer.name,
        "n": len(preds),
        "failed": failed,
        "correlations": corr.as_dict(),
    }
