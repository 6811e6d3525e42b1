"""The shipped weights: golden scores, identical-is-best, determinism, monotonicity in strength, wheel layout."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from iqa_cli.api import load_model
from iqa_cli.synth import distortions

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "data" / "golden"
SHIPPED = json.loads((GOLDEN / "scores.json").read_text())


@pytest.fixture(scope="module")
def scorers() -> dict:
    return {name: load_model(name, device="cpu") for name in SHIPPED if name.startswith("causal")}


@pytest.mark.parametrize("model", [m for m in SHIPPED if m.startswith("causal")])
def test_golden_scores_have_not_drifted(model: str, scorers: dict) -> None:
    scorer = scorers[model]
    expected = SHIPPED[model]
    assert scorer.weights_sha256 == expected["weights_sha256"], "weights changed: run tests/data/make_golden.py"
    for name, value in expected.items():
        if name == "weights_sha256":
            continue
        got = scorer.score(GOLDEN / "ref.png", GOLDEN / f"{name}.png")
        assert got == pytest.approx(value, abs=1e-3), name


@pytest.mark.parametrize("model", [m for m in SHIPPED if m.startswith("causal")])
def test_identical_images_score_exactly_100_and_scores_are_deterministic(model: str, scorers: dict) -> None:
    scorer = scorers[model]
    assert scorer.score(GOLDEN / "ref.png", GOLDEN / "ref.png") == 100.0
    a = scorer.score(GOLDEN / "ref.png", GOLDEN / "jpeg.png")
    b = scorer.score(GOLDEN / "ref.png", GOLDEN / "jpeg.png")
    assert a == b and a < 100.0


def _held_out_crop() -> np.ndarray:
    # a Kodak image: the benchmark's held-out set, never seen in training
    img = cv2.imread(str(ROOT / "examples" / "ref" / "parrots.png"))
    assert img is not None
    return np.ascontiguousarray(img[64:256, 96:288, ::-1], dtype=np.float32) / 255.0


@pytest.mark.parametrize("name", distortions.names())
def test_quality_falls_with_strength_for_every_degradation(name: str, scorers: dict) -> None:
    scorer = scorers["causal-iqa"]
    ref = _held_out_crop()
    scores = [scorer.score(ref, distortions.apply(name, ref, s, np.random.default_rng(0))) for s in (0.25, 0.5, 1.0)]
    assert scores[0] > scores[1] > scores[2], (name, scores)
