"""A wheel built from the repository (not editable) carries the shipped weights and scores outside the checkout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_carries_weights_and_scores_outside_the_checkout(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
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
    (wheel,) = wheel_dir.glob("*.whl")
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-2000:]
    assert (target / "iqa_cli" / "shipped" / "causal-iqa.safetensors").is_file()
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
