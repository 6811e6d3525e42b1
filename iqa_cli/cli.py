"""The ``iqa`` command line: parse -> call the API -> render. No maths here, no torch at import.

stdout carries data only (a bare score, JSON, CSV); progress, summaries and errors go to stderr.
Exit codes: 0 ok, 1 data/runtime error (bad image, missing weights, some pairs failed), 2 usage error.
"""

from __future__ import annotations

import json
import os
import sys
import time
from contextlib import nullcontext
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


class BatchFormat(str, Enum):
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
        readable=False,  # checked by the weights reader: one `iqa: error:` line, exit 1
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
    from iqa_cli.terminal import stderr_console

    return stderr_console()


def _flags_show_no_type() -> None:
    """Help lists a boolean flag as ``--resume`` alone, not ``--resume <bool>`` (Typer's rich help prints a type
    for every option, flags included; its plain help already leaves flags bare)."""
    from typer.core import TyperOption

    original = TyperOption.display_type_rich
    if getattr(original, "_iqa_flags_bare", False):
        return

    def display_type_rich(self: TyperOption, ctx: Any) -> str | None:
        if self.is_flag and self.metavar is None:
            return None
        return original(self, ctx)

    display_type_rich._iqa_flags_bare = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]


_flags_show_no_type()


def weights_note(info: dict[str, Any]) -> str:
    """How a summary names the weights: their id, and a warning when they are not the shipped ones."""
    sha = info.get("weights_sha256")
    if not sha:
        return "no weights"
    note = f"weights {sha[:12]}"
    if info.get("weights_shipped"):
        return note + ", shipped"
    extra = ", ".join(f"{k} {info[f'weights_{k}']}" for k in ("kind", "domain") if info.get(f"weights_{k}"))
    return note + f" from {info.get('weights')}, NOT the shipped default" + (f": {extra}" if extra else "")


def _check_readable(path: Path | None, what: str, error: type[IQAError]) -> None:
    """An input file exists and is readable, checked before any work (one line, exit 1 for data errors)."""
    if path is None:
        return
    prefix = f"cannot read {what} '{path}'" if what == "image" else f"cannot read {what} {path}"
    if path.is_dir():
        raise error(f"{prefix}: it is a folder, not a file")
    if not path.exists():
        raise error(f"{prefix}: file not found")
    if not os.access(path, os.R_OK):
        raise error(f"{prefix}: permission denied")


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
        print(f"iqa {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", "-V", callback=_version, is_eager=True, help="Show the version and exit."),
    ] = False,
) -> None:
    """iqa — full-reference image quality assessment."""


@app.command()
def score(
    ref: Annotated[Path, typer.Argument(help="Reference (pristine) image.", readable=False)],
    dist: Annotated[Path, typer.Argument(help="Distorted image.", readable=False)],
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    resize: ResizeOpt = ResizePolicy.none,
    max_pixels: MaxPixelsOpt = 100_000_000,
    as_json: JsonOpt = False,
    map_out: Annotated[
        Path | None,
        typer.Option(
            "--map",
            help="Write a heatmap PNG of where quality was lost, over the distorted image.",
            readable=False,
        ),
    ] = None,
) -> None:
    """Score one pair: prints the score (bare number, or --json)."""
    import time

    try:
        from iqa_cli.api import load_model
        from iqa_cli.errors import UsageError
        from iqa_cli.results import check_output_path

        if map_out is not None:
            if map_out.suffix.lower() != ".png":
                raise UsageError(f"--map {map_out}: the quality map is written as PNG — give a .png file name")
            check_output_path(map_out, "--map")
        from iqa_cli.errors import ImageError, WeightsError

        _check_readable(ref, "image", ImageError)
        _check_readable(dist, "image", ImageError)
        _check_readable(weights, "weights file", WeightsError)
        t0 = time.perf_counter()
        scorer = load_model(model, weights=weights, device=device)
        if map_out is not None and not scorer.has_quality_map:
            raise UsageError(f"model {scorer.name!r} gives no quality map — use the default model for --map")
        value = scorer.score(ref, dist, resize=resize.value, max_pixels=max_pixels)
        elapsed = time.perf_counter() - t0
        if map_out is not None:
            from iqa_cli.viz import save_heatmap

            save_heatmap(map_out, scorer.quality_map(ref, dist, resize=resize.value), dist)
            print(f"quality map written to {map_out}", file=sys.stderr)
    except IQAError as exc:
        fail(exc)
    if not scorer.shipped:
        print(f"iqa: scored by {scorer.name} with {weights_note(scorer.describe())}", file=sys.stderr)
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
            "weights_sha256": info["weights_sha256"],
            "weights_shipped": info["weights_shipped"],
            "elapsed": round(elapsed, 4),
        }
        print(json.dumps(out))
    else:
        print(f"{value:.6g}")


