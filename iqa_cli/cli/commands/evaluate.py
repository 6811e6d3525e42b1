"""``iqa evaluate``: a model's agreement with a dataset's subjective scores (:func:`iqa_cli.evaluate.run_evaluate`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from iqa_cli.cli.options import (
    DeviceOpt,
    JsonOpt,
    ModelOpt,
    ProgressOpt,
    ResizeOpt,
    ResizePolicy,
    WeightsOpt,
    path_argument,
)
from iqa_cli.cli.terminal import Progress, check_readable, stderr_console, weights_note
from iqa_cli.errors import EXIT_FAILURE, EXIT_OK


def evaluate(
    dataset: Annotated[
        Path,
        path_argument("Dataset folder in its official layout, or a CSV ref,dist,score."),
    ],
    kind: Annotated[
        str, typer.Option("--kind", help="auto, live, csiq, tid2008, tid2013, kadid10k, pipal, csv.")
    ] = "auto",
    lower_better: Annotated[
        bool, typer.Option("--lower-better", help="The CSV's scores are DMOS (lower = better).")
    ] = False,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    resize: ResizeOpt = ResizePolicy.none,
    limit: Annotated[int | None, typer.Option("--limit", help="Use only the first N samples.", min=3)] = None,
    as_json: JsonOpt = False,
    progress: ProgressOpt = True,
) -> None:
    """SRCC, PLCC (4-parameter logistic), KRCC and RMSE of a model's scores against subjective scores."""
    from iqa_cli.errors import WeightsError
    from iqa_cli.evaluate import run_evaluate

    console = stderr_console()
    check_readable(weights, "weights file", WeightsError)
    with Progress(console, progress) as bar:

        def on_result(result: Any) -> None:
            bar.advance()
            if result.error is not None:
                console.print(f"iqa: {result.dist}: {result.error}")

        report = run_evaluate(
            dataset,
            kind=kind,
            lower_better=lower_better,
            model=model,
            weights=weights,
            device=device,
            resize=resize.value,
            limit=limit,
            on_start=lambda total: bar.start("evaluating", total),
            on_result=on_result,
        )
    if not report["weights_shipped"]:
        console.print(f"iqa: evaluated {report['model']} with {weights_note({**report, 'weights': weights})}")
    if as_json:
        print(json.dumps(report))
    else:
        c = report["correlations"]
        sha = report["weights_sha256"]
        used = f"model {report['model']}" + (f", weights {sha[:12]}" if sha else "")
        print(f"dataset {report['dataset']} ({report['n']} pairs, {report['failed']} failed), {used}")
        print(f"SRCC {c['srcc']:.4f}  PLCC {c['plcc']:.4f}  KRCC {c['krcc']:.4f}  RMSE {c['rmse']:.4f}")
    raise typer.Exit(EXIT_FAILURE if report["failed"] else EXIT_OK)
