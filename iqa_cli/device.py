"""Device selection: ``auto|cpu|cuda|cuda:N|mps`` -> ``torch.device``.

An explicit device that is not there is an error, never a silent fallback; only ``auto`` chooses.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from iqa_cli.errors import DeviceError, UsageError

if TYPE_CHECKING:
    import torch

_PATTERN = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def resolve_device(spec: str = "auto") -> torch.device:
    """Turn a device string into a ``torch.device`` that exists on this machine.

    Args:
        spec: ``auto`` (CUDA if present, else MPS if present, else CPU), ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Returns:
        The device.

    Raises:
        UsageError: the string is not one of the accepted forms.
        DeviceError: the requested device is not available here.
    """
    import torch

    spec = spec.strip().lower()
    if not _PATTERN.match(spec):
        raise UsageError(f"unknown device {spec!r}: expected auto, cpu, cuda, cuda:N or mps")
    if spec == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if spec == "cpu":
        return torch.device("cpu")
    if spec == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError("device 'mps' was requested but Apple MPS is not available here — use --device cpu")
        return torch.device("mps")
    if not torch.cuda.is_available():
        raise DeviceError(f"device {spec!r} was requested but no CUDA GPU is available here — use --device cpu or auto")
    index = int(spec.split(":")[1]) if ":" in spec else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise DeviceError(f"device {spec!r} was requested but only {count} CUDA device(s) exist (cuda:0..)")
    return torch.device(f"cuda:{index}")
