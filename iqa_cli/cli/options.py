"""Options shared by several commands, written once (choices as enums, paths checked by the command, not by Typer).

Path parameters are declared with :func:`path_argument` / :func:`path_option` (``readable=False``): Typer would report
an unreadable file as a usage box with exit 2; the commands check their inputs with
:func:`iqa_cli.cli.terminal.check_readable`, or the library reports them (one ``iqa: error:`` line, exit 1).
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer


def path_argument(help: str, **kwargs: Any) -> Any:
    """A path argument; its readability is checked by the command or the library, not by Typer."""
    return typer.Argument(help=help, readable=False, **kwargs)


def path_option(*names: str, help: str, **kwargs: Any) -> Any:
    """A path option; its readability is checked by the command or the library, not by Typer."""
    return typer.Option(*names, help=help, readable=False, **kwargs)


class ResizePolicy(str, Enum):
    none = "none"
    dist = "dist"


class OutFormat(str, Enum):
    csv = "csv"
    jsonl = "jsonl"


class BatchFormat(str, Enum):
    """``iqa batch`` also writes Parquet (needs -o and pyarrow); other commands write CSV / JSON Lines only."""

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


ModelOpt = Annotated[
    str | None,
    typer.Option("--model", "-m", help="Registered model name (see `iqa models`); default model if omitted."),
]
WeightsOpt = Annotated[
    Path | None,
    path_option(
        "--weights", help="Weights file from `iqa adapt`/`iqa fit` instead of the shipped one.", dir_okay=False
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
FormatOpt = Annotated[OutFormat, typer.Option("--format", "-f", help="csv or jsonl.")]
RowsOutputOpt = Annotated[Path | None, path_option("--output", "-o", help="Write rows here instead of stdout.")]
ProgressOpt = Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bar on stderr (terminal only).")]
