"""Rendering results: CSV and JSON Lines with fixed columns, one flushed row per pair; reading them back."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any, Literal

from iqa_cli.errors import UsageError

# ``weights``: the first WEIGHTS_ID_LEN hex digits of the sha256 of the weights file the score came from ("none" for
# training-free models), so a score from `--weights FILE` is never mistaken for one of the shipped model.
COLUMNS = ("ref", "dist", "model", "weights", "score", "error")
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
                [
                    row["ref"],
                    row["dist"],
                    row["model"],
                    row["weights"],
                    format_score(row["score"]),
                    row.get("error") or "",
                ]
            )
        else:
            self.stream.write(json.dumps({k: row.get(k) for k in COLUMNS}) + "\n")
        self.stream.flush()


def repair_tail(path: Path) -> None:
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


def _foreign(path: Path, what: str) -> UsageError:
    return UsageError(f"{path} is not an iqa {what} of this version — choose another -o or drop --resume")


def read_rows(path: Path, fmt: Format) -> list[dict[str, Any]]:
    """Rows of an iqa output file in file order (``score`` a float or None, ``error`` a str or None).

    A half-written last line (a killed run) is dropped from the file first.

    Raises:
        UsageError: the file is not an iqa output of that format and column set.
    """
    if not path.exists() or path.stat().st_size == 0:
        return []
    repair_tail(path)
    text = path.read_text(encoding="utf-8")
    rows: list[dict[str, Any]] = []
    if fmt == "csv":
        reader = csv.reader(io.StringIO(text))
        header = next(reader, None)
        if header is None:
            return rows
        if tuple(header) != COLUMNS:
            raise _foreign(path, f"CSV (header {','.join(header)}, expected {','.join(COLUMNS)})")
        for n, values in enumerate(reader, 2):
            if len(values) != len(COLUMNS):
                raise _foreign(path, f"CSV (line {n} has {len(values)} fields)")
            row: dict[str, Any] = dict(zip(COLUMNS, values))
            try:
                row["score"] = float(row["score"]) if row["score"] else None
            except ValueError:
                raise _foreign(path, f"CSV (line {n}: score {row['score']!r})") from None
            row["error"] = row["error"] or None
            rows.append(row)
        return rows
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise _foreign(path, f"JSON Lines file (line {n} is not JSON)") from None
        if not isinstance(obj, dict) or tuple(obj) != COLUMNS:
            raise _foreign(path, f"JSON Lines file (line {n} lacks the keys {', '.join(COLUMNS)})")
        rows.append(obj)
    return rows


def render_table(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    """Plain aligned text table (for humans; stdout stays machine-readable with --json)."""
    rows = list(rows)
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) if rows else len(c) for c in columns]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(str(r.get(c, "")).ljust(w) for c, w in zip(columns, widths)) for r in rows]
    return "\n".join(lines)
