"""The ``iqa`` command line (console script ``iqa = iqa_cli.cli:main``, also ``python -m iqa_cli``).

``app`` is the Typer app (:mod:`iqa_cli.cli.app`), ``main`` the process entry point around it
(:mod:`iqa_cli.cli.entry`).
"""

from iqa_cli.cli.app import app
from iqa_cli.cli.entry import main

__all__ = ["app", "main"]
