"""stderr rendering shared by the commands: one console (markup off), progress bars, unmatched-file reports.

CLI layer only: library modules never import this.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from iqa_cli.pairs import Pairing


def stderr_console() -> Any:
    """The stderr console of a command.

    markup off: file names such as "[draft] a.png" print as they are; soft_wrap: no line breaks inside long paths
    (stderr lines stay one message each, greppable).
    """
    from rich.console import Console

    return Console(stderr=True, highlight=False, markup=False, soft_wrap=True)


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
    """A rich progress bar with rate and ETA on stderr, or None.

    None when disabled, when stderr is not a terminal, or when ``rows_on_stdout`` and stdout is that same
    terminal: a live bar redraws its line while rows are printed, and the two would glue together.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    if not enabled or not console.is_terminal or (rows_on_stdout and stdout_shares_terminal()):
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
