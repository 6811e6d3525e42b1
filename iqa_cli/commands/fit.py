"""``iqa fit``: fit the few-label head to human scores (thin shell over :func:`iqa_cli.train.fit.fit`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def fit(
    pairs_csv: Annotated[
        Path,
        typer.Argument(help="CSV with columns ref,dist,score (paths relative to the CSV's folder).", dir_okay=False),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Fitted weights file to write (.safetensors).", dir_okay=False)
    ],
    lower_better: Annotated[
        bool, typer.Option("--lower-better", help="Scores are DMOS (lower = better); they are negated.")
    ] = False,
    ridge: Annotated[float, typer.Option("--ridge", help="L2 penalty of the monotone regression.", min=0.0)] = 1.0,
    folds: Annotated[
        int, typer.Option("--folds", help="Cross-validation folds, split by reference (0/1 = none).", min=0)
    ] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the fold assignment.")] = 0,
    base_weights: Annotated[
        Path | None,
        typer.Option("--base-weights", help="Frozen features from these weights (default: shipped).", dir_okay=False),
    ] = None,
    device: Annotated[str, typer.Option("--device", "-d", help="auto, cpu, cuda, cuda:N or mps.")] = "auto",
    force: Annotated[bool, typer.Option("--force", help="Overwrite the output file.")] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr (terminal only).")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON on stdout.")] = False,
) -> None:
    """Fit the few-label head to human scores on frozen features; report cross-validated SRCC/PLCC.

    Folds are split by reference image. The model written is fitted on all pairs (head few_label).
    """
    from iqa_cli.cli import _stderr, fail
    from iqa_cli.errors import IQAError

    console = _stderr()
    try:
        from iqa_cli.batch import progress_bar
        from iqa_cli.train.fit import fit as run

        bar = progress_bar(console, progress)
        task: list[Any] = []

        def on_progress(phase: str, done: int, total: int) -> None:
            if bar is None:
                return
            if not task:
                task.append(bar.add_task("features", total=total, rate=""))
            bar.update(task[0], completed=done)

        with bar if bar is not None else _null():
            report = run(
                pairs_csv,
                output,
                base=base_weights,
                lower_better=lower_better,
                ridge=ridge,
                folds=folds,
                seed=seed,
                device=device,
                force=force,
                progress=on_progress,
            )
    except IQAError as exc:
        fail(exc)
    console.print(_table(report.as_dict()), markup=False)
    if as_json:
        print(json.dumps(report.as_dict()))


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def _table(r: dict[str, Any]) -> str:
    lines = [f"iqa: fitted on {r['n_pairs']} pair(s) of {r['n_refs']} reference(s), ridge {r['ridge']:g}"]
    if r["note"]:
        lines.append(f"iqa: {r['note']}")
    else:
        lines.append(f"{'fold':>6} {'refs':>5} {'pairs':>6} {'SRCC':>8} {'PLCC':>8}")
        for row in r["per_fold"]:
            lines.append(
                f"{row['fold']:>6} {row['refs']:>5} {row['pairs']:>6} {_fmt(row['srcc']):>8} {_fmt(row['plcc']):>8}"
            )
        lines.append(f"{'all':>6} {r['n_refs']:>5} {r['n_pairs']:>6} {_fmt(r['cv_srcc']):>8} {_fmt(r['cv_plcc']):>8}")
        lines.append(f"(cross-validated, {r['folds']} folds split by reference; 'all' pools out-of-fold predictions)")
    lines.append(f"iqa: wrote {r['output']} (sha256 {r['sha256'][:12]}…, head few_label)")
    return "\n".join(lines)


def _null() -> Any:
    from contextlib import nullcontext

    return nullcontext()
