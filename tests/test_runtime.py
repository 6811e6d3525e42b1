"""The allocator setting of the CLI process: glibc mallopt through ctypes, an env opt-out, never an exception."""

from __future__ import annotations

import ctypes
import importlib
import os
import platform
import subprocess
import sys

import pytest

import iqa_cli
from iqa_cli import runtime


class _FakeLibc:
    """Stands in for ``ctypes.CDLL("libc.so.6")``: records ``mallopt`` calls and returns ``result``."""

    def __init__(self, result: int = 1) -> None:
        self.calls: list[tuple[int, int]] = []
        self.result = result

        def mallopt(param: int, value: int) -> int:
            self.calls.append((param, value))
            return self.result

        self.mallopt = mallopt


def test_sets_both_thresholds_through_mallopt(monkeypatch: pytest.MonkeyPatch) -> None:
    libc = _FakeLibc()
    opened: list[str] = []
    monkeypatch.setattr(ctypes, "CDLL", lambda name: (opened.append(name), libc)[1])
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv(runtime.OPT_OUT_ENV, raising=False)
    assert runtime.keep_freed_memory() is True
    assert opened == ["libc.so.6"]
    assert libc.calls == [(-3, 32 * 2**20), (-1, 256 * 2**20)]
    libc.result = 0  # glibc refused a value
    assert runtime.keep_freed_memory() is False


def test_opt_out_does_not_call_mallopt(monkeypatch: pytest.MonkeyPatch) -> None:
    libc = _FakeLibc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
    monkeypatch.setenv(runtime.OPT_OUT_ENV, "0")
    assert runtime.keep_freed_memory() is False
    assert libc.calls == []


@pytest.mark.parametrize("failure", [OSError("libc.so.6: cannot open shared object file"), AttributeError("mallopt")])
def test_no_glibc_gives_false_not_an_exception(failure: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    def cdll(name: str) -> object:
        raise failure

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv(runtime.OPT_OUT_ENV, raising=False)
    assert runtime.keep_freed_memory() is False


def test_other_systems_are_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    libc = _FakeLibc()
    monkeypatch.setattr(ctypes, "CDLL", lambda name: libc)
    monkeypatch.setattr(sys, "platform", "darwin")
    monkeypatch.delenv(runtime.OPT_OUT_ENV, raising=False)
    assert runtime.keep_freed_memory() is False
    assert libc.calls == []


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="needs Linux with glibc"
)
def test_takes_effect_on_linux_with_glibc() -> None:
    # in a child process: the setting is process-wide and the test process should keep its own
    code = "from iqa_cli import keep_freed_memory; print(keep_freed_memory())"
    env = {k: v for k, v in os.environ.items() if k != runtime.OPT_OUT_ENV}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "True"


def test_is_exported_lazily() -> None:
    assert "keep_freed_memory" in iqa_cli.__all__
    assert iqa_cli.keep_freed_memory is runtime.keep_freed_memory


def test_cli_main_applies_it(monkeypatch: pytest.MonkeyPatch) -> None:
    cli = importlib.import_module("iqa_cli.cli.entry")  # the module of main (the package's `app` is the Typer app)

    seen: list[bool] = []
    monkeypatch.setattr(runtime, "keep_freed_memory", lambda: seen.append(True) or True)
    monkeypatch.setattr(cli, "app", lambda: None)
    cli.main()
    assert seen == [True]
