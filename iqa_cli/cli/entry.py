"""The console-script entry point (``iqa = iqa_cli.cli:main``, ``python -m iqa_cli``): the process around the app.

Before the app: glibc malloc keeps freed memory. Around it: a closed stdout ends quietly with exit 141, and an
exception nobody raised on purpose is one ``iqa: error:`` line and exit 1 (:func:`iqa_cli.cli.terminal.fail`).
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import typer

from iqa_cli.cli.app import app
from iqa_cli.cli.terminal import fail

EXIT_STDOUT_CLOSED = 141  # 128 + SIGPIPE: what a shell reports for a Unix tool whose stdout reader went away


def _stdout_closed() -> NoReturn:
    """The reader of stdout went away (``iqa batch | head -1``): stop like a Unix tool, silently, exit 141.

    stdout's descriptor is pointed at the null device first, so rows still buffered are dropped at exit instead of
    raising again there ("Exception ignored ... BrokenPipeError").
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())  # type: ignore[union-attr]
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real descriptor behind stdout: nothing is left to flush there
        pass
    sys.exit(EXIT_STDOUT_CLOSED)


def main() -> None:
    """Console-script entry point; an unexpected exception is one ``iqa: error:`` line and exit 1 too.

    A closed stdout (its reader exited, e.g. ``| head -1``) ends any command quietly with exit 141, like a Unix
    tool killed by SIGPIPE: no traceback, no error line, no further scoring (the write that fails stops the run).

    The process is ours, so first glibc malloc is told to keep freed memory for reuse (faster forward passes; see
    :func:`iqa_cli.runtime.keep_freed_memory`, ``IQA_KEEP_FREED_MEMORY=0`` opts out).
    """
    from iqa_cli.runtime import keep_freed_memory

    keep_freed_memory()
    stdout = sys.stdout
    try:
        try:
            app()
        finally:
            # what was printed but is still buffered (a bare score) meets a closed pipe here, not at exit
            if sys.stdout is stdout and stdout is not None:  # None: started with no stdout at all (`>&-`)
                stdout.flush()
    except BrokenPipeError:
        _stdout_closed()
    except SystemExit:
        # Typer handles a broken pipe inside a command or --help itself: it swaps sys.stdout for a wrapper that
        # swallows flush errors and exits 1. That swap is how we tell it from an ordinary exit.
        if sys.stdout is not stdout:
            _stdout_closed()
        raise
    except Exception as exc:  # not raised on purpose (e.g. CUDA out of memory); IQAErrors are mapped in commands
        try:
            fail(exc)
        except typer.Exit as done:
            sys.exit(done.exit_code)


if __name__ == "__main__":
    main()
