"""The one reader of ``ref,dist[,score]`` tables (CSV, or Parquet through :mod:`iqa_cli.parquet_io`).

It serves pairs lists (``iqa batch --pairs``), score tables (``iqa evaluate`` and ``iqa fit`` on a generic CSV)
and label tables (``iqa attack --labels``), so the three follow one set of rules:

- UTF-8 (an optional BOM is skipped); blank rows are ignored; a header row names the columns, in any case and
  order, ``reference``/``distorted`` being accepted for ``ref``/``dist``; other columns are ignored.
- Relative paths are resolved against ``root``, or the table's folder; files are not checked here.
- Every problem raises :class:`~iqa_cli.errors.DatasetError` naming the table, the line and what to do.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from iqa_cli.datasets.common import parse_score
from iqa_cli.errors import DatasetError

__all__ = ["TableRow", "read_pair_table"]

_ALIASES: dict[str, tuple[str, ...]] = {"ref": ("ref", "reference"), "dist": ("dist", "distorted"), "score": ("score",)}


@dataclass(frozen=True)
class TableRow:
    """One row of a pair table.

    Attributes:
        ref: Reference image path (resolved against the root, not checked).
        dist: Distorted image path.
        score: The ``score`` cell; NaN when the table was read without scores.
        line: Line number in the file (for messages).
    """

    ref: Path
    dist: Path
    score: float
    line: int


def _read_cells(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """``(line, cells)`` of every row, the header first; a Parquet file (by suffix) as its column names then rows."""
    from iqa_cli.parquet_io import is_parquet, read_cells

    if is_parquet(path):
        return read_cells(path, what)
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            return [(reader.line_num, row) for row in reader]
    except FileNotFoundError as exc:
        raise DatasetError(f"{what} '{path}' not found — check the path") from exc
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {what} '{path}': {exc}") from exc


def read_pair_table(
    path: str | Path, what: str = "CSV", *, score: bool = False, root: Path | None = None
) -> list[TableRow]:
    """Read a ``ref,dist`` (or, with ``score``, ``ref,dist,score``) table.

    Args:
        path: The CSV file, or a Parquet file (``.parquet``/``.pq``: its columns as the header, rows numbered
            as lines from 2; needs pyarrow).
        what: What the table is, for messages, e.g. ``"pairs CSV"``.
        score: Require a ``score`` column of finite numbers.
        root: Folder that relative paths are resolved against (default: the table's folder).

    Returns:
        The rows, in file order (at least one).

    Raises:
        DatasetError: The file is missing or unreadable, is empty, lacks a column, has no rows, has an empty
            ``ref``/``dist`` cell, or (with ``score``) a score that is not a finite number.
    """
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    rows = [(line, row) for line, row in _read_cells(path, what) if any(cell.strip() for cell in row)]
    names = ("ref", "dist", "score") if score else ("ref", "dist")
    columns = ",".join(names)
    if not rows:
        raise DatasetError(f"{what} '{path}' is empty — expected a header row with columns {columns}")
    header = [cell.strip().lower() for cell in rows[0][1]]
    found = [next((header.index(a) for a in _ALIASES[name] if a in header), None) for name in names]
    if None in found:
        raise DatasetError(
            f"{what} '{path}' needs a header with columns {columns} ('reference' and 'distorted' also accepted); "
            f"found: {', '.join(rows[0][1]) or '(none)'}"
        )
    if len(rows) == 1:
        raise DatasetError(f"{what} '{path}' has a header but no rows — add one row per pair")
    out: list[TableRow] = []
    for line, row in rows[1:]:
        cells = [row[i].strip() if i is not None and i < len(row) else "" for i in found]
        if not cells[0] or not cells[1]:
            raise DatasetError(f"{what} '{path}', line {line}: empty 'ref' or 'dist' cell")
        value = parse_score(cells[2], f"{what} '{path}', line {line}") if score else math.nan
        out.append(TableRow(ref=base / cells[0], dist=base / cells[1], score=value, line=line))
    return out
