"""Packaging: a wheel built from the repository (not editable) carries the shipped weights, the licence and the
notice, and scores outside the checkout; the declared build requirements can build the declared metadata."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built once without isolation (the dev extra's setuptools)."""
    pytest.importorskip("setuptools")
    wheel_dir = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheel_dir),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    (path,) = wheel_dir.glob("*.whl")
    return path


def _requirements() -> dict[str, list[str]]:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {
        "build-system": project["build-system"]["requires"],
        "dev": project["project"]["optional-dependencies"]["dev"],
    }


def test_licence_and_notice_are_in_the_repository() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text
    assert len(text.splitlines()) == 202  # the full text, as published by the ASF
    notice = (ROOT / "NOTICE").read_text()
    assert "Apache License, Version 2.0" in notice
    assert "Kodak" in notice and "BSDS500" in notice and "Urban100" in notice and "KADID-10k" in notice


def test_build_requirements_support_the_spdx_licence_field() -> None:
    """`license = "Apache-2.0"` (an SPDX expression) and `license-files` need setuptools >= 77."""
    from packaging.requirements import Requirement

    for where, requirements in _requirements().items():
        (setuptools,) = [Requirement(r) for r in requirements if Requirement(r).name == "setuptools"]
        assert not setuptools.specifier.contains("76.9"), f"{where} allows a setuptools without PEP 639 support"
        assert setuptools.specifier.contains("77.0.3"), where


@pytest.mark.slow
def test_wheel_carries_the_licence_and_notice(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (dist_info,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
        assert zf.read(f"{dist_info}/licenses/LICENSE") == (ROOT / "LICENSE").read_bytes()
        assert zf.read(f"{dist_info}/licenses/NOTICE") == (ROOT / "NOTICE").read_bytes()
        metadata = zf.read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata.splitlines()
    assert {"License-File: LICENSE", "License-File: NOTICE"} <= set(metadata.splitlines())


@pytest.mark.slow
def test_wheel_carries_weights_and_scores_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    assert (target / "iqa_cli" / "shipped" / "causal-iqa.safetensors").is_file()
    packaged = target / "iqa_cli" / "synth" / "kadid_conditions.csv"
    assert packaged.read_bytes() == (ROOT / "iqa_cli" / "synth" / "kadid_conditions.csv").read_bytes()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(target)}
    ref, dist = ROOT / "examples" / "ref" / "parrots.png", ROOT / "examples" / "dist" / "parrots_jpeg.png"
    run = subprocess.run(
        [sys.executable, "-m", "iqa_cli", "score", str(ref), str(dist), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    from iqa_cli.api import load_model

    assert out["model"] == "causal-iqa"
    assert out["score"] == pytest.approx(load_model(device="cpu").score(ref, dist), abs=1e-4)

    # adapt (the shipped model has the masked Haar block) reads the packaged conditions: no shared data folder
    from tests.conftest import textured, write_png

    domain = tmp_path / "domain"
    domain.mkdir()
    for i in range(4):
        write_png(domain / f"img{i}.png", textured(40, 40, 3, seed=i))
    env["IQA_SHARED_DATA"] = str(tmp_path / "no-data")  # does not exist
    adapt = subprocess.run(
        [sys.executable, "-m", "iqa_cli", "adapt", str(domain), "-o", "d.safetensors", "--no-progress", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert adapt.returncode == 0, adapt.stderr
    assert len(json.loads(adapt.stdout)["masked"]["conditions"]) == 65 and (tmp_path / "d.safetensors").is_file()


def test_every_lazy_public_name_resolves() -> None:
    """`import iqa_cli; iqa_cli.NAME` works for every lazily exported name (functions, classes, the attack package)."""
    code = "import iqa_cli\nfor n in iqa_cli._LAZY: getattr(iqa_cli, n)\nassert callable(iqa_cli.attack.attack_pair)\n"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_every_package_is_listed_for_the_wheel() -> None:
    """A subpackage missing from pyproject's `packages` would be silently left out of the wheel."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    repo = Path(__file__).resolve().parents[1]
    listed = set(tomllib.loads((repo / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(repo).parts)
        for init in (repo / "iqa_cli").rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found - listed == set(), f"packages missing from pyproject.toml: {sorted(found - listed)}"


@pytest.mark.slow
def test_wheel_carries_the_condition_definitions_without_scores(wheel: Path) -> None:
    """`iqa adapt` reads the packaged definitions of the KADID conditions; the human scores are not shipped."""
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert "iqa_cli/synth/kadid_conditions.csv" in names
        header = zf.read("iqa_cli/synth/kadid_conditions.csv").decode().splitlines()[0]
    assert header == "type_id,type_name,level,parameter,parameter_meaning"
    assert not any(n.endswith("kadid_dev_conditions.csv") for n in names)
