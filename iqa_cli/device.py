"""Device selection: ``auto|cpu|cuda|cuda:N|mps`` -> ``torch.device``, and full float32 arithmetic on CUDA.

An explicit device that is not there is an error, never a silent fallback; only ``auto`` chooses.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

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


_lock = threading.Lock()
_depth = 0
_saved: list[tuple[Any, str, Any]] = []


def _tf32_switches() -> list[tuple[Any, str, Any]]:
    """(owner, attribute, full-float32 value) of each PyTorch switch that lets CUDA round float32 to TF32."""
    import torch

    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):  # the per-operator API (torch >= 2.9): mixing is an error
        return [(conv, "fp32_precision", "ieee"), (torch.backends.cuda.matmul, "fp32_precision", "ieee")]
    return [(torch.backends.cudnn, "allow_tf32", False), (torch.backends.cuda.matmul, "allow_tf32", False)]


@contextmanager
def full_float32(device: torch.device) -> Iterator[None]:
    """On CUDA, convolutions and matrix products in full float32 inside the block (TF32 off), then as they were.

    PyTorch runs cuDNN float32 convolutions in TF32 by default on Ampere and later GPUs (a 10-bit mantissa): the
    HaarPSI and SSIM baselines then differed from the CPU by up to 8.5e-4 on a 0-1 scale on an H200 (measured,
    tests/test_gpu.py), and a score must not depend on the GPU's generation. The switches are process-wide, so the
    block counts its users across threads: the first one in sets them, the last one out restores the caller's values.
    Elsewhere (CPU, MPS) nothing is touched.
    """
    global _depth
    if device.type != "cuda":
        yield
        return
    with _lock:
        if _depth == 0:
            switches = _tf32_switches()
            _saved[:] = [(owner, name, getattr(owner, name)) for owner, name, _ in switches]
            for owner, name, value in switches:
                setattr(owner, name, value)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                for owner, name, value in _saved:
                    setattr(owner, name, value)
                _saved.clear()
