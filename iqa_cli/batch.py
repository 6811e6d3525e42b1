"""``iqa batch``: discover pairs, score them in order, write one flushed row each, resume, summarise on stderr."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from iqa_cli.errors import EXIT_FAILURE, EXIT_OK
from iqa_cli.output import COLUMNS, RowWriter, read_done
from iqa_cli.pairs import Pairing, pair_folders, read_pairs_csv


def discover(ref_dir: Path | None, dist_dir: Path | None, pairs_csv: Path | None, match: str) -> Pairing:
    """Pairs from two folders or a pairs CSV (never by position)."""
    if pairs_csv is not None:
        if pairs_csv.suffix.lower() in (".parquet", ".pq"):
            from iqa_cli.parquet_io import read_manifest

            return read_manifest(pairs_csv)
        return read_pairs_csv(pairs_csv)
    if ref_dir is None or dist_dir is None:
        from iqa_cli.errors import UsageError

        raise UsageError("give two folders (REF_DIR DIST_DIR) or --pairs FILE")
    return pair_folders(ref_dir, dist_dir, mode=match)  # type: ignore[arg-type]


def progress_bar(console: Any, enabled: bool) -> Any:
    """A rich progress bar with rate and ETA on stderr, or a no-op when disabled or stderr is not a terminal."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if not enabled or not console.is_terminal:
        return None
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


def report_unmatched(pairing: Pairing, console: Any) -> None:
    """Unmatched files are listed on stderr, never silently dropped."""
    for label, items in (("reference", pairing.unmatched_ref), ("distorted", pairing.unmatched_dist)):
        if items:
            shown = ", ".join(str(p) for p in items[:10])
            more = f" (and {len(items) - 10} more)" if len(items) > 10 else ""
            console.print(f"iqa: {len(items)} {label} image(s) without a partner: {shown}{more}")


@contextmanager
def open_rows(output: Path | None, fmt: str, append: bool) -> Iterator[Any]:
    """A row writer (``write(row_dict)``) on the output file or stdout; Parquet goes through its own writer."""
    if fmt == "parquet":
        from iqa_cli.parquet_io import ParquetRowWriter

        if output is None:
            from iqa_cli.errors import UsageError

            raise UsageError("--format parquet needs --output FILE")
        with ParquetRowWriter(output, COLUMNS, keep_existing=append) as writer:
            yield writer
        return
    sink = open(output, "a" if append else "w", encoding="utf-8", newline="") if output else nullcontext(sys.stdout)
    with sink as stream:
        yield RowWriter(stream, fmt, header=not append)  # type: ignore[arg-type]


def run_batch(
    *,
    ref_dir: Path | None,
    dist_dir: Path | None,
    pairs_csv: Path | None,
    match: str,
    output: Path | None,
    fmt: str,
    resume: bool,
    model: str | None,
    weights: Path | None,
    device: str,
    resize: str,
    max_pixels: int,
    workers: int,
    progress: bool,
    console: Any,
    engine: str = "local",
    address: str | None = None,
    batch_size: int | None = None,
) -> int:
    """Run a batch; returns the exit code (1 if any pair failed)."""
    import time

    from iqa_cli.api import load_model, score_pairs

    pairing = discover(ref_dir, dist_dir, pairs_csv, match)
    report_unmatched(pairing, console)
    if not pairing.pairs:
        from iqa_cli.errors import PairingError

        where = str(pairs_csv) if pairs_csv is not None else f"{ref_dir} and {dist_dir}"
        raise PairingError(f"no (ref, dist) pairs found in {where} — check the folders and --match (path/prefix)")
    # the Ray engine loads the model in its actors; here it only checks model and weights early, on the CPU
    scorer = load_model(model, weights=weights, device=device if engine == "local" else "cpu")
    todo = pairing.pairs
    done: set[tuple[str, str]] = set()
    if resume and output is not None:
        if fmt == "parquet":
            from iqa_cli.parquet_io import read_done_parquet

            done = read_done_parquet(output, COLUMNS)
        else:
            done = read_done(output, fmt)  # type: ignore[arg-type]
        todo = [p for p in todo if (str(p.ref), str(p.dist)) not in done]
        console.print(f"iqa: resuming: {len(pairing.pairs) - len(todo)} pair(s) already in {output}, {len(todo)} to go")
    append = resume and output is not None and output.exists() and output.stat().st_size > 0
    failed = scored = 0
    bar = progress_bar(console, progress)
    t0 = time.perf_counter()
    if engine == "ray":
        from iqa_cli.ray_engine import import_ray, score_pairs_ray

        import_ray()  # a missing extra is reported before any output is opened
        results = score_pairs_ray(
            todo,
            model=model,
            weights=weights,
            device=device,
            resize=resize,  # type: ignore[arg-type]
            max_pixels=max_pixels,
            batch_size=batch_size or 1,
            address=address,
        )
    else:
        results = score_pairs(
            scorer,
            todo,
            resize=resize,  # type: ignore[arg-type]
            max_pixels=max_pixels,
            workers=workers,
            batch_size=batch_size,
        )
    with open_rows(output, fmt, append) as writer, bar if bar is not None else nullcontext():
        task = bar.add_task("scoring", total=len(todo), rate="") if bar is not None else None
        for i, result in enumerate(results):
            writer.write(result.as_dict())
            if result.error is None:
                scored += 1
            else:
                failed += 1
            if bar is not None:
                rate = (i + 1) / max(time.perf_counter() - t0, 1e-9)
                bar.update(task, advance=1, rate=f"{rate:.1f} pairs/s")
    elapsed = time.perf_counter() - t0
    console.print(
        f"iqa: {scored} scored, {failed} failed, {len(done)} skipped (resume) in {elapsed:.1f}s "
        f"with {scorer.name} on {'Ray' if engine == 'ray' else scorer.device}"
    )
    return EXIT_FAILURE if failed else EXIT_OK
