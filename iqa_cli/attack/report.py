"""Batch figures of attack rows: how far the scores moved, how the ranking held, against subjective labels too."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from iqa_cli.attack.batch import AttackRow
from iqa_cli.errors import UsageError


def read_labels(path: Path) -> dict[tuple[str, str], float]:
    """Subjective scores from a CSV ``ref,dist,score`` (relative paths against the CSV's folder), keyed by the
    resolved (ref, dist) paths; read by :func:`iqa_cli.datasets.table.read_pair_table`.

    Raises:
        DatasetError: unreadable file, missing columns, no rows, an empty cell or a score that is not a number.
    """
    from iqa_cli.datasets.table import read_pair_table

    return {_key(r.ref, r.dist): r.score for r in read_pair_table(path, "labels CSV", score=True)}


def _key(ref: str | Path, dist: str | Path) -> tuple[str, str]:
    return str(Path(ref).resolve()), str(Path(dist).resolve())


def _srcc(a: Any, b: Any) -> float | None:
    from iqa_cli.eval import srcc

    try:
        return srcc(a, b)
    except UsageError:  # fewer than 3 pairs or constant scores
        return None


def summarise(rows: Iterable[AttackRow], labels: Mapping[tuple[str, str], float] | None = None) -> dict[str, Any]:
    """Batch figures of rows of one budget: mean |shift|, mean |shift| over the std of the clean scores (fraction
    of their spread), SRCC of attacked vs clean scores, how many pairs the attack made ``no_progress`` on (a zero
    shift there means the attack found nothing, not robustness) and, with ``labels`` (from :func:`read_labels`),
    SRCC of clean and of attacked scores against them. Figures that are undefined (too few pairs, constant scores)
    are None."""
    rows = list(rows)
    ok = [r for r in rows if r.error is None]
    clean = np.array([r.clean_score for r in ok], dtype=np.float64)
    att = np.array([r.attacked_score for r in ok], dtype=np.float64)
    mean_abs = float(np.mean(np.abs(att - clean))) if ok else None
    std = float(np.std(clean)) if ok else 0.0
    centers = sorted({r.center for r in ok if r.center is not None})
    out: dict[str, Any] = {
        "n": len(rows),
        "attacked": len(ok),
        "failed": len(rows) - len(ok),
        "center": centers[0] if len(centers) == 1 else (centers or None),
        "mean_abs_shift": mean_abs,
        "clean_std": std if ok else None,
        "shift_over_spread": mean_abs / std if mean_abs is not None and std > 0 else None,
        "srcc_attacked_vs_clean": _srcc(att, clean),
        "max_linf": max((r.linf or 0.0) for r in ok) if ok else None,
        "min_psnr_db": min((r.psnr_db or 0.0) for r in ok) if ok else None,
        "nan_grad_fallbacks": sum(r.nan_grad_fallbacks or 0 for r in ok),
        "no_progress": sum(1 for r in ok if r.no_progress),
    }
    if labels is not None:
        lab = [(labels[k], r) for r in ok if (k := _key(r.ref, r.dist)) in labels]
        y = [v for v, _ in lab]
        out["n_labelled"] = len(lab)
        out["srcc_clean_vs_labels"] = _srcc([r.clean_score for _, r in lab], y)
        out["srcc_attacked_vs_labels"] = _srcc([r.attacked_score for _, r in lab], y)
    return out
