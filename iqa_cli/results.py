"""Where batch rows go: stdout or an output file, with resume, retry of failed rows and the final tally.

Every engine (the threaded :func:`iqa_cli.api.score_pairs`, or any other producing :class:`PairResult` objects)
writes through one :class:`ResultSink`, so row format, resume and exit-code logic live here only.

Rules:
    - Rows on stdout name files as the caller gave them (relative stays relative). Rows in an output file name them
      relative to the file's folder (:func:`path_in_file`), the convention of ``--pairs`` files: an output file can
      be fed back as ``--pairs``, and a results folder moved together with its images; absolute only where no
      relative path leads there (another drive).
    - A pair is identified by the canonical (``os.path.realpath``) paths of its ref and dist, a file's rows being
      resolved against its folder first, so resuming with ``$PWD/...``, from another folder or through a symlink
      skips what is done.
    - Rows carry the model and a weights id (sha256 prefix); resuming a file written with other model/weights is
      refused (:class:`~iqa_cli.errors.UsageError`).
    - New rows are appended and flushed one by one (a killed run loses nothing written). When a pair has several
      rows (``retry_failed`` re-scored an error row, or an interrupted retry), its last row wins; when the sink
      closes cleanly the file is rewritten atomically with one row per pair (the winning row, first-seen order).
    - Parquet (``fmt="parquet"``, a file only) follows the same rules, but a Parquet file cannot be appended to: the
      rows are kept in memory and the file is rewritten atomically (old rows, then new, last row per pair) when the
      sink closes, also after an error or Ctrl-C inside the run; a run killed outright keeps the previous file but
      loses its own rows (:mod:`iqa_cli.parquet_io`).
"""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from iqa_cli.atomic import new_file_mode
from iqa_cli.errors import IQAError, UsageError
from iqa_cli.output import Format, RowWriter, read_rows

if TYPE_CHECKING:
    from iqa_cli.pairs import Pair


@dataclass(frozen=True)
class PairResult:
    """One scored (or failed) pair; the CSV/JSONL row of ``iqa batch``."""

    ref: str
    dist: str
    model: str
    score: float | None
    error: str | None = None
    weights: str = "none"  # Scorer.weights_id of the scorer that made the row

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


Key = tuple[str, str]
SinkFormat = Literal["csv", "jsonl", "parquet"]


def pair_key(ref: str | Path, dist: str | Path) -> Key:
    """Identity of a pair: the canonical absolute paths of its files (symlinks resolved)."""
    return os.path.realpath(ref), os.path.realpath(dist)


def path_in_file(path: str | Path, folder: str | Path) -> str:
    """How a row in an output file in ``folder`` names the image ``path`` (relative to the caller's cwd or absolute).

    Relative to ``folder`` (``os.path.relpath``). The plain relative path is kept when it leads to the same file;
    where it would not (``..`` leaving a symlinked folder goes to the link target's parent, not the link's), the
    relative path between the canonical paths is used; absolute where no relative path exists (another drive).
    """
    absolute = os.path.abspath(path)
    try:
        rel = os.path.relpath(absolute, folder)
        if os.path.realpath(os.path.join(folder, rel)) == os.path.realpath(absolute):
            return rel
        return os.path.relpath(os.path.realpath(absolute), os.path.realpath(folder))
    except ValueError:  # no relative path between them (Windows: another drive)
        return absolute


def path_from_file(path: str, folder: str | Path) -> str:
    """The image a row of an output file in ``folder`` names: relative paths are taken from ``folder``."""
    return os.path.join(folder, path)


def check_output_path(path: Path, option: str = "-o") -> None:
    """Refuse an output path whose folder is missing or not writable, or that is a folder (before any work).

    Raises:
        UsageError: with what to do.
    """
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{option} {path} is a folder — give a file name")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: folder {folder} does not exist — create it or choose another path")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{option} {path}: not writable here — check its permissions or choose another path")


def _read_output(path: Path, fmt: SinkFormat) -> list[dict[str, Any]]:
    """Rows of an existing output file (none when it does not exist), checked to be an iqa output of ``fmt``."""
    if fmt == "parquet":
        from iqa_cli.parquet_io import read_rows as read_parquet_rows

        return read_parquet_rows(path)
    return read_rows(path, fmt)


@dataclass(frozen=True)
class SinkSummary:
    """Tally of a batch after the sink closed.

    Attributes:
        scored / failed: rows written by this run with a score / with an error.
        skipped: pairs of this run already in the output file (resume).
        retried: pairs whose error row this run re-scored (``retry_failed``).
        failed_in_output: pairs whose final row is an error, in the whole output (this run's rows on stdout).
        rows_in_output: pairs in the final output.
    """

    scored: int
    failed: int
    skipped: int
    retried: int
    failed_in_output: int
    rows_in_output: int


