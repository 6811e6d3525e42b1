"""``iqa batch``: many pairs -> one row per pair (CSV / JSON Lines / Parquet) via iqa_cli.results.ResultSink.

The rows, resume and the tally live in the library (:mod:`iqa_cli.batch`, :mod:`iqa_cli.results`); this command
checks the options, shows progress, prints the summary on stderr and turns failed rows into exit code 1. Each option
is one parameter below, passed on to :func:`iqa_cli.batch.run_batch` (a new engine option is one more of each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from iqa_cli.cli import options as opt
from iqa_cli.cli.terminal import Progress, check_readable, report_unmatched, stderr_console, weights_note
from iqa_cli.errors import EXIT_FAILURE, EXIT_OK


def batch(
    ref_dir: Annotated[Path | None, opt.path_argument("Folder of reference images.")] = None,
    dist_dir: Annotated[Path | None, opt.path_argument("Folder of distorted images.")] = None,
    pairs_csv: Annotated[
        Path | None,
        opt.path_option(
            "--pairs", help="CSV or Parquet (.parquet) with columns ref,dist (instead of two folders).", dir_okay=False
        ),
    ] = None,
    match: Annotated[
        opt.MatchMode,
        typer.Option(
            "--match",
            help="Folder pairing: path = same relative path; prefix = TID/KADID names "
            "(I01_03_2.png -> I01.png); auto = path if any match, else prefix.",
        ),
    ] = opt.MatchMode.auto,
    output: opt.RowsOutputOpt = None,
    fmt: Annotated[
        opt.BatchFormat, typer.Option("--format", "-f", help="csv, jsonl, or parquet (needs -o and pyarrow).")
    ] = opt.BatchFormat.csv,
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
    model: opt.ModelOpt = None,
    weights: opt.WeightsOpt = None,
    device: opt.DeviceOpt = "auto",
    resize: opt.ResizeOpt = opt.ResizePolicy.none,
    max_pixels: opt.MaxPixelsOpt = 100_000_000,
    workers: Annotated[int, typer.Option("--workers", help="Threads that decode and score (local engine).", min=1)] = 2,
    progress: Annotated[
        bool,
        typer.Option(
            "--progress/--no-progress",
            help="Progress bar on stderr (terminal only; not while rows print to that same terminal).",
        ),
    ] = True,
    engine: Annotated[
        opt.Engine, typer.Option("--engine", help='local, or ray (Ray Data; pip install "iqa-cli\\[ray]").')
    ] = opt.Engine.local,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster to join (auto, ray://HOST:10001); --engine ray only.")
    ] = None,
    actor_cpus: Annotated[
        int | None,
        typer.Option(
            "--actor-cpus",
            help="CPUs (decode-and-score threads) per Ray actor; default: a node's CPUs (one actor per node), or a "
            "GPU's share; --engine ray only.",
            min=1,
        ),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Same-size pairs per forward pass (default 1: exact; more for GPUs).", min=1),
    ] = None,
) -> None:
    """Score many pairs to CSV, JSON Lines or Parquet (ref, dist, model, weights, score, error), locally or on Ray."""
    if pairs_csv is None and (ref_dir is None or dist_dir is None):
        raise typer.BadParameter("give REF_DIR and DIST_DIR, or --pairs FILE")
    if pairs_csv is not None and (ref_dir is not None or dist_dir is not None):
        raise typer.BadParameter("give either two folders or --pairs, not both")
    if (resume or retry_failed) and output is None:
        raise typer.BadParameter("--resume and --retry-failed need --output FILE")
    if retry_failed and not resume:
        raise typer.BadParameter("--retry-failed goes with --resume (it re-scores error rows of the -o file)")
    if address is not None and engine is not opt.Engine.ray:
        raise typer.BadParameter("--address needs --engine ray")
    if actor_cpus is not None and engine is not opt.Engine.ray:
        raise typer.BadParameter("--actor-cpus needs --engine ray")

    from iqa_cli.api import load_model
    from iqa_cli.batch import discover, run_batch
    from iqa_cli.errors import PairingError, WeightsError
    from iqa_cli.results import ResultSink

    console = stderr_console()
    check_readable(pairs_csv, "pairs file", PairingError)
    check_readable(weights, "weights file", WeightsError)
    sink = ResultSink(output, fmt.value, resume=resume, retry_failed=retry_failed)  # checks -o, reads it
    pairing = discover(ref_dir, dist_dir, pairs_csv, match.value)
    report_unmatched(pairing, console)
    if not pairing.pairs:
        where = str(pairs_csv) if pairs_csv is not None else f"{ref_dir} and {dist_dir}"
        raise PairingError(f"no (ref, dist) pairs found in {where} — check the folders and --match (path/prefix)")
    from iqa_cli.ray_engine import RayOptions, import_ray

    ray = RayOptions(address=address, device=device, actor_cpus=actor_cpus) if engine is opt.Engine.ray else None
    if ray is not None:
        import_ray()  # a missing extra is reported before any work; the actors load the model
    # with Ray, the driver's copy (CPU) only names the model and weights for the -o file's identity check
    scorer = load_model(model, weights=weights, device=device if ray is None else "cpu")
    sink.check_identity(scorer.name, scorer.weights_id)
    todo = sink.plan(pairing.pairs)
    if resume:
        retry = f" ({sink.retried} failed one(s) again)" if retry_failed else ""
        console.print(f"iqa: resuming: {sink.skipped} pair(s) already in {output}, {len(todo)} to go{retry}")
    with Progress(console, progress, rows_on_stdout=output is None) as bar:
        bar.start("scoring", len(todo))
        summary = run_batch(
            scorer,
            todo,
            sink,
            resize=resize.value,
            max_pixels=max_pixels,
            workers=workers,
            batch_size=batch_size,
            ray=ray,
            on_result=bar.advance,
        )
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