@app.command()
def batch(
    ref_dir: Annotated[Path | None, typer.Argument(help="Folder of reference images.", readable=False)] = None,
    dist_dir: Annotated[Path | None, typer.Argument(help="Folder of distorted images.", readable=False)] = None,
    pairs_csv: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            help="CSV or Parquet (.parquet) with columns ref,dist (instead of two folders).",
            dir_okay=False,
            readable=False,
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
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write rows here instead of stdout.", readable=False)
    ] = None,
    fmt: Annotated[
        BatchFormat, typer.Option("--format", "-f", help="csv, jsonl, or parquet (needs -o and pyarrow).")
    ] = BatchFormat.csv,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Skip pairs already in the -o file (same files, however the path is written); append the rest. "
            "Refused if the file was written with another model or weights.",
        ),
    ] = False,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="With --resume: score again the pairs whose row in the -o file is an error."
        ),
    ] = False,
    model: ModelOpt = None,
    weights: WeightsOpt = None,
    device: DeviceOpt = "auto",
    resize: ResizeOpt = ResizePolicy.none,
    max_pixels: MaxPixelsOpt = 100_000_000,
    workers: Annotated[int, typer.Option("--workers", help="Threads that decode and score (local engine).", min=1)] = 2,
    progress: Annotated[
        bool,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bar on stderr (terminal only; not while rows print to that same terminal).",
        ),
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
    """Score many pairs to CSV, JSON Lines or Parquet (ref, dist, model, weights, score, error), locally or on Ray."""
    from iqa_cli import batch as batch_mod
    from iqa_cli.terminal import progress_bar, report_unmatched

    if pairs_csv is None and (ref_dir is None or dist_dir is None):
        raise typer.BadParameter("give REF_DIR and DIST_DIR, or --pairs FILE")
    if pairs_csv is not None and (ref_dir is not None or dist_dir is not None):
        raise typer.BadParameter("give either two folders or --pairs, not both")
    if (resume or retry_failed) and output is None:
        raise typer.BadParameter("--resume and --retry-failed need --output FILE")
    if retry_failed and not resume:
        raise typer.BadParameter("--retry-failed goes with --resume (it re-scores error rows of the -o file)")
    if address is not None and engine is not Engine.ray:
        raise typer.BadParameter("--address needs --engine ray")
    console = _stderr()
    try:
        from iqa_cli.api import load_model
        from iqa_cli.errors import PairingError, WeightsError
        from iqa_cli.results import ResultSink

        _check_readable(pairs_csv, "pairs file", PairingError)
        _check_readable(weights, "weights file", WeightsError)

        sink = ResultSink(output, fmt.value, resume=resume, retry_failed=retry_failed)  # checks -o, reads it
        pairing = batch_mod.discover(ref_dir, dist_dir, pairs_csv, match.value)
        report_unmatched(pairing, console)
        if not pairing.pairs:
            where = str(pairs_csv) if pairs_csv is not None else f"{ref_dir} and {dist_dir}"
            raise PairingError(f"no (ref, dist) pairs found in {where} — check the folders and --match (path/prefix)")
        from iqa_cli.ray_engine import RayOptions, import_ray

        ray = RayOptions(address=address, device=device) if engine is Engine.ray else None
        if ray is not None:
            import_ray()  # a missing extra is reported before any work; the actors load the model
        # with Ray, the driver's copy (CPU) only names the model and weights for the -o file's identity check
        scorer = load_model(model, weights=weights, device=device if ray is None else "cpu")
        sink.check_identity(scorer.name, scorer.weights_id)
        todo = sink.plan(pairing.pairs)
        if resume:
            retry = f" ({sink.retried} failed one(s) again)" if retry_failed else ""
            console.print(f"iqa: resuming: {sink.skipped} pair(s) already in {output}, {len(todo)} to go{retry}")
        bar = progress_bar(console, progress, rows_on_stdout=output is None)
        with bar if bar is not None else nullcontext():
            task = bar.add_task("scoring", total=len(todo), rate="") if bar is not None else None
            t0 = time.perf_counter()

            def advance(_: object) -> None:
                if bar is not None:
                    rate = bar.tasks[0].completed / max(time.perf_counter() - t0, 1e-9)
                    bar.update(task, advance=1, rate=f"{rate:.1f} pairs/s")

            summary = batch_mod.run_batch(
                scorer,
                todo,
                sink,
                resize=resize.value,
                max_pixels=max_pixels,
                workers=workers,
                batch_size=batch_size,
                ray=ray,
                on_result=advance,
            )
    except IQAError as exc:
        fail(exc)
    rows = summary.rows
    console.print(
        f"iqa: {rows.scored} scored, {rows.failed} failed, {rows.skipped} skipped (resume) in {summary.elapsed:.1f}s "
        f"with {summary.model} ({weights_note(scorer.describe())}) on {summary.device}"
    )
    if output is not None and rows.failed_in_output:
        console.print(
            f"iqa: {rows.failed_in_output} of {rows.rows_in_output} pair(s) in {output} have an error row — "
            "fix the inputs and rerun with --resume --retry-failed"
        )
    raise typer.Exit(EXIT_FAILURE if rows.failed_in_output else EXIT_OK)


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
    dataset: Annotated[
        Path,
        typer.Argument(help="Dataset folder in its official layout, or a CSV ref,dist,score.", readable=False),
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
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr.")] = True,
) -> None:
    """SRCC, PLCC (4-parameter logistic), KRCC and RMSE of a model's scores against subjective scores."""
    from contextlib import ExitStack

    from iqa_cli import evaluate as eval_mod
    from iqa_cli.terminal import progress_bar

    console = _stderr()
    try:
        from iqa_cli.errors import WeightsError

        _check_readable(weights, "weights file", WeightsError)
    except IQAError as exc:
        fail(exc)
    bar = progress_bar(console, progress)
    with ExitStack() as stack:

        def start(total: int) -> None:
            if bar is not None:
                stack.enter_context(bar)
                bar.add_task("evaluating", total=total, rate="")

        def on_result(result: Any) -> None:
            if bar is not None:
                bar.advance(bar.task_ids[0])
            if result.error is not None:
                console.print(f"iqa: {result.dist}: {result.error}")

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
                on_start=start,
                on_result=on_result,
            )
        except IQAError as exc:
            stack.close()
            fail(exc)
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