class ResultSink:
    """Writes :class:`PairResult` rows to stdout or a file; resume-aware (see the module docstring).

    Usage::

        sink = ResultSink(output, "csv", resume=True)      # checks the path and reads the file (cheap, no model)
        sink.check_identity(scorer.name, scorer.weights_id)
        todo = sink.plan(pairs)
        with sink:
            for result in score_pairs(scorer, todo):
                sink.write(result)
        summary = sink.summary()
    """

    def __init__(
        self,
        output: Path | None,
        fmt: SinkFormat,
        *,
        resume: bool = False,
        retry_failed: bool = False,
        stream: IO[str] | None = None,
    ) -> None:
        if fmt not in ("csv", "jsonl", "parquet"):
            raise UsageError(f"unknown output format {fmt!r}: expected csv, jsonl or parquet")
        if (resume or retry_failed) and output is None:
            raise UsageError("--resume and --retry-failed need --output FILE")
        if fmt == "parquet" and output is None:
            raise UsageError("--format parquet needs --output FILE (Parquet is not written to stdout)")
        if fmt == "parquet":
            from iqa_cli.parquet_io import require_pyarrow

            require_pyarrow()  # before any work, not when the rows are written
        if output is not None:
            check_output_path(output)
        elif stream is None and sys.stdout is None:  # started with stdout closed (`>&-`)
            raise IQAError("stdout is closed: there is nowhere to write the rows — give -o FILE")
        self.output = output
        self._folder = (os.path.dirname(output) or ".") if output is not None else None  # rows are relative to it
        self.fmt: SinkFormat = fmt
        self.retry_failed = retry_failed
        self._stream_arg = stream
        self._old: list[dict[str, Any]] = _read_output(output, fmt) if (resume or retry_failed) and output else []
        self._latest: dict[Key, dict[str, Any]] = {}
        self._order: list[Key] = []
        for row in self._old:
            self._remember(row)
        self._n_old_rows = len(self._old)
        self._identity: tuple[str, str] | None = None
        self._fh: IO[str] | None = None
        self._writer: RowWriter | None = None
        self._open = False
        self.scored = self.failed = self.skipped = self.retried = 0

    def _remember(self, row: dict[str, Any]) -> None:
        ref, dist = row["ref"], row["dist"]
        if self._folder is not None:
            ref, dist = path_from_file(ref, self._folder), path_from_file(dist, self._folder)
        key = pair_key(ref, dist)
        if key not in self._latest:
            self._order.append(key)
        self._latest[key] = row

    def check_identity(self, model: str, weights: str) -> None:
        """Refuse to add rows of ``model``/``weights`` to a file holding rows of another model or weights.

        From then on :meth:`write` also refuses a result of another model or weights (an engine bug), so every row
        names the weights its score came from.

        Raises:
            UsageError: names both and what to do.
        """
        self._identity = (model, weights)
        for row in self._old:
            if (row["model"], row["weights"]) != (model, weights):
                raise UsageError(
                    f"{self.output} holds scores of model {row['model']} (weights {row['weights']}), "
                    f"this run uses {model} (weights {weights}) — pass the same --model/--weights to resume, "
                    "or write to another -o"
                )

    def plan(self, pairs: list[Pair]) -> list[Pair]:
        """The pairs still to score: not in the output yet, or (``retry_failed``) whose last row is an error."""
        todo = []
        for pair in pairs:
            row = self._latest.get(pair_key(pair.ref, pair.dist))
            if row is None:
                todo.append(pair)
            elif self.retry_failed and row["error"] is not None:
                todo.append(pair)
                self.retried += 1
            else:
                self.skipped += 1
        return todo

    def __enter__(self) -> ResultSink:
        self._open = True
        if self.fmt == "parquet":  # rows kept (self._latest) and written when the sink closes
            return self
        if self.output is None:
            stream = self._stream_arg if self._stream_arg is not None else sys.stdout
            self._writer = RowWriter(stream, self._text_format)
            return self
        append = self.output.exists() and self._n_old_rows > 0
        self._fh = open(self.output, "a" if append else "w", encoding="utf-8", newline="")
        self._writer = RowWriter(self._fh, self._text_format, header=not append)
        return self

    def write(self, result: PairResult) -> None:
        """Write one row (flushed) and count it."""
        if not self._open:
            raise RuntimeError("ResultSink.write outside its `with` block")
        row = result.as_dict()
        if self._identity is not None and (row["model"], row["weights"]) != self._identity:
            raise RuntimeError(
                f"result of model {row['model']} (weights {row['weights']}) written to a sink bound to "
                f"{self._identity[0]} (weights {self._identity[1]})"
            )
        if self._folder is not None:
            row["ref"], row["dist"] = path_in_file(row["ref"], self._folder), path_in_file(row["dist"], self._folder)
        if self._writer is not None:
            self._writer.write(row)
        self._remember(row)
        if row["error"] is None:
            self.scored += 1
        else:
            self.failed += 1

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self._open = False
        self._writer = None
        if self.fmt == "parquet":
            if self.output is not None and (self.written or not self.output.exists()):
                self._compact()  # also after an error inside the run: the rows scored so far are kept
            return
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if exc_type is None and self.output is not None and len(self._latest) < self._n_old_rows + self.written:
            self._compact()

    @property
    def _text_format(self) -> Format:
        if self.fmt == "parquet":
            raise RuntimeError("Parquet rows are not written as text")
        return self.fmt

    @property
    def written(self) -> int:
        return self.scored + self.failed

    def _compact(self) -> None:
        """Rewrite the output atomically with the last row of each pair (first-seen order)."""
        if self.output is None:
            return
        fd, tmp = tempfile.mkstemp(dir=self.output.parent, prefix=f".{self.output.name}.", suffix=".tmp")
        try:
            rows = [self._latest[key] for key in self._order]
            if self.fmt == "parquet":
                from iqa_cli.parquet_io import write_rows

                os.close(fd)
                write_rows(Path(tmp), rows)
            else:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                    writer = RowWriter(fh, self._text_format)
                    for row in rows:
                        writer.write(row)
            os.chmod(tmp, new_file_mode())
            os.replace(tmp, self.output)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def summary(self) -> SinkSummary:
        if self.output is None:
            failed_in_output, rows = self.failed, self.written
        else:
            failed_in_output = sum(self._latest[k]["error"] is not None for k in self._order)
            rows = len(self._order)
        return SinkSummary(self.scored, self.failed, self.skipped, self.retried, failed_in_output, rows)
