"""Process-wide runtime settings: keep freed memory in glibc's allocator instead of handing it back to the OS."""

from __future__ import annotations

import ctypes
import logging
import os
import sys

log = logging.getLogger(__name__)

OPT_OUT_ENV = "IQA_KEEP_FREED_MEMORY"  # "0" leaves the allocator alone
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc <malloc.h>
MMAP_THRESHOLD = 32 * 2**20  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 256 * 2**20


def opted_out() -> bool:
    """Whether ``IQA_KEEP_FREED_MEMORY=0`` asks to leave the allocator alone."""
    return os.environ.get(OPT_OUT_ENV, "").strip() == "0"


def keep_freed_memory() -> bool:
    """Make glibc malloc keep freed memory for reuse instead of returning it to the OS; True if it took effect.

    By default glibc serves each allocation above a (dynamic) threshold with its own ``mmap`` and unmaps it on
    free, and trims the top of the heap when more than a little is free. A forward pass allocates and frees
    feature maps of several MiB each, so every pass maps fresh pages and page-faults them in again, a cost that
    is a large share of a small model's pass (bench/RESULTS.md, "Speed and memory", times both settings). This
    sets ``M_MMAP_THRESHOLD`` to 32 MiB (smaller blocks come from the heap and are reused) and ``M_TRIM_THRESHOLD``
    to 256 MiB. The trade: the process may keep up to about 256 MiB of freed memory (plus freed blocks under 32 MiB
    inside the heap) instead of returning it, so its resident size stays near its peak.

    The setting is process-wide, so the ``iqa`` command calls this for its own process only; library users may
    call it themselves. ``IQA_KEEP_FREED_MEMORY=0`` opts out. Anything other than Linux with glibc (e.g. musl,
    macOS, Windows) is left alone. Never raises.

    Returns:
        True if both ``mallopt`` calls succeeded; False when opted out, not applicable, or refused.
    """
    if opted_out():
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
        mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        mallopt.restype = ctypes.c_int
        results = [mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD), mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)]
    except (OSError, AttributeError):  # no glibc (musl has no libc.so.6), or no mallopt in it
        log.debug("glibc mallopt unavailable; allocator left alone", exc_info=True)
        return False
    log.debug("mallopt(mmap threshold, trim threshold) returned %s", results)
    return results == [1, 1]
