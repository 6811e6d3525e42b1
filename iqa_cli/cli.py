"""The ``iqa`` command line: parse -> call the API -> render. No maths here, no torch at import.

stdout carries data only (a bare score, JSON, CSV); progress, summaries and errors go to stderr.
Exit codes: 0 ok, 1 data/runtime error (bad image, missing weights, some pairs failed), 2 usage error.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from iqa_cli import __version__
from iqa_cli.errors import EXIT_FAILURE, EXIT_OK, IQAError, exit_code_for

app = typer.Typer(
    name="iqa",
    help="Full-reference image quality: how much a distorted image has lost against its reference.\n\n"
    "Scores of the default model are 0-100, higher is better, 100 = identical to the reference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ResizePolicy(str, Enum):
    none = "none"
    dist = "dist"


class OutFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"
    parquet = "parquet"


class Engine(str, Enum):
    local = "local"
    ray = "ray"


class MatchMode(str, Enum):
    auto = "auto"
    path = "path"
    prefix = "prefix"


# Shared option definitions, written once.
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Registered model name (see `iqa models`); default model if omitted."),
]
WeightsOpt = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        help="Weights file from `iqa adapt`/`iqa fit` instead of the shipped one.",
        dir_okay=False,
    ),
]
DeviceOpt = Annotated[str, typer.Option("--device", "-d", help="auto, cpu, cuda, cuda:N or mps (explicit = required).")]
ResizeOpt = Annotated[
    ResizePolicy,
    typer.Option("--resize", help="On size mismatch: 'none' = error, 'dist' = resample dist to ref."),
]
MaxPixelsOpt = Annotated[
    int,
    typer.Option("--max-pixels", help="Refuse images larger than this many pixels (decompression bombs).", min=1),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON object instead of plain text.")]


def _stderr() -> Any:
    from rich.console import Console

    # markup off: file names such as "[draft] a.png" must print as they are; soft_wrap: no line breaks inside
    # long paths (stderr lines stay one message each, greppable).
    return Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


def fail(exc: BaseException) -> NoReturn:
    """Map an exception to a one-line message on stderr and its exit code (traceback with IQA_DEBUG=1)."""
    if os.environ.get("IQA_DEBUG"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    message = str(exc) if isinstance(exc, IQAError) else f"{type(exc).__name__}: {exc}"
    print(f"iqa: error: {message}", file=sys.stderr)
    raise typer.Exit(exit_code_for(exc))


def _version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """iqa — full-reference image quality assessment."""


@app.command()
def score(
    ref: Annotated[Path, typer.Argument(help="Reference (pristine) image.")],
    dist: Annotated[Path, typer.Argument(help="Distorted image.")],
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    resize: ResizeOpt = ResizePolicy.none,
    max_pixels: MaxPixelsOpt = 100_000_000,
    as_json: JsonOpt = False,
    map_out: Annotated[
        Path | None,
        typer.Option("--map", help="Write a heatmap PNG of where quality was lost, over the distorted image."),
    ] = None,
) -> None:
    """Score one pair: prints the score (bare number, or --json)."""
    import time

    try:
        from iqa_cli.api import load_model

        t0 = time.perf_counter()
        scorer = load_model(model, weights=weights, device=device)
        value = scorer.score(ref, dist, resize=resize.value, max_pixels=max_pixels)
        elapsed = time.perf_counter() - t0
        if map_out is not None:
            from iqa_cli.viz import save_heatmap

            save_heatmap(map_out, scorer.quality_map(ref, dist, resize=resize.value), dist)
            print(f"quality map written to {map_out}", file=sys.stderr)
    except IQAError as exc:
        fail(exc)
    if as_json:
        info = scorer.describe()
        out = {
            "ref": str(ref),
            "dist": str(dist),
            "model": info["model"],
            "score": value,
            "scale": info["scale"],
            "higher_is_better": info["higher_is_better"],
            "device": info["device"],
            "elapsed": round(elapsed, 4),
        }
        print(json.dumps(out))
    else:
        print(f"{value:.6g}")


@app.command()
def batch(
    ref_dir: Annotated[Path | None, typer.Argument(help="Folder of reference images.")] = None,
    dist_dir: Annotated[Path | None, typer.Argument(help="Folder of distorted images.")] = None,
    pairs_csv: Annotated[
        Path | None,
        typer.Option(
            "--pairs", help="CSV or Parquet (.parquet) with columns ref,dist (instead of two folders).", dir_okay=False
        ),
    ] = None,
    match: Annotated[
        MatchMode,
        typer.Option(
            "--match",
            help="Folder pairing: path = same relative path; prefix = TID/KADID names "
            "(I01_03_2.png -> I01.png); auto = path if any match, else prefix.",
        ),
    ] = MatchMode.auto,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write rows here instead of stdout.")] = None,
    fmt: Annotated[
        OutFormat, typer.Option("--format", "-f", help="csv, jsonl, or parquet (needs -o and pyarrow).")
    ] = OutFormat.csv,
    resume: Annotated[
        bool, typer.Option("--resume", help="Skip pairs already in the -o file; append the rest.")
    ] = False,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    resize: ResizeOpt = ResizePolicy.none,
    max_pixels: MaxPixelsOpt = 100_000_000,
    workers: Annotated[int, typer.Option("--workers", help="Threads that decode and score (local engine).", min=1)] = 2,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr (terminal only).")
    ] = True,
    engine: Annotated[
        Engine, typer.Option("--engine", help='local, or ray (Ray Data; pip install "iqa-cli\\[ray]").')
    ] = Engine.local,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster to join (auto, ray://HOST:10001); --engine ray only.")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Same-size pairs per forward pass (default 1: exact; more for GPUs).", min=1),
    ] = None,
) -> None:
    """Score many pairs to CSV, JSON Lines or Parquet (ref, dist, model, score, error), locally or on Ray."""
    from iqa_cli import batch as batch_mod

    if pairs_csv is None and (ref_dir is None or dist_dir is None):
        raise typer.BadParameter("give REF_DIR and DIST_DIR, or --pairs FILE")
    if pairs_csv is not None and (ref_dir is not None or dist_dir is not None):
        raise typer.BadParameter("give either two folders or --pairs, not both")
    if resume and output is None:
        raise typer.BadParameter("--resume needs --output FILE")
    if fmt is OutFormat.parquet and output is None:
        raise typer.BadParameter("--format parquet needs --output FILE")
    if address is not None and engine is not Engine.ray:
        raise typer.BadParameter("--address needs --engine ray")
    try:
        code = batch_mod.run_batch(
            ref_dir=ref_dir,
            dist_dir=dist_dir,
            pairs_csv=pairs_csv,
            match=match.value,
            output=output,
            fmt=fmt.value,
            resume=resume,
            model=model,
            weights=weights,
            device=device,
            resize=resize.value,
            max_pixels=max_pixels,
            workers=workers,
            progress=progress,
            console=_stderr(),
            engine=engine.value,
            address=address,
            batch_size=batch_size,
        )
    except IQAError as exc:
        fail(exc)
    raise typer.Exit(code)


@app.command()
def models(as_json: JsonOpt = False) -> None:
    """List the registered models: direction, scale, input constraints, weights sha256."""
    from iqa_cli.api import list_models
    from iqa_cli.output import render_table

    rows = list_models()
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = [
        {
            "name": r["name"] + (" (default)" if r["default"] else ""),
            "direction": "higher=better" if r["higher_is_better"] else "lower=better",
            "scale": "-".join(f"{v:g}" for v in r["scale"]) if r["scale"] else "unbounded",
            "unit": r["unit"],
            "min_side": r["min_size"],
            "sha256": (r["weights_sha256"] or "-")[:12],
        }
        for r in rows
    ]
    print(render_table(table, ["name", "direction", "scale", "unit", "min_side", "sha256"]))


@app.command()
def evaluate(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder in its official layout, or a CSV ref,dist,score.")],
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
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """SRCC, PLCC (4-parameter logistic), KRCC and RMSE of a model's scores against subjective scores."""
    from iqa_cli import evaluate as eval_mod

    try:
        report = eval_mod.run_evaluate(
            dataset,
            kind=kind,
            lower_better=lower_better,
            model=model,
            weights=weights,
            device=device,
            resize=resize.value,
            limit=limit,
            progress=progress,
            console=_stderr(),
        )
    except IQAError as exc:
        fail(exc)
    if as_json:
        print(json.dumps(report))
    else:
        c = report["correlations"]
        print(f"dataset {report['dataset']} ({report['n']} pairs, {report['failed']} failed), model {report['model']}")
        print(f"SRCC {c['srcc']:.4f}  PLCC {c['plcc']:.4f}  KRCC {c['krcc']:.4f}  RMSE {c['rmse']:.4f}")
    raise typer.Exit(EXIT_FAILURE if report["failed"] else EXIT_OK)


# --- commands defined in their own modules (registered here; their heavy imports stay inside the functions) ---
from iqa_cli.commands.adapt import adapt as _adapt  # noqa: E402
from iqa_cli.commands.attack import attack as _attack  # noqa: E402
from iqa_cli.commands.fit import fit as _fit  # noqa: E402
from iqa_cli.commands.train import train as _train  # noqa: E402

app.command(name="adapt")(_adapt)
app.command(name="fit")(_fit)
app.command(name="attack")(_attack)
app.command(name="train")(_train)


def main() -> None:
    """Console-script entry point; an unexpected exception is one ``iqa: error:`` line and exit 1 too.

    The process is ours, so first glibc malloc is told to keep freed memory for reuse (faster forward passes; see
    :func:`iqa_cli.runtime.keep_freed_memory`, ``IQA_KEEP_FREED_MEMORY=0`` opts out).
    """
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()
    try:
        app()
    except Exception as exc:  # not raised on purpose (e.g. CUDA out of memory); IQAErrors are mapped in commands
        try:
            fail(exc)
        except typer.Exit as done:
            sys.exit(done.exit_code)


if __name__ == "__main__":
    main()
