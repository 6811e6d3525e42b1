"""Device selection: only ``auto`` chooses; an explicit device that is not there is an error."""

from __future__ import annotations

import pytest
import torch

from iqa_cli.device import resolve_device
from iqa_cli.errors import DeviceError, UsageError

HAS_CUDA = torch.cuda.is_available()
_mps = getattr(torch.backends, "mps", None)
HAS_MPS = bool(_mps is not None and _mps.is_available())


def test_cpu() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(" CPU ") == torch.device("cpu")


def test_auto_picks_what_is_there() -> None:
    expected = "cuda" if HAS_CUDA else "mps" if HAS_MPS else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device().type == expected


def test_device_fixture_runs(device: str) -> None:
    assert resolve_device(device).type == device


@pytest.mark.skipif(HAS_CUDA, reason="a CUDA GPU is available here")
@pytest.mark.parametrize("spec", ["cuda", "cuda:0", "cuda:3"])
def test_cuda_without_a_gpu_is_an_error(spec: str) -> None:
    with pytest.raises(DeviceError, match=f"device '{spec}' was requested but no CUDA GPU is available"):
        resolve_device(spec)


@pytest.mark.skipif(HAS_MPS, reason="Apple MPS is available here")
def test_mps_without_mps_is_an_error() -> None:
    with pytest.raises(DeviceError, match="device 'mps' was requested but Apple MPS is not available"):
        resolve_device("mps")


def test_cuda_index_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("cuda") == torch.device("cuda:0")
    assert resolve_device("cuda:0") == torch.device("cuda:0")
    with pytest.raises(DeviceError, match=r"device 'cuda:3' was requested but only 1 CUDA device\(s\) exist"):
        resolve_device("cuda:3")


@pytest.mark.parametrize("spec", ["foo", "gpu", "", "cuda:", "cuda:x", "cuda:-1", "cpu:0", "cuda 0"])
def test_garbage_is_a_usage_error(spec: str) -> None:
    with pytest.raises(UsageError, match="unknown device .*: expected auto, cpu, cuda, cuda:N or mps"):
        resolve_device(spec)
