"""The ``iqa`` command line (console script ``iqa = iqa_cli.cli:main``, also ``python -m iqa_cli``)."""

from iqa_cli.cli.app import app, main

__all__ = ["app", "main"]
