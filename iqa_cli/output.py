"""Rendering results: CSV and JSON Lines with fixed columns, one flushed row per pair, and resume support."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Literal

from iqa_cli.errors import UsageError

COLUMNS = ("ref", "dist", "model", "score", "error")
Format = Literal["csv", "jsonl"]


def format_score(value: float | None) -> str:
    """Scores are written with 6 significant decimals, empty when missing."""
    return "" if value is None else f"{value:.6g}"


class RowWriter:
    """Writes result rows to a text stream, flushing after each row so a killed run loses nothing written."""

    def __init__(self, stream: IO[str], fmt: Format, header: bool = True) -> None:
        if fmt not in ("csv", "jsonl"):
            raise UsageError(f"unknown output format {fmt!r}: expected csv or jsonl")
        self.stream = stream
        self.fmt = fmt
        self._csv = csv.writer(stream, lineterminator="\n") if fmt == "csv" else None
        if header and self._csv is not None:
            self._csv.writerow(COLUMNS)
            stream.flush()

    def write(self, row: dict[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow(
                [row["ref"], row["dist"], row["model"], format_score(row["score"]), row.get("error") or ""]
            )
        else:
            self.stream.write(json.dumps({k: row.get(k) for k in COLUMNS}) + "\n")
        self.stream.flush()


def _repair_tail(path: Path) -> None:
    """Drop a half-written last line (a run killed mid-write) so appended rows start on a fresh line."""
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return
        fh.seek(0)
        data = fh.read()
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)


def read_done(path: Path, fmt: Format) -> set[tuple[str, str]]:
    """(ref, dist) pairs already written to an output file (scored or failed), after repairing its tail.

    Raises:
        UsageError: the file is not an iqa output of that format.
    """
    if not path.exists() or path.stat().st_size == 0:
        return set()
    _repair_tail(path)
    done: set[tuple[str, str]] = set()
    text = path.read_text(encoding="utf-8")
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None:
            return done
        if tuple(header) != COLUMNS:
            raise UsageError(f"{path} is not an iqa CSV (header {header}) — choose another -o or drop --resume")
        for row in reader:
            if len(row) == len(COLUMNS):
                done.add((row[0], row[1]))
    else:
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                done.add((obj["ref"], obj["dist"]))
            except (json.JSONDecodeError, KeyError, TypeError):
                raise UsageError(f"{path}:{n} is not an iqa JSON line — choose another -o or drop --resume") from None
    return done


def render_table(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    """Plain aligned text table (for humans; stdout stays machine-readable with --json)."""
    rows = list(rows)
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) if rows else len(c) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)
