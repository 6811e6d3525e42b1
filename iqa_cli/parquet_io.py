"""Parquet beside CSV / JSON Lines: pair tables (``--pairs x.parquet``) in, batch rows (``--format parquet``) out.

Needs ``pyarrow`` (part of the ``iqa-cli[ray]`` extra). This module only converts: the rules live elsewhere.
A Parquet pairs table is read by :func:`iqa_cli.datasets.table.read_pair_table` (the same column, path and error
rules as a CSV; :func:`read_cells` hands it the cells), and Parquet output goes through
:class:`iqa_cli.results.ResultSink` (the same resume identity, model+weights check, retry of failed rows, paths
relative to the file's folder and final tally as CSV; :func:`read_rows` / :func:`write_rows` move the rows).
Parquet cannot be appended to or flushed row by row, so the sink rewrites the whole file atomically when it closes:
a run killed outright (SIGKILL, power loss) keeps the previous file but loses its own rows; for per-row durability
write CSV or JSON Lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from iqa_cli.errors import DatasetError, IQAError, UsageError
from iqa_cli.output import COLUMNS

SUFFIXES = (".parquet", ".pq")
ROW_GROUP = 1000  # rows per Parquet row group


def is_parquet(path: str | Path) -> bool:
    """Whether ``path`` names a Parquet file (by its suffix)."""
    return Path(path).suffix.lower() in SUFFIXES


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise IQAError('Parquet needs pyarrow, which is not installed — pip install "iqa-cli[ray]"') from None
    return pa, pq


def require_pyarrow() -> None:
    """Raise :class:`IQAError` (how to install it) unless pyarrow can be imported."""
    _pyarrow()


def read_cells(path: Path, what: str) -> list[tuple[int, list[str]]]:
    """A Parquet table as CSV-like ``(line, cells)`` rows: the column names first (line 1), then each row as text
    (line 2 onward; a missing cell is empty), for :func:`iqa_cli.datasets.table.read_pair_table`.

    Raises:
        DatasetError: the file is missing or not readable as Parquet.
    """
    _, pq = _pyarrow()
    try:
        table = pq.read_table(path)
    except FileNotFoundError as exc:
        raise DatasetError(f"{what} '{path}' not found — check the path") from exc
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {what} '{path}': {exc}") from exc
    columns = [table[name].to_pylist() for name in table.column_names]
    rows: list[tuple[int, list[str]]] = [(1, list(table.column_names))]
    for i in range(table.num_rows):
        rows.append((i + 2, ["" if col[i] is None else str(col[i]) for col in columns]))
    return rows


def _schema(pa: Any) -> Any:
    """Columns of batch rows: ``score`` float64 (exact for the models' float32 scores), the rest strings."""
    return pa.schema([(c, pa.float64() if c == "score" else pa.string()) for c in COLUMNS])


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of an iqa Parquet output in file order; none when the file does not exist.

    Raises:
        UsageError: the file is not readable as Parquet or not an iqa output of this version (other columns).
    """
    if not path.exists():
        return []
    _, pq = _pyarrow()
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise UsageError(
            f"{path} is not a readable Parquet file ({exc}) — choose another -o or drop --resume"
        ) from None
    if tuple(table.column_names) != COLUMNS:
        raise UsageError(
            f"{path} is not an iqa Parquet output of this version (columns {', '.join(table.column_names)}, "
            f"expected {', '.join(COLUMNS)}) — choose another -o or drop --resume"
        )
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def write_rows(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write batch rows (the :data:`~iqa_cli.output.COLUMNS`) to a new Parquet file at ``path``."""
    pa, pq = _pyarrow()
    table = pa.Table.from_pylist([{c: row.get(c) for c in COLUMNS} for row in rows], schema=_schema(pa))
    pq.write_table(table, path, row_group_size=ROW_GROUP)