# --- commands defined in their own modules (registered here; their heavy imports stay inside the functions) ---
from iqa_cli.commands.adapt import adapt as _adapt  # noqa: E402
from iqa_cli.commands.attack import attack as _attack  # noqa: E402
from iqa_cli.commands.fit import fit as _fit  # noqa: E402
from iqa_cli.commands.train import train as _train  # noqa: E402

app.command(name="adapt")(_adapt)
app.command(name="fit")(_fit)
app.command(name="attack")(_attack)
app.command(name="train")(_train)


EXIT_STDOUT_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for a Unix tool whose stdout reader went away


def _stdout_closed() -> NoReturn:
    """The reader of stdout went away (``iqa batch | head -1``): stop like a Unix tool, silently, exit 141.

    stdout's descriptor is pointed at the null device first, so rows still buffered are dropped at exit instead of
    raising again there ("Exception ignored ... BrokenPipeError").
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())  # type: ignore[union-attr]
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real descriptor behind stdout: nothing is left to flush there
        pass
    sys.exit(EXIT_STDOUT_CLOSED)


def main() -> None:
    """Console-script entry point; an unexpected exception is one ``iqa: error:`` line and exit 1 too.

    A closed stdout (its reader exited, e.g. ``| head -1``) ends any command quietly with exit 141, like a Unix
    tool killed by SIGPIPE: no traceback, no error line, no further scoring (the write that fails stops the run).

    The process is ours, so first glibc malloc is told to keep freed memory for reuse (faster forward passes; see
    :func:`iqa_cli.runtime.keep_freed_memory`, ``IQA_KEEP_FREED_MEMORY=0`` opts out).
    """
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()
    stdout = sys.stdout
    try:
        try:
            app()
        finally:
            # what was printed but is still buffered (a bare score) meets a closed pipe here, not at exit
            if sys.stdout is stdout and stdout is not None:  # None: started with no stdout at all (`>&-`)
                stdout.flush()
    except BrokenPipeError:
        _stdout_closed()
    except SystemExit:
        # Typer handles a broken pipe inside a command or --help itself: it swaps sys.stdout for a wrapper that
        # swallows flush errors and exits 1. That swap is how we tell it from an ordinary exit.
        if sys.stdout is not stdout:
            _stdout_closed()
        raise
    except Exception as exc:  # not raised on purpose (e.g. CUDA out of memory); IQAErrors are mapped in commands
        try:
            fail(exc)
        except typer.Exit as done:
            sys.exit(done.exit_code)


if __name__ == "__main__":
    main()
