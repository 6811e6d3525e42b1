"""Parquet beside the batch engines: a (ref, dist) manifest in, result rows out (same columns as CSV / JSONL).

Needs ``pyarrow`` (part of the ``iqa-cli[ray]`` extra). Parquet cannot be appended to or flushed row by row, so
:class:`ParquetRowWriter` writes row groups to a hidden partial file beside the target and moves it into place
when the run ends (also after Ctrl-C or a failure inside the run). With ``--resume`` the rows of the existing file
are carried over first. A run killed outright (SIGKILL, power loss) leaves the previous file intact but loses its
own rows: for per-row durability write CSV or JSON Lines.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import Any

from iqa_cli.errors import IQAError, PairingError, UsageError
from iqa_cli.pairs import Pair, Pairing

ROW_GROUP = 1000  # rows per Parquet row group


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise IQAError('Parquet needs pyarrow, which is not installed — pip install "iqa-cli[ray]"') from None
    return pa, pq


def read_manifest(path: Path, root: Path | None = None) -> Pairing:
    """Pairs from a Parquet manifest with ``ref`` and ``dist`` columns (or ``reference``/``distorted``), in row
    order; relative paths resolve against ``root`` or the manifest's folder, as for a pairs CSV.

    Raises:
        PairingError: unreadable file, missing column, no rows or an empty cell.
    """
    _, pq = _pyarrow()
    base = Path(root) if root is not None else path.parent
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise PairingError(f"manifest '{path}' not found — check the path") from None
    except (OSError, ValueError) as exc:
        raise PairingError(f"cannot read Parquet manifest '{path}': {exc}") from None
    names = {n.strip().lower(): n for n in table.column_names}
    ref_col = next((names[a] for a in ("ref", "reference") if a in names), None)
    dist_col = next((names[a] for a in ("dist", "distorted") if a in names), None)
    if ref_col is None or dist_col is None:
        raise PairingError(
            f"manifest '{path}' needs columns 'ref' and 'dist' (or 'reference' and 'distorted'); "
            f"found: {', '.join(table.column_names) or '(none)'}"
        )
    if table.num_rows == 0:
        raise PairingError(f"manifest '{path}' has no rows — add one row per pair")
    pairs = []
    for i, (ref, dist) in enumerate(zip(table[ref_col].to_pylist(), table[dist_col].to_pylist())):
        if not ref or not dist:
            raise PairingError(f"manifest '{path}', row {i}: empty 'ref' or 'dist' cell")
        pairs.append(Pair(base / str(ref).strip(), base / str(dist).strip()))
    return Pairing(pairs=pairs, unmatched_ref=[], unmatched_dist=[], mode="csv")


def _schema(pa: Any, columns: tuple[str, ...]) -> Any:
    return pa.schema([(c, pa.float64() if c == "score" else pa.string()) for c in columns])


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    _, pq = _pyarrow()
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable Parquet file ({exc}) — choose another -o or drop --resume") from exc
    if tuple(table.column_names) != columns:
        raise UsageError(
            f"{path} is not an iqa Parquet output (columns {table.column_names}) — choose another -o or drop --resume"
        )
    return table.to_pylist()


def read_done_parquet(path: Path, columns: tuple[str, ...]) -> set[tuple[str, str]]:
    """(ref, dist) pairs already in a Parquet output (scored or failed); empty when the file does not exist."""
    if not path.exists():
        return set()
    return {(r["ref"], r["dist"]) for r in _read_rows(path, columns)}


class ParquetRowWriter:
    """Result rows to a Parquet file (see the module docstring); a context manager, like an open file."""

    def __init__(self, path: Path, columns: tuple[str, ...], keep_existing: bool = False) -> None:
        self.pa, pq = _pyarrow()
        self.path, self.columns = Path(path), columns
        self.partial = self.path.with_name(f".{self.path.name}.partial")
        self.schema = _schema(self.pa, columns)
        self._rows: list[dict[str, Any]] = []
        self._writer = pq.ParquetWriter(self.partial, self.schema)
        if keep_existing and self.path.exists():
            for row in _read_rows(self.path, columns):
                self.write(row)

    def write(self, row: dict[str, Any]) -> None:
        self._rows.append({c: row.get(c) for c in self.columns})
        if len(self._rows) >= ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(self.pa.Table.from_pylist(self._rows, schema=self.schema))
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()
        os.replace(self.partial, self.path)

    def __enter__(self) -> ParquetRowWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
