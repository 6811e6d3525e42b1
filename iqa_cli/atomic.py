"""Helpers for files written atomically (a temporary file in the target folder, then ``os.replace``)."""

from __future__ import annotations

import os


def new_file_mode() -> int:
    """The mode a plainly created file gets here: ``0o666`` less the process umask (usually ``0o644``).

    ``tempfile.mkstemp`` creates its file with mode ``0o600``; an output moved into place from it would otherwise be
    readable by its owner only, unlike every other file the user writes.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask
