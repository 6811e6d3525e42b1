"""Regenerate the golden pairs and scores in tests/data/golden (run after the shipped weights change, and say
"Scores changed" in CHANGELOG.md): python tests/data/make_golden.py"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent / "golden"
sys.path.insert(0, str(HERE.parents[2]))

from iqa_cli.api import load_model  # noqa: E402
from iqa_cli.synth import distortions  # noqa: E402

PAIRS = (("jpeg", 0.7), ("gaussian_blur", 0.5), ("white_noise", 0.4), ("desaturate", 0.6))


def main() -> None:
    HERE.mkdir(parents=True, exist_ok=True)
    src = cv2.imread(str(HERE.parents[2] / "examples" / "ref" / "bikes.png"))
    ref = src[100:164, 200:296]  # 96x64 crop of a committed example image
    cv2.imwrite(str(HERE / "ref.png"), ref)
    rgb = ref[..., ::-1].astype(np.float32) / 255.0
    for name, strength in PAIRS:
        out = distortions.apply(name, rgb, strength, np.random.default_rng(3))
        cv2.imwrite(str(HERE / f"{name}.png"), (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)[..., ::-1])
    scores = {}
    for model in ("causal-iqa", "causal-iqa-robust", "ssim", "psnr"):
        try:
            scorer = load_model(model, device="cpu")
        except Exception as exc:  # robust weights may not exist yet
            print(f"skipping {model}: {exc}", file=sys.stderr)
            continue
        scores[model] = {name: scorer.score(HERE / "ref.png", HERE / f"{name}.png") for name, _ in PAIRS}
        scores[model]["weights_sha256"] = scorer.weights_sha256
    (HERE / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
    print(json.dumps(scores, indent=2))


if __name__ == "__main__":
    main()
