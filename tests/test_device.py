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


def test_full_float32_turns_tf32_off_on_cuda_only_and_restores_the_callers_setting() -> None:
    from iqa_cli.device import _tf32_switches, full_float32

    switches = _tf32_switches()
    before = [getattr(owner, name) for owner, name, _ in switches]
    with full_float32(torch.device("cpu")):
        assert [getattr(owner, name) for owner, name, _ in switches] == before  # CPU: nothing touched
    with full_float32(torch.device("cuda")):  # a device object needs no GPU: the switches are process-wide
        assert [getattr(owner, name) for owner, name, _ in switches] == [v for _, _, v in switches]
        with full_float32(torch.device("cuda:0")):  # nested (another thread's call): still off
            pass
        assert [getattr(owner, name) for owner, name, _ in switches] == [v for _, _, v in switches]
    assert [getattr(owner, name) for owner, name, _ in switches] == before
    with pytest.raises(RuntimeError), full_float32(torch.device("cuda")):
        raise RuntimeError("a failing forward pass")
    assert [getattr(owner, name) for owner, name, _ in switches] == before


def test_full_float32_holds_while_any_thread_is_inside() -> None:
    import threading

    from iqa_cli.device import _tf32_switches, full_float32

    switches = _tf32_switches()
    before = [getattr(owner, name) for owner, name, _ in switches]
    inside, release = threading.Event(), threading.Event()

    def hold() -> None:
        with full_float32(torch.device("cuda")):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    inside.wait(10)
    with full_float32(torch.device("cuda")):
        pass  # this thread leaves first: the other one is still inside, so the switches stay off
    assert [getattr(owner, name) for owner, name, _ in switches] == [v for _, _, v in switches]
    release.set()
    t.join()
    assert [getattr(owner, name) for owner, name, _ in switches] == before
