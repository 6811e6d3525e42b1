"""The ``iqa`` Typer app: the root options, and every command registered under its name.

One file per command in :mod:`iqa_cli.cli.commands` (parse -> call the API -> render; no maths, no torch at
import); shared options in :mod:`iqa_cli.cli.options`; stderr, progress and error lines in
:mod:`iqa_cli.cli.terminal`. stdout carries data only (a bare score, JSON, CSV); progress, summaries and errors go
to stderr. Exit codes: 0 ok, 1 data/runtime error (bad image, missing weights, some pairs failed), 2 usage error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated, Any

import typer

from iqa_cli import __version__
from iqa_cli.cli.commands.adapt import adapt
from iqa_cli.cli.commands.attack import attack
from iqa_cli.cli.commands.batch import batch
from iqa_cli.cli.commands.evaluate import evaluate
from iqa_cli.cli.commands.fit import fit
from iqa_cli.cli.commands.models import models
from iqa_cli.cli.commands.score import score
from iqa_cli.cli.commands.train import train
from iqa_cli.cli.terminal import fail
from iqa_cli.errors import EXIT_OK, IQAError

app = typer.Typer(
    name="iqa",
    help="Full-reference image quality: how much a distorted image has lost against its reference.\n\n"
    "Scores of the default model are 0-100, higher is better, 100 = identical to the reference.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


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


def _errors_to_exit_codes(command: Callable[..., None]) -> Callable[..., None]:
    """The command, with any :class:`~iqa_cli.errors.IQAError` it raises mapped by :func:`fail` (one line, exit code).

    ``functools.wraps`` keeps the name, help and signature Typer reads the options from.
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except IQAError as exc:
            fail(exc)

    return run


for _command in (score, batch, models, evaluate, adapt, fit, attack, train):
    app.command()(_errors_to_exit_codes(_command))
