"""A generic ``ref,dist,score`` CSV: scores kept, or negated with ``lower_better=True`` (a DMOS column)."""

from __future__ import annotations

from pathlib import Path

from iqa_cli.datasets.common import Dataset, Matches
from iqa_cli.datasets.table import read_pair_table


def load_csv(path: Path, lower_better: bool) -> Dataset:
    """Read the table with :func:`~iqa_cli.datasets.table.read_pair_table` and check that its files exist."""
    matches = Matches()
    for row in read_pair_table(path, "scores CSV", score=True):
        matches.add(
            row.ref if row.ref.is_file() else None,
            row.dist if row.dist.is_file() else None,
            -row.score if lower_better else row.score,
            str(row.ref),
            str(row.dist),
        )
    samples = matches.check(path, f"{path.parent} (paths are relative to the CSV's folder)")
    kind = "DMOS (inverted: score = -DMOS, higher = better)" if lower_better else "score (higher = better)"
    return Dataset("csv", path, samples, kind, not lower_better)
