"""What the commands write to the terminal besides data: the one stderr console, the progress helper, error lines.

stdout carries data only (a bare score, JSON, CSV rows); everything here goes to stderr. CLI layer only: library
modules never import this (they raise :class:`~iqa_cli.errors.IQAError` and take progress callbacks).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from iqa_cli.errors import IQAError, exit_code_for

if TYPE_CHECKING:
    from iqa_cli.pairs import Pairing


def stderr_console() -> Any:
    """The stderr console of a command.

    markup and emoji codes off: file names such as "[draft] a.png" or "a:cat:.png" print as they are; soft_wrap: no
    line breaks inside long paths (stderr lines stay one message each, greppable).
    """
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, emoji=False, soft_wrap=True)


def fail(exc: BaseException) -> NoReturn:
    """Map an exception to a one-line message on stderr and its exit code (traceback with IQA_DEBUG=1).

    The one place where errors become exit codes: :mod:`iqa_cli.cli.app` routes every command's
    :class:`~iqa_cli.errors.IQAError` here, :func:`iqa_cli.cli.entry.main` any other exception.
    """
    if os.environ.get("IQA_DEBUG"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    message = str(exc) if isinstance(exc, IQAError) else f"{type(exc).__name__}: {exc}"
    print(f"iqa: error: {message}", file=sys.stderr)
    raise typer.Exit(exit_code_for(exc))


def check_readable(path: Path | None, what: str, error: type[IQAError]) -> None:
    """An input file exists and is readable, checked before any work (one line, exit 1 for data errors)."""
    if path is None:
        return
    prefix = f"cannot read {what} '{path}'" if what == "image" else f"cannot read {what} {path}"
    if path.is_dir():
        raise error(f"{prefix}: it is a folder, not a file")
    if not path.exists():
        raise error(f"{prefix}: file not found")
    if not os.access(path, os.R_OK):
        raise error(f"{prefix}: permission denied")


def weights_note(info: dict[str, Any]) -> str:
    """How a summary names the weights: their id, and a warning when they are not the shipped ones."""
    sha = info.get("weights_sha256")
    if not sha:
        return "no weights"
    note = f"weights {sha[:12]}"
    if info.get("weights_shipped"):
        return note + ", shipped"
    extra = ", ".join(f"{k} {info[f'weights_{k}']}" for k in ("kind", "domain") if info.get(f"weights_{k}"))
    return note + f" from {info.get('weights')}, NOT the shipped default" + (f": {extra}" if extra else "")


def report_unmatched(pairing: Pairing, console: Any) -> None:
    """Unmatched files are listed on stderr, never silently dropped."""
    for label, items in (("reference", pairing.unmatched_ref), ("distorted", pairing.unmatched_dist)):
        if items:
            shown = ", ".join(str(p) for p in items[:10])
            more = f" (and {len(items) - 10} more)" if len(items) > 10 else ""
            console.print(f"iqa: {len(items)} {label} image(s) without a partner: {shown}{more}")


def stdout_shares_terminal() -> bool:
    """True when stdout is a terminal that stderr also writes to (rows and a live bar would share its lines)."""
    try:
        if not (sys.stdout.isatty() and sys.stderr.isatty()):
            return False
    except (ValueError, AttributeError):  # closed or replaced streams
        return False
    try:
        return os.ttyname(sys.stdout.fileno()) == os.ttyname(sys.stderr.fileno())
    except (OSError, ValueError, AttributeError):  # both terminals but not comparable: assume shared
        return True


def progress_bar(console: Any, enabled: bool, *, rows_on_stdout: bool = False) -> Any:
    """A rich progress bar with rate and ETA on stderr, or None (the bar behind :class:`Progress`).

    None when disabled, when stderr is not a terminal, or when ``rows_on_stdout`` and stdout is that same
    terminal: a live bar redraws its line while rows are printed, and the two would glue together.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
    from rich.progress import Progress as RichProgress

    if not enabled or not console.is_terminal or (rows_on_stdout and stdout_shares_terminal()):
        return None
    return RichProgress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    )


class Progress:
    """The progress helper of every command: a bar on stderr, or nothing at all (same calls either way).

    The bar appears with the first task (after the model loaded, so early errors print alone) and goes when the
    ``with`` block ends. Usage::

        with Progress(console, enabled) as progress:
            progress.start("scoring", len(todo))
            run(..., on_result=progress.advance)           # one item done per call, with a rate in pairs/s
            run(..., progress=progress.phases({"train": "adapting"}))  # library callbacks (phase, done, total)
    """

    def __init__(self, console: Any, enabled: bool, *, rows_on_stdout: bool = False) -> None:
        self._bar = progress_bar(console, enabled, rows_on_stdout=rows_on_stdout)
        self._live = False
        self._task: Any = None
        self._t0 = 0.0
        self._done = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live:
            self._bar.stop()
            self._live = False

    def start(self, label: str, total: int, completed: int = 0) -> None:
        """Begin a task of ``total`` items; :meth:`advance` and :meth:`update` move the latest task."""
        if self._bar is None:
            return
        if not self._live:
            self._bar.start()
            self._live = True
        self._task = self._bar.add_task(label, total=total, completed=completed, rate="")
        self._t0, self._done = time.perf_counter(), 0

    def advance(self, _: object = None) -> None:
        """One more item of the current task done (the argument, e.g. a result, is ignored)."""
        if self._bar is None or self._task is None:
            return
        self._done += 1
        rate = self._done / max(time.perf_counter() - self._t0, 1e-9)
        self._bar.update(self._task, advance=1, rate=f"{rate:.1f} pairs/s")

    def update(self, done: int, total: int | None = None) -> None:
        """The current task stands at ``done`` of ``total`` (default: unchanged)."""
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, total=total)

    def phases(self, labels: dict[str, str]) -> Callable[[str, int, int], None]:
        """A ``progress(phase, done, total)`` callback for the library: one task per phase, labelled by ``labels``."""
        started: dict[str, Any] = {}

        def on_progress(phase: str, done: int, total: int) -> None:
            if self._bar is None:
                return
            if phase not in started:
                self.start(labels.get(phase, phase), total, completed=done)
                started[phase] = self._task
            self._bar.update(started[phase], completed=done, total=total)

        return on_progress
